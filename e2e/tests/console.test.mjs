// The live console at "/", in a real headless Chromium: the official socket.io-client bundle
// served by realtimed, demo users, the event stream with its offset, rooms and time since
// commit, expanding, copying, filtering and pausing events, chat room join, typing, the demo
// buttons; the connection states as the client sees them (connecting, connected,
// reconnecting n/N, lost, refused, disconnected) through a proxy that cuts the connection; a
// layout without sideways scrolling at 390 px; /favicon.ico; and the switch that turns the
// console off. Screenshots at desktop and phone width go to e2e/artifacts/, and to docs/ with
// REALTIME_UPDATE_SCREENSHOTS=1 (how docs/console-desktop.png and docs/console-phone.png are
// made).
import assert from "node:assert/strict";
import fs from "node:fs";
import path from "node:path";
import { after, before, describe, test } from "node:test";
import { artifactPath, launchBrowser } from "../lib/browser.mjs";
import {
  connect, createFamily, eventually, freePort, repoRoot, startServer, tokenFor, waitForEvent,
} from "../lib/harness.mjs";
import { startSwitch } from "../lib/tcpswitch.mjs";

let browser;
before(async () => (browser = await launchBrowser()));
after(async () => await browser?.close());

const DEMO_CHAT = "00000000-0000-4000-8000-0000000000c1";
const ALEX = "00000000-0000-4000-8000-00000000000a";
const SAM = "00000000-0000-4000-8000-00000000000b";

/** Saves a screenshot to e2e/artifacts/, and to docs/ when asked to. */
async function screenshot(page, name) {
  await page.waitForTimeout(1300); // the new rows' highlight fades
  await page.screenshot({ path: artifactPath(name), fullPage: true });
  if (process.env.REALTIME_UPDATE_SCREENSHOTS === "1") fs.copyFileSync(artifactPath(name), path.join(repoRoot, "docs", name));
}

/** Records every state the status pill takes (data-state), from now on. */
async function recordStates(page) {
  await page.evaluate(() => {
    const el = document.getElementById("status");
    window.__states = [el.dataset.state];
    new MutationObserver(() => window.__states.push(el.dataset.state)).observe(el, { attributes: true, attributeFilter: ["data-state"] });
  });
  return () => page.evaluate(() => window.__states);
}

const status = (page, state) => page.locator(`#status[data-state="${state}"]`);

