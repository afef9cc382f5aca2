// A real browser: headless Chromium loads a page from another origin than realtimed, which
// connects with the official socket.io-client browser bundle (polling, then the websocket
// upgrade), completes an ack round trip (room:join) and receives events published by SQL.
// The page's origin is allowed by REALTIME_CORS_ORIGINS; a page from any other origin is refused.
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { createFamily, eventually, startServer, tokenFor } from "../lib/harness.mjs";
import { createChat, publishToChat } from "../lib/chat.mjs";
import { launchBrowser } from "../lib/browser.mjs";
import { servePage } from "../lib/page-server.mjs";

let browser, allowedPage, otherPage, server, family, alice, chatId;

before(async () => {
  browser = await launchBrowser();
  allowedPage = await servePage();
  otherPage = await servePage();
  server = await startServer({ env: { REALTIME_CORS_ORIGINS: allowedPage.origin } });
  family = await createFamily(server.pool, ["parent"]);
  [alice] = family.members;
  chatId = await createChat(server.pool, family.familyId, [alice.id]);
});
after(async () => {
  await browser?.close();
  await server?.stop();
  await allowedPage?.close();
  await otherPage?.close();
});

async function openPage(origin) {
  const context = await browser.newContext();
  const page = await context.newPage();
  await page.goto(origin + "/");
  assert.notEqual(new URL(page.url()).origin, new URL(server.url).origin, "the page is cross-origin");
  return { page, close: () => context.close() };
}

test("a page from an allowed origin connects by polling, upgrades, acks and receives SQL events", async () => {
  const { page, close } = await openPage(allowedPage.origin);
  try {
    const res = await page.evaluate(([url, token]) => window.rt.connect(url, token), [server.url, tokenFor(alice.id)]);
    assert.equal(res.ok, true, JSON.stringify(res));
    // The session opens over polling, then upgrades (the CONNECT reply may come either way).
    await page.waitForFunction(() => window.rt.socket.io.engine.transport.name === "websocket", null, { timeout: 15000 });
    assert.deepEqual(await page.evaluate(() => window.rt.transports), ["open:polling", "upgrade:websocket"]);

    // Ack round trip: room:join answers through the client's ack callback.
    const ack = await page.evaluate((id) => window.rt.socket.timeout(10000).emitWithAck("room:join", { chatId: id }), chatId);
    assert.deepEqual(ack, { ok: true, room: `chat:${chatId}` });

    // Events published through SQL: a rule (task.created to the assignee) and realtime.publish
    // to the chat room just joined.
    const { rows } = await server.pool.query(
      `INSERT INTO tasks (family_id, name, assignment_type, assigned_to, karma)
       VALUES ($1, 'Browser task', 'member', $2, 3) RETURNING id`,
      [family.familyId, alice.id],
    );
    await publishToChat(server.pool, chatId, "message.created", { chatId, text: "hello browser" });
    const events = await eventually(async () => {
      const evs = await page.evaluate(() => window.rt.events);
      return evs.length >= 2 && evs;
    }, 15000, "two events in the browser");
    const task = events.find((e) => e.event === "task.created");
    assert.equal(task?.args[0].taskId, rows[0].id);
    assert.equal(task.args[0].task.name, "Browser task");
    const msg = events.find((e) => e.event === "message.created");
    assert.deepEqual(msg?.args[0], { chatId, text: "hello browser" });
    assert.equal(await page.evaluate(() => window.rt.socket.io.engine.transport.name), "websocket");
  } finally {
    await close();
  }
});

test("polling with credentials works cross-origin from an allowed origin", async () => {
  const { page, close } = await openPage(allowedPage.origin);
  try {
    const res = await page.evaluate(
      ([url, token]) => window.rt.connect(url, token, { transports: ["polling"], withCredentials: true }),
      [server.url, tokenFor(alice.id)],
    );
    assert.equal(res.ok, true, JSON.stringify(res));
    const ack = await page.evaluate(() => window.rt.socket.timeout(10000).emitWithAck("no:such-command", {}));
    assert.deepEqual(ack, { ok: false, error: "unknown_event" });
  } finally {
    await close();
  }
});

test("a page from an origin that is not allowed is refused on both transports", async () => {
  const { page, close } = await openPage(otherPage.origin);
  try {
    for (const transports of [["polling", "websocket"], ["websocket"]]) {
      const res = await page.evaluate(
        ([url, token, transports]) => window.rt.connect(url, token, { transports }),
        [server.url, tokenFor(alice.id), transports],
      );
      assert.equal(res.ok, false, `${transports}: ${JSON.stringify(res)}`);
    }
    assert.deepEqual(await page.evaluate(() => window.rt.events), []);
    await eventually(
      () => server.logs.filter((l) => l.includes("origin not allowed") && l.includes(`transport=websocket`)).length > 0 &&
        server.logs.some((l) => l.includes("origin not allowed") && l.includes("transport=polling")),
      10000,
      "refusals logged for both transports",
    );
  } finally {
    await close();
  }
});
