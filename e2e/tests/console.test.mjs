// The live console at "/", in a real headless Chromium: the official socket.io-client bundle
// served by realtimed, demo users, the event stream with rooms and time since commit, chat
// room join, typing, the demo buttons; and the token path outside demo mode.
import assert from "node:assert/strict";
import fs from "node:fs";
import path from "node:path";
import { after, before, describe, test } from "node:test";
import { artifactPath, launchBrowser } from "../lib/browser.mjs";
import {
  connect, createFamily, eventually, repoRoot, startServer, tokenFor, waitForEvent,
} from "../lib/harness.mjs";

let browser;
before(async () => (browser = await launchBrowser()));
after(async () => await browser?.close());

const DEMO_CHAT = "00000000-0000-4000-8000-0000000000c1";
const ALEX = "00000000-0000-4000-8000-00000000000a";
const SAM = "00000000-0000-4000-8000-00000000000b";

describe("demo mode", () => {
  let server, page;
  const pageErrors = [];
  before(async () => {
    server = await startServer({ env: { REALTIME_DEMO: "true" } });
    page = await browser.newPage({ viewport: { width: 1360, height: 900 } });
    page.on("pageerror", (err) => pageErrors.push(err.message));
    await page.goto(server.url + "/");
  });
  after(async () => {
    await page?.close();
    await server?.stop();
  });

  test("serves npm's socket.io-client bundle, byte for byte", async () => {
    const served = Buffer.from(await (await fetch(server.url + "/console/vendor/socket.io.min.js")).arrayBuffer());
    const npm = fs.readFileSync(path.join(repoRoot, "e2e/node_modules/socket.io-client/dist/socket.io.min.js"));
    assert.ok(served.equals(npm), "the vendored bundle differs from npm's: run scripts/vendor-socketio.sh");
    assert.equal(await page.evaluate(() => typeof window.io), "function");
  });

  test("pick a demo user, watch events arrive, join the chat, type, send a message", async () => {
    await page.getByRole("button", { name: "Alex (parent)" }).click();
    await page.locator('#status[data-state="connected"]').waitFor({ timeout: 15000 });
    assert.equal(await page.locator("#user").textContent(), ALEX);

    // A database change made by the demo button arrives as an event.
    await page.getByRole("button", { name: "Create a task for me" }).click();
    const task = page.locator('#events tr[data-event="task.created"]').first();
    await task.waitFor({ timeout: 15000 });
    await eventually(async () => (await task.locator(".since").textContent()).endsWith(" ms"), 10000, "time since commit");
    assert.equal(await task.locator(".rooms").textContent(), `user:${ALEX}`);
    const since = await task.locator(".since").textContent();
    assert.match(since, /^(<1|\d+) ms$/);
    assert.ok(since.startsWith("<") || parseInt(since, 10) < 10000, `since commit ${since}`);
    assert.match(await task.locator(".payload").textContent(), /"assignedTo": "00000000-0000-4000-8000-00000000000a"/);

    // An event published from SQL by someone else arrives too.
    await server.pool.query(`SELECT realtime.publish('console.hello', ARRAY[$1], '{}', '{"from":"psql"}')`, [ALEX]);
    await page.locator('#events tr[data-event="console.hello"]').waitFor({ timeout: 15000 });

    // Join the family chat (room:join with ack).
    assert.equal(await page.locator("#chat").inputValue(), DEMO_CHAT);
    await page.getByRole("button", { name: "Join", exact: true }).click();
    await page.locator('#ack[data-ok="true"]').waitFor({ timeout: 10000 });
    assert.match(await page.locator("#ack").textContent(), new RegExp(`"room":"chat:${DEMO_CHAT}"`));

    // Another member (the official Node client) joins the chat: the page shows them typing,
    // and they see the page's user typing.
    const sam = await connect(server, tokenFor(SAM), { transports: ["websocket"] });
    try {
      const joined = await sam.timeout(5000).emitWithAck("room:join", { chatId: DEMO_CHAT });
      assert.equal(joined.ok, true);
      sam.emit("typing:start", { chatId: DEMO_CHAT });
      await page.getByText("Sam is typing…").waitFor({ timeout: 10000 });
      sam.emit("typing:stop", { chatId: DEMO_CHAT });
      await eventually(async () => (await page.locator("#typing").textContent()) === "", 10000, "typing cleared");

      const alexTyping = waitForEvent(sam, "typing.started", 10000);
      await page.locator("#compose").fill("Dinner is ready");
      assert.deepEqual((await alexTyping).payload, { chatId: DEMO_CHAT, userId: ALEX });
    } finally {
      sam.close();
    }

    // A chat message arrives through the chat room.
    await page.getByRole("button", { name: "Send a message to the family chat" }).click();
    const msg = page.locator('#events tr[data-event="message.new"]').first();
    await msg.waitFor({ timeout: 15000 });
    await eventually(async () => (await msg.locator(".rooms").textContent()) === `chat:${DEMO_CHAT}`, 10000, "the chat room");
    assert.match(await msg.locator(".payload").textContent(), /Dinner is ready/);

    await page.screenshot({ path: artifactPath("console.png"), fullPage: true });
    assert.deepEqual(pageErrors, [], "no errors in the page");
  });
});

describe("without demo mode", () => {
  let server, page, alice;
  before(async () => {
    server = await startServer();
    ({ members: [alice] } = await createFamily(server.pool, ["parent"]));
    page = await browser.newPage();
    await page.goto(server.url + "/");
  });
  after(async () => {
    await page?.close();
    await server?.stop();
  });

  test("no demo users and no demo endpoints", async () => {
    assert.equal(await page.locator("#demo-users").isHidden(), true);
    assert.equal(await page.locator("#demo-panel").isHidden(), true);
    assert.equal((await fetch(server.url + "/demo/family")).status, 404);
    assert.equal((await fetch(server.url + "/demo/task", { method: "POST", body: "{}" })).status, 404);
  });

  test("a bad token shows the connect_error; a pasted token connects and receives events", async () => {
    await page.locator("#token").fill("not-a-token");
    await page.getByRole("button", { name: "Connect", exact: true }).click();
    await page.locator('#status[data-state="refused"]').waitFor({ timeout: 10000 });
    assert.match(await page.locator("#error").textContent(), /Authentication failed.*\(invalid_token\)/);

    await page.locator("#token").fill(tokenFor(alice.id));
    await page.locator("#transports").selectOption("websocket");
    await page.getByRole("button", { name: "Connect", exact: true }).click();
    await page.locator('#status[data-state="connected"]').waitFor({ timeout: 10000 });
    assert.equal(await page.locator("#transport").textContent(), "websocket");
    await server.pool.query(`SELECT realtime.publish('console.token', ARRAY[$1], '{}', '{"ok":1}')`, [alice.id]);
    const row = page.locator('#events tr[data-event="console.token"]');
    await row.waitFor({ timeout: 10000 });
    await eventually(async () => (await row.locator(".rooms").textContent()) === `user:${alice.id}`, 10000, "rooms");
  });
});