describe("demo mode", () => {
  let server, context, page;
  const pageErrors = [];
  before(async () => {
    server = await startServer({ env: { REALTIME_DEMO: "true" } });
    context = await browser.newContext({ viewport: { width: 1360, height: 900 }, permissions: ["clipboard-read", "clipboard-write"] });
    page = await context.newPage();
    page.on("pageerror", (err) => pageErrors.push(err.message));
    await page.goto(server.url + "/");
  });
  after(async () => {
    await context?.close();
    await server?.stop();
  });

  test("serves npm's socket.io-client bundle, byte for byte, and a favicon", async () => {
    const served = Buffer.from(await (await fetch(server.url + "/console/vendor/socket.io.min.js")).arrayBuffer());
    const npm = fs.readFileSync(path.join(repoRoot, "e2e/node_modules/socket.io-client/dist/socket.io.min.js"));
    assert.ok(served.equals(npm), "the vendored bundle differs from npm's: run scripts/vendor-socketio.sh");
    assert.equal(await page.evaluate(() => typeof window.io), "function");
    const icon = await fetch(server.url + "/favicon.ico");
    assert.equal(icon.status, 200);
    assert.equal(icon.headers.get("content-type"), "image/x-icon");
  });

  test("pick a demo user, watch events arrive, join the chat, type, send a message", async () => {
    await page.getByRole("button", { name: "Alex (parent)" }).click();
    await status(page, "connected").waitFor({ timeout: 15000 });
    assert.equal(await page.locator("#user").textContent(), ALEX);

    // A database change made by the demo button arrives as an event, with its offset.
    await page.getByRole("button", { name: "Create a task for me" }).click();
    const task = page.locator('#events tr[data-event="task.created"]').first();
    await task.waitFor({ timeout: 15000 });
    await eventually(async () => (await task.locator(".since").textContent()).endsWith(" ms"), 10000, "time since commit");
    assert.equal(await task.locator(".rooms").textContent(), `user:${ALEX}`);
    const since = await task.locator(".since").textContent();
    assert.match(since, /^(<1|\d+) ms$/);
    assert.ok(since.startsWith("<") || parseInt(since, 10) < 10000, `since commit ${since}`);
    const offset = await task.locator(".offset").textContent();
    assert.match(offset, /^\d+$/);
    assert.equal(await task.getAttribute("data-offset"), offset);
    assert.match(await task.locator(".payload").textContent(), /"assignedTo":"00000000-0000-4000-8000-00000000000a"/);

    // An event published from SQL by someone else arrives too, with a later offset.
    await server.pool.query(`SELECT realtime.publish('console.hello', ARRAY[$1], '{}', '{"from":"psql"}')`, [ALEX]);
    const hello = page.locator('#events tr[data-event="console.hello"]');
    await hello.waitFor({ timeout: 15000 });
    assert.ok(Number(await hello.locator(".offset").textContent()) > Number(offset));

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
    assert.deepEqual(pageErrors, [], "no errors in the page");
  });

  test("expand, copy, filter and pause events", async () => {
    // Expand: the whole payload, pretty-printed; copy it; collapse.
    const task = page.locator('#events tr[data-event="task.created"]').first();
    await task.click();
    assert.equal(await task.getAttribute("aria-expanded"), "true");
    const detail = page.locator("#events tr.detail");
    assert.match(await detail.locator("pre").textContent(), /\n {4}"assignedTo": "00000000-0000-4000-8000-00000000000a"/);
    await detail.getByRole("button", { name: "Copy" }).click();
    await detail.getByRole("button", { name: "Copied" }).waitFor({ timeout: 5000 });
    const copied = JSON.parse(await page.evaluate(() => navigator.clipboard.readText()));
    assert.equal(copied.task.assignedTo, ALEX);

    // Filter: only matching events are shown, and counted.
    const total = await page.locator("#events tr.event").count();
    await page.locator("#filter").fill("console.hello");
    await eventually(async () => (await page.locator("#events tr.event:visible").count()) === 1, 5000, "the filter");
    assert.equal(await page.locator("#count").textContent(), `1/${total}`);
    assert.equal(await page.locator("#events tr.detail").isHidden(), true, "the expanded row of a filtered-out event is hidden");
    await page.locator("#filter").fill("");
    assert.equal(await page.locator("#count").textContent(), String(total));

    // Pause: events wait, counted, until resumed.
    await page.getByRole("button", { name: "Pause" }).click();
    await server.pool.query(`SELECT realtime.publish('console.paused', ARRAY[$1], '{}', '{"n":1}')`, [ALEX]);
    await page.getByRole("button", { name: "Resume (1)" }).waitFor({ timeout: 10000 });
    assert.equal(await page.locator('#events tr[data-event="console.paused"]').count(), 0);
    await page.getByRole("button", { name: "Resume (1)" }).click();
    await page.locator('#events tr[data-event="console.paused"]').waitFor({ timeout: 5000 });

    await screenshot(page, "console-desktop.png");
    assert.deepEqual(pageErrors, [], "no errors in the page");
  });
});

describe("at phone width (390 px)", () => {
  let server, page;
  before(async () => {
    server = await startServer({ env: { REALTIME_DEMO: "true" } });
    page = await browser.newPage({ viewport: { width: 390, height: 844 }, deviceScaleFactor: 2, isMobile: true, hasTouch: true });
    await page.goto(server.url + "/");
  });
  after(async () => {
    await page?.close();
    await server?.stop();
  });

  test("nothing scrolls sideways, with events listed and one expanded", async () => {
    await page.getByRole("button", { name: "Sam (parent)" }).click();
    await status(page, "connected").waitFor({ timeout: 15000 });
    await page.getByRole("button", { name: "Create a task for me" }).click();
    const long = JSON.stringify({ note: "x".repeat(600), list: Array.from({ length: 30 }, (_, i) => `item-${i}`) });
    await server.pool.query(`SELECT realtime.publish('console.wide_payload_with_a_long_name', ARRAY[$1], '{}', $2::jsonb)`, [SAM, long]);
    const wide = page.locator('#events tr[data-event="console.wide_payload_with_a_long_name"]');
    await wide.waitFor({ timeout: 15000 });
    await page.locator('#events tr[data-event="task.created"]').waitFor({ timeout: 15000 });
    await wide.click();
    await page.locator("#events tr.detail").waitFor();
    const widths = await page.evaluate(() => ({
      doc: document.documentElement.scrollWidth, body: document.body.scrollWidth, view: window.innerWidth,
    }));
    assert.ok(widths.doc <= widths.view && widths.body <= widths.view, `the page is wider than the screen: ${JSON.stringify(widths)}`);
    await wide.click(); // collapsed again, for a shorter picture
    await screenshot(page, "console-phone.png");
  });
});

