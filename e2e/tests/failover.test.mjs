// The failover test (issue 6, "Done when"): two nodes on one database; clients reach the first
// through a proxy (a load balancer), others the second directly. Under load, the first node is
// killed with SIGKILL and the proxy sends new connections to the second: the first node's
// clients reconnect there, recover (socket.recovered === true), and every client ends with
// exactly the events published to it, once each, in commit order. With the wal source
// (REALTIME_E2E_SOURCE=wal) the first node is the one reading the replication slot: the second
// must take the slot over.
import assert from "node:assert/strict";
import { test } from "node:test";
import { createChat, joinChat } from "../lib/chat.mjs";
import { createFamily, eventSource, eventually, sleep, startServer, tokenFor } from "../lib/harness.mjs";
import { rand, slotReader, startWriters } from "../lib/load.mjs";
import { startSwitch } from "../lib/tcpswitch.mjs";
import { addressedTo, connectRecording, expectExactly, outbox } from "../lib/recovery.mjs";
import { scrape } from "../lib/ops.mjs";

test("kill -9 of a node under load: its clients recover on the other node, nothing lost or repeated", async () => {
  const env = { REALTIME_LOG_LEVEL: "info" };
  const first = await startServer({ env });
  const wal = eventSource() === "wal";
  // The first node reads the slot before the second starts (and cannot take it).
  const reader = wal ? await eventually(() => slotReader(first.pool), 20000, "the first node reading the slot") : null;
  const second = await startServer({ env, databaseURL: first.databaseURL });
  const proxy = await startSwitch(first.port);
  const clients = [];
  let writers;
  try {
    const family = await createFamily(first.pool, ["parent", "parent", "child", "child"]);
    const users = family.members.map((m) => m.id);
    const chat = await createChat(first.pool, family.familyId, users.slice(1), "family chat");
    for (const [i, user] of users.entries()) {
      for (const [via, transports] of [[proxy, ["websocket"]], [proxy, ["polling", "websocket"]], [second, ["websocket"]]]) {
        const c = await connectRecording(via.url, tokenFor(user), { transports });
        c.user = user;
        c.rooms = [];
        if (i > 0) {
          await joinChat(c.socket, chat);
          c.rooms.push(`chat:${chat}`);
        }
        c.onFirst = via === proxy;
        c.label = `client ${clients.length} (user ${i}, ${via === proxy ? "first node" : "second node"}, ${transports.join("+")})`;
        clients.push(c);
      }
    }
    writers = startWriters(first.databaseURL, 8, () =>
      Math.random() < 0.75 ? { users: [users[rand(0, users.length - 1)]], rooms: [] } : { users: [], rooms: [`chat:${chat}`] },
    );
    await sleep(2000);
    if (wal) {
      // The slot's reader delivers ahead of its appends (REALTIME_WAL_AHEAD, on by default): its
      // clients hold positions the stream may not have yet when it dies.
      const ahead = (await scrape(first))["realtimed_wal_events_ahead_total"];
      assert.ok(ahead > 0, `the reading node delivered ${ahead} events ahead`);
    }
    proxy.setTarget(second.port);
    const killed = Date.now();
    first.child.kill("SIGKILL");
    const tookOver = wal
      ? eventually(async () => ((await slotReader(second.pool)) ?? reader) !== reader, 30000, "the second node reading the slot")
          .then(() => Date.now() - killed)
      : null;
    await first.exited;
    await sleep(3000);
    const takeover = await tookOver;
    const stats = await writers.stop();
    writers = null;

    await eventually(() => clients.every((c) => c.socket.connected), 30000, "every client connected again");
    const events = await outbox(second.pool);
    assert.ok(stats.committed > 50, `only ${stats.committed} transactions committed`);
    for (const c of clients) {
      await expectExactly(c, addressedTo(events, c.user, c.rooms, (e) => e.event === "load"), {
        only: (e) => e.event === "load", label: c.label, ms: 60000,
      });
      if (c.onFirst) {
        assert.ok(c.connects.length >= 2, `${c.label} did not reconnect`);
      }
      assert.ok(c.connects.slice(1).every((x) => x.recovered), `${c.label}: a reconnection was not a recovery`);
    }
    console.log(`failover (${eventSource()}): ${events.length} events in ${stats.committed} transactions, ` +
      (wal ? `the second node read the slot ${takeover} ms after the kill, ` : "") +
      `${clients.filter((c) => c.onFirst).length} clients moved to the second node, ${clients.length} clients`);
  } finally {
    await writers?.stop();
    for (const c of clients) c.socket.close();
    await proxy.close();
    await second.stop();
    await first.stop(); // created the database: dropped last
  }
});
