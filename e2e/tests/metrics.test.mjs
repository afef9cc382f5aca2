// Prometheus /metrics: the values change as connections come and go and events flow.
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { connect, createFamily, eventually, startServer, tokenFor, waitForEvent } from "../lib/harness.mjs";
import { scrape } from "../lib/ops.mjs";

let server, family, alice;

before(async () => {
  server = await startServer();
  family = await createFamily(server.pool, ["parent"]);
  [alice] = family.members;
});
after(async () => {
  await server?.stop();
});

test("connections, rooms, events, latency, auth failures, disconnects and the listener", async () => {
  const before = await scrape(server);
  assert.equal(before['realtimed_connections{transport="websocket"}'], 0);
  assert.equal(before['realtimed_connections{transport="polling"}'], 0);
  assert.equal(before["realtimed_listener_connected"], 1);
  assert.equal(before["realtimed_database_up"], 1);
  assert.ok("realtimed_notification_queue_usage" in before, "NOTIFY queue usage is exported");
  assert.ok(before["go_goroutines"] > 0, "Go runtime metrics are exported");
  assert.ok(before["process_resident_memory_bytes"] > 0, "process metrics are exported");

  const ws = await connect(server, tokenFor(alice.id), { transports: ["websocket"] });
  const poll = await connect(server, tokenFor(alice.id), { transports: ["polling"] });
  try {
    const m = await scrape(server);
    assert.equal(m['realtimed_connections{transport="websocket"}'], 1);
    assert.equal(m['realtimed_connections{transport="polling"}'], 1);
    assert.equal(m['realtimed_rooms{kind="user"}'], 1, "one user room");
    assert.equal(m['realtimed_room_memberships{kind="user"}'], 2, "two sockets in it");

    const got = [waitForEvent(ws, "metrics.test"), waitForEvent(poll, "metrics.test")];
    await server.pool.query(`SELECT realtime.publish('metrics.test', ARRAY[$1], '{}', '{"n":1}')`, [alice.id]);
    await Promise.all(got);
    const after = await eventually(async () => {
      const a = await scrape(server);
      // The listener records its position just after handing the event on, so it may trail
      // the socket writes by a moment.
      return a["realtimed_delivery_latency_seconds_count"] >= 2 && a["realtimed_listener_position"] >= 1 ? a : null;
    }, 10000, "two latency observations and the listener's position");
    assert.equal(after['realtimed_events_received_total{event="metrics.test"}'], 1);
    assert.equal(after['realtimed_events_delivered_total{event="metrics.test"}'], 2);
    assert.equal(after["realtimed_delivery_latency_seconds_count"], 2, "one observation per socket write");
    assert.ok(after["realtimed_delivery_latency_seconds_sum"] > 0);
    assert.ok(after["realtimed_delivery_latency_seconds_sum"] < 20, "latency is in seconds, commit to write");
    assert.equal(after["realtimed_outbox_head_position"], after["realtimed_listener_position"]);
    assert.equal(after["realtimed_listener_lag_events"], 0);
    assert.equal(after["realtimed_listener_lag_seconds"], 0);
  } finally {
    ws.close();
    poll.close();
  }

  const refused = await connect(server, "not-a-token").catch((e) => e);
  assert.equal(refused.data?.code, "invalid_token");
  const final = await eventually(async () => {
    const f = await scrape(server);
    return f['realtimed_connections{transport="websocket"}'] === 0 &&
      f['realtimed_connections{transport="polling"}'] === 0 ? f : null;
  }, 10000, "connections back to zero");
  assert.equal(final['realtimed_auth_failures_total{reason="invalid_token"}'], 1);
  assert.equal(final['realtimed_auth_failures_total{reason="token_expired"}'], 0, "known reasons start at zero");
  assert.equal(final['realtimed_rooms{kind="user"}'], 0);
  assert.ok(final['realtimed_disconnects_total{reason="client namespace disconnect"}'] +
    final['realtimed_disconnects_total{reason="transport close"}'] >= 2, "both sockets counted as they left");
  assert.equal(final['realtimed_disconnects_total{reason="slow consumer"}'], 0);
});

test("a client that does not read is disconnected as a slow consumer and counted", async () => {
  const s = await startServer({ databaseURL: server.databaseURL, env: { REALTIME_SEND_QUEUE_BYTES: "1000000" } });
  try {
    // A websocket client whose process stops reading: pause the underlying TCP socket.
    const sock = await connect(s, tokenFor(alice.id), { transports: ["websocket"] });
    sock.io.engine.transport.ws._socket.pause();
    const big = "x".repeat(100000);
    for (let i = 0; i < 80; i++) {
      await s.pool.query(`SELECT realtime.publish('metrics.big', ARRAY[$1], '{}', jsonb_build_object('b', $2::text))`, [alice.id, big]);
    }
    await eventually(async () => (await scrape(s))['realtimed_disconnects_total{reason="slow consumer"}'] === 1,
      20000, "a slow-consumer disconnect");
    sock.close();
  } finally {
    await s.stop();
  }
});