describe("connection states, through a proxy that fails", () => {
  let server, proxy, page, alice;
  before(async () => {
    server = await startServer();
    ({ members: [alice] } = await createFamily(server.pool, ["parent"]));
    proxy = await startSwitch(server.port);
    page = await browser.newPage();
    await page.goto(proxy.url + "/");
  });
  after(async () => {
    await page?.close();
    await proxy?.close();
    await server?.stop();
  });

  test("a lost server is reconnecting n/N, never refused, then connected again; then lost", async () => {
    await page.locator("#token").fill(tokenFor(alice.id));
    await page.getByRole("button", { name: "Connect", exact: true }).click();
    await status(page, "connected").waitFor({ timeout: 10000 });
    const firstSid = await page.locator("#sid").textContent();
    const states = await recordStates(page);
    // Cut once the upgrade to websocket is done: socket.io-client 4.8 (engine.io-client 6.6)
    // whose probe websocket closes while it pauses polling keeps polling paused and notices
    // nothing until its ping timeout, 45 s later (docs/protocol.md, "Clients").
    await eventually(async () => (await page.locator("#transport").textContent()) === "websocket", 10000, "the upgrade to websocket");

    // The server goes away: the client retries, and the page says so.
    const dead = await freePort();
    proxy.setTarget(dead);
    proxy.cut();
    await status(page, "reconnecting").waitFor({ timeout: 10000 });
    assert.equal(await page.locator("#sid").textContent(), "—", "the old socket id is gone");
    await eventually(async () => /^reconnecting \d\/5$/.test(await page.locator("#status").textContent()), 10000, "reconnecting n/5");
    assert.notEqual(await page.locator("#message").getAttribute("data-kind"), "error");

    // It comes back: connected, with a new socket id.
    proxy.setTarget(server.port);
    await status(page, "connected").waitFor({ timeout: 15000 });
    const secondSid = await page.locator("#sid").textContent();
    assert.ok(secondSid !== firstSid && secondSid !== "—", `socket id ${secondSid} after ${firstSid}`);

    // It goes away for good: after the last attempt, lost.
    proxy.setTarget(dead);
    proxy.cut();
    await status(page, "lost").waitFor({ timeout: 30000 });
    assert.equal(await page.locator("#message").getAttribute("data-kind"), "error");
    const seen = await states();
    assert.ok(!seen.includes("refused"), `states ${seen}`);
    const changes = seen.filter((st, i) => i === 0 || st !== seen[i - 1]);
    assert.deepEqual(changes, ["connected", "reconnecting", "connected", "reconnecting", "lost"]);
  });

  test("a manual disconnect is not an error", async () => {
    proxy.setTarget(server.port);
    await page.getByRole("button", { name: "Connect", exact: true }).click();
    await status(page, "connected").waitFor({ timeout: 10000 });
    await page.getByRole("button", { name: "Disconnect", exact: true }).click();
    await status(page, "disconnected").waitFor({ timeout: 5000 });
    assert.equal(await page.locator("#message").textContent(), "");
    assert.equal(await page.locator("#sid").textContent(), "—");
    assert.equal(await page.locator("#status").evaluate((el) => el.className), "pill off");
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

  test("a bad token is refused, in red; a pasted token connects and receives events", async () => {
    await page.locator("#token").fill("not-a-token");
    await page.getByRole("button", { name: "Connect", exact: true }).click();
    await status(page, "refused").waitFor({ timeout: 10000 });
    assert.match(await page.locator("#message").textContent(), /Authentication failed.*\(invalid_token\)/);
    assert.equal(await page.locator("#message").getAttribute("data-kind"), "error");

    await page.locator("#token").fill(tokenFor(alice.id));
    await page.locator("#transports").selectOption("websocket");
    await page.getByRole("button", { name: "Connect", exact: true }).click();
    await status(page, "connected").waitFor({ timeout: 10000 });
    assert.equal(await page.locator("#message").textContent(), "");
    assert.equal(await page.locator("#transport").textContent(), "websocket");
    await server.pool.query(`SELECT realtime.publish('console.token', ARRAY[$1], '{}', '{"ok":1}')`, [alice.id]);
    const row = page.locator('#events tr[data-event="console.token"]');
    await row.waitFor({ timeout: 10000 });
    await eventually(async () => (await row.locator(".rooms").textContent()) === `user:${alice.id}`, 10000, "rooms");
  });
});

describe("REALTIME_CONSOLE=false", () => {
  let server;
  before(async () => (server = await startServer({ env: { REALTIME_CONSOLE: "false" } })));
  after(async () => await server?.stop());

  test("no console, no favicon; Socket.IO is served as ever", async () => {
    for (const p of ["/", "/console/console.js", "/console/vendor/socket.io.min.js", "/console/api/settings", "/favicon.ico"]) {
      assert.equal((await fetch(server.url + p)).status, 404, p);
    }
    const socket = await connect(server, tokenFor("someone"), { transports: ["websocket"] });
    socket.close();
  });
});
