// The official Socket.IO Admin UI (npm @socket.io/admin-ui, its real built files served by
// realtimed) in a real headless Chromium, against two nodes on one database: it logs in, lists
// both nodes as servers and the sockets of each, follows sockets that come and go, and its
// disconnect button disconnects a socket on the other node. Node A serves the operators'
// endpoints (and the UI) on its internal address only.
import assert from "node:assert/strict";
import fs from "node:fs";
import path from "node:path";
import { after, before, describe, test } from "node:test";
import { artifactPath, launchBrowser } from "../lib/browser.mjs";
import {
  connect, createDatabase, eventually, freePort, repoRoot, startServer, tokenFor,
} from "../lib/harness.mjs";

const PASSWORD = "e2e admin ui password";
const UI_DIST = path.join(repoRoot, "e2e/node_modules/@socket.io/admin-ui/ui/dist");

describe("Socket.IO Admin UI across two nodes", () => {
  let browser, db, a, b, internal, page;
  const clients = [];
  const pageErrors = [];

  before(async () => {
    browser = await launchBrowser();
    db = await createDatabase();
    const port = await freePort();
    internal = `http://127.0.0.1:${port}`;
    const env = { REALTIME_ADMIN_UI: "true", REALTIME_ADMIN_UI_PASSWORD: PASSWORD };
    a = await startServer({ databaseURL: db.url, env: { ...env, REALTIME_INTERNAL_ADDR: `127.0.0.1:${port}` } });
    b = await startServer({ databaseURL: db.url, env });
  });
  after(async () => {
    for (const c of clients) c.close();
    await page?.close();
    await browser?.close();
    await a?.stop();
    await b?.stop();
    await db?.drop();
  });

  async function client(server, user) {
    const socket = await connect(server, tokenFor(user), { transports: ["websocket"] });
    clients.push(socket);
    return socket;
  }

  test("serves npm's built files byte for byte, on the internal address only", async () => {
    const files = [];
    const walk = (dir) => {
      for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
        const p = path.join(dir, e.name);
        if (e.isDirectory()) walk(p);
        else if (!e.name.endsWith(".map")) files.push(path.relative(UI_DIST, p));
      }
    };
    walk(UI_DIST);
    assert.ok(files.includes("index.html") && files.some((f) => f.startsWith("js/app.")), `files: ${files}`);
    for (const f of files) {
      const r = await fetch(`${internal}/admin-ui/${f}`);
      assert.equal(r.status, 200, f);
      const served = Buffer.from(await r.arrayBuffer());
      assert.ok(served.equals(fs.readFileSync(path.join(UI_DIST, f))), `${f} differs from npm's: run scripts/vendor-admin-ui.sh`);
    }
    // The public address serves neither the UI, nor the metrics, nor the admin namespace.
    assert.equal((await fetch(`${a.url}/admin-ui/`)).status, 404);
    assert.equal((await fetch(`${a.url}/metrics`)).status, 404);
    assert.equal((await fetch(`${internal}/metrics`)).status, 200);
    // The admin namespace is not on the public address either.
    const { io } = await import("socket.io-client");
    const admin = io(a.url + "/admin", { auth: { username: "admin", password: PASSWORD }, reconnection: false, forceNew: true, transports: ["websocket"] });
    const refused = await new Promise((resolve) => {
      admin.once("connect", () => resolve(null));
      admin.once("connect_error", (err) => resolve(err.message));
    });
    admin.close();
    assert.equal(refused, "Invalid namespace");
  });

  test("logs in, lists both servers and the sockets of each, follows changes, disconnects", async () => {
    const onA = [await client(a, "user-a1"), await client(a, "user-a2")];
    const onB = [await client(b, "user-b1")];
    const { rows } = await a.pool.query("SELECT id, addr FROM realtime.nodes ORDER BY id");
    const nodeOf = Object.fromEntries(rows.map((r) => [r.addr, r.id]));
    const nodeA = nodeOf[`127.0.0.1:${a.port}`], nodeB = nodeOf[`127.0.0.1:${b.port}`];
    assert.ok(nodeA && nodeB, `nodes ${JSON.stringify(rows)}`);

    page = await browser.newPage({ viewport: { width: 1400, height: 900 } });
    page.on("pageerror", (err) => pageErrors.push(err.message));
    // The UI's page loads a font and icons from public CDNs; the test machine has no internet.
    await page.route(/^https:\/\/(fonts\.googleapis\.com|cdn\.jsdelivr\.net)\//, (route) => route.abort());
    await page.goto(`${internal}/admin-ui/`);

    // A wrong password: the UI's login form says so.
    await page.getByLabel("Server URL").fill(internal);
    await page.getByLabel("Username").fill("admin");
    await page.getByLabel("Password").fill("wrong");
    await page.getByRole("button", { name: "Connect" }).click();
    await page.getByText("Invalid credentials").waitFor({ timeout: 15000 });
    await page.getByLabel("Password").fill(PASSWORD);
    await page.getByRole("button", { name: "Connect" }).click();
    await page.getByRole("dialog").waitFor({ state: "hidden", timeout: 15000 });

    // Servers: both nodes, healthy.
    await page.goto(`${internal}/admin-ui/#/servers/`);
    for (const id of [nodeA, nodeB]) await page.getByRole("cell", { name: id, exact: true }).waitFor({ timeout: 15000 });

    // Sockets: those of both nodes.
    await page.goto(`${internal}/admin-ui/#/sockets/`);
    for (const s of [...onA, ...onB]) await page.getByRole("cell", { name: s.id, exact: true }).waitFor({ timeout: 15000 });

    // A socket that connects to node B appears; one that leaves node A disappears.
    const late = await client(b, "user-b2");
    await page.getByRole("cell", { name: late.id, exact: true }).waitFor({ timeout: 15000 });
    const gone = onA[1].id;
    onA[1].close();
    await page.getByRole("cell", { name: gone, exact: true }).waitFor({ state: "detached", timeout: 15000 });

    // The disconnect button of a socket on node B: the client is disconnected by the server.
    const disconnected = new Promise((resolve) => late.once("disconnect", resolve));
    await page.getByRole("row").filter({ hasText: late.id }).getByRole("button").click();
    assert.equal(await disconnected, "io server disconnect");

    // The dashboard's counts add up both nodes.
    await page.goto(`${internal}/admin-ui/#/`);
    await eventually(async () => (await page.locator("body").textContent()).includes("Connection and disconnection events"), 15000, "the dashboard");
    await page.screenshot({ path: artifactPath("admin-ui.png"), fullPage: true });
    assert.deepEqual(pageErrors, [], "no errors in the page");
  });
});
