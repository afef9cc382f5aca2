// Graceful shutdown: on SIGTERM a node stops accepting, closes its sockets so that clients
// reconnect (here through a load balancer, to the other node), and exits within its deadline
// even when a client never comes back to collect its close.
import assert from "node:assert/strict";
import { test } from "node:test";
import { io } from "socket.io-client";
import { createFamily, eventually, startServer, tokenFor, waitForEvent } from "../lib/harness.mjs";
import { scrape } from "../lib/ops.mjs";
import { startProxy } from "../lib/proxy.mjs";

const DEADLINE_S = 4;

/** Connects through url with reconnection on; resolves once connected. */
function client(url, token, transports) {
  const socket = io(url, {
    auth: { token }, transports, forceNew: true,
    reconnection: true, reconnectionDelay: 100, reconnectionDelayMax: 500,
  });
  socket.reasons = [];
  socket.on("disconnect", (reason) => socket.reasons.push(reason));
  return new Promise((resolve, reject) => {
    socket.once("connect", () => resolve(socket));
    socket.once("connect_error", reject);
  });
}

/** A polling client that completes the handshake and CONNECT, then never polls again. */
async function stuckPollingClient(server, token) {
  const base = `${server.url}/socket.io/?EIO=4&transport=polling`;
  const open = await (await fetch(base)).text();
  const { sid } = JSON.parse(open.slice(1));
  const r = await fetch(`${base}&sid=${sid}`, { method: "POST", body: `40${JSON.stringify({ token })}` });
  assert.equal(r.status, 200);
  const reply = await (await fetch(`${base}&sid=${sid}`)).text();
  assert.match(reply, /^40\{"sid"/, "CONNECT accepted");
  return sid;
}

test("SIGTERM: clients see a transport close, reconnect to another node, the process exits in time", async () => {
  const a = await startServer({ env: { REALTIME_SHUTDOWN_TIMEOUT: `${DEADLINE_S}s` } });
  const b = await startServer({ databaseURL: a.databaseURL });
  const lb = await startProxy([a.port, b.port]);
  const sockets = [];
  try {
    const { members: [alice] } = await createFamily(a.pool, ["parent"]);
    const token = tokenFor(alice.id);
    sockets.push(await client(lb.url, token, ["websocket"]), await client(lb.url, token, ["polling"]));
    await stuckPollingClient(a, token);
    const onA = await scrape(a);
    assert.equal(onA['realtimed_connections{transport="websocket"}'], 1, "the websocket client is on node a");
    assert.equal(onA['realtimed_connections{transport="polling"}'], 2, "the polling clients are on node a");

    const began = Date.now();
    a.child.kill("SIGTERM");
    const { code } = await a.exited;
    const elapsed = (Date.now() - began) / 1000;
    assert.equal(code, 0, "clean exit");
    assert.ok(elapsed < DEADLINE_S + 2, `exited after ${elapsed}s, deadline ${DEADLINE_S}s`);
    assert.ok(a.logs.some((l) => l.includes("shut down")), "shutdown logged");

    for (const s of sockets) assert.deepEqual(s.reasons, ["transport close"], "a transport close, so the client reconnects");
    await eventually(() => sockets.every((s) => s.connected), 15000, "both clients reconnected");
    const onB = await eventually(async () => {
      const m = await scrape(b);
      return m['realtimed_connections{transport="websocket"}'] === 1 && m['realtimed_connections{transport="polling"}'] === 1 ? m : null;
    }, 10000, "both clients on node b");
    assert.ok(onB);
    const got = sockets.map((s) => waitForEvent(s, "after.failover", 10000));
    await b.pool.query(`SELECT realtime.publish('after.failover', ARRAY[$1], '{}', '{"ok":true}')`, [alice.id]);
    for (const { payload } of await Promise.all(got)) assert.deepEqual(payload, { ok: true });
  } finally {
    sockets.forEach((s) => s.close());
    await lb.close();
    await b.stop();
    await a.stop();
  }
});

test("SIGTERM with no clients exits at once", async () => {
  const s = await startServer({ env: { REALTIME_SHUTDOWN_TIMEOUT: "30s" } });
  const began = Date.now();
  const { code } = await s.stop("SIGTERM");
  assert.equal(code, 0);
  assert.ok(Date.now() - began < 5000, "no waiting for the deadline when nothing is left");
});
