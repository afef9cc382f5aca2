// Fleet mode (issue 17): 8 realtimed nodes share one NATS server (REALTIME_BUS) and one
// database; thousands of clients are spread across them, in personal and chat rooms. Each node
// must receive only the events of its own sockets' rooms (its share of the stream follows from
// the clients it holds, far from 100%), and every client must get exactly its events, once
// each, in commit order. FLEET_CLIENTS, FLEET_NODES and FLEET_SECONDS size it (make test-fleet:
// a bigger run).
import assert from "node:assert/strict";
import { test } from "node:test";
import { joinChat } from "../lib/chat.mjs";
import { sleep, tokenFor } from "../lib/harness.mjs";
import { rand, startWriters } from "../lib/load.mjs";
import { addMembers, createPopulation, expectAllExactly, metricsOf, startFleet, startNats } from "../lib/fleet.mjs";
import { addressedTo, connectRecording, outbox } from "../lib/recovery.mjs";

const CLIENTS = Number(process.env.FLEET_CLIENTS ?? 2000);
const NODES = Number(process.env.FLEET_NODES ?? 8);
const SECONDS = Number(process.env.FLEET_SECONDS ?? 6);
const CHATS_PER_NODE = 4;
const CHAT_MEMBERS = 8;

test(`fleet: ${NODES} nodes, one NATS, ${CLIENTS} clients: each node gets its share, each client its events exactly once in order`, { timeout: 900000 }, async () => {
  const nats = await startNats();
  const fleet = await startFleet(NODES, () => nats.url);
  const clients = [];
  let writers;
  try {
    const { users, chats } = await createPopulation(fleet.pool, CLIENTS, NODES * CHATS_PER_NODE);
    // Client i is user i on node i % NODES; chat c's members are clients of node c % NODES.
    const pairs = [];
    const chatsOf = new Map();
    for (const [c, chat] of chats.entries()) {
      const node = c % NODES;
      for (let k = 0; k < CHAT_MEMBERS; k++) {
        const i = node + NODES * ((Math.floor(c / NODES) * CHAT_MEMBERS + k) % Math.floor(CLIENTS / NODES));
        if (i >= CLIENTS) continue;
        pairs.push([chat, users[i]]);
        chatsOf.set(i, [...(chatsOf.get(i) ?? []), chat]);
      }
    }
    await addMembers(fleet.pool, pairs);
    const started = Date.now();
    for (let i = 0; i < CLIENTS; i += 100) {
      const batch = await Promise.all(Array.from({ length: Math.min(100, CLIENTS - i) }, async (_, k) => {
        const idx = i + k;
        const node = fleet.nodes[idx % NODES];
        const c = await connectRecording(node.url, tokenFor(users[idx]), { transports: ["websocket"] });
        c.user = users[idx];
        c.node = idx % NODES;
        c.rooms = [];
        for (const chat of chatsOf.get(idx) ?? []) {
          await joinChat(c.socket, chat);
          c.rooms.push(`chat:${chat}`);
        }
        return c;
      }));
      clients.push(...batch);
    }
    console.log(`fleet: ${CLIENTS} clients connected to ${NODES} nodes in ${Date.now() - started}ms`);

    writers = startWriters(fleet.databaseURL, 8, () =>
      Math.random() < 0.7
        ? { users: Array.from({ length: rand(1, 3) }, () => users[rand(0, users.length - 1)]), rooms: [] }
        : { users: [], rooms: [`chat:${chats[rand(0, chats.length - 1)]}`] },
    );
    await sleep(SECONDS * 1000);
    const stats = await writers.stop();
    writers = null;
    const events = (await outbox(fleet.pool)).filter((e) => e.event === "load");
    assert.ok(events.length > 200, `only ${events.length} events committed`);

    for (const c of clients) {
      c.want = addressedTo(events, c.user, c.rooms);
      c.label = `client of user ${c.user} on node ${c.node}`;
    }
    await expectAllExactly(clients, { only: (e) => e.event === "load" });
    for (const c of clients) assert.equal(c.connects.length, 1, `${c.label} reconnected`);
    let perClient = 0;
    for (const c of clients) perClient += c.want.length;
    console.log(`fleet: ${events.length} events in ${stats.committed} transactions, ${perClient} deliveries to ${CLIENTS} clients, all exactly once in commit order`);

    for (const [n, node] of fleet.nodes.entries()) {
      const mine = new Set();
      for (const c of clients.filter((x) => x.node === n)) for (const p of c.want) mine.add(p);
      const m = await metricsOf(node);
      const delivered = m['realtimed_bus_events_delivered_total{source="nats"}'] + m['realtimed_bus_events_delivered_total{source="postgres"}'];
      const received = m.realtimed_bus_messages_received_total;
      console.log(`fleet: node ${n}: ${clients.filter((x) => x.node === n).length} clients, ${m.realtimed_bus_subscriptions} subscriptions, ` +
        `received ${received} messages, delivered ${delivered} of ${events.length} stream events ` +
        `(${((100 * delivered) / events.length).toFixed(1)}%; its clients' events: ${mine.size}), ` +
        `duplicates ${m.realtimed_bus_duplicates_total}, catch-ups ${m.realtimed_bus_catchups_total}`);
      assert.equal(delivered, mine.size, `node ${n} delivered ${delivered} events, its clients' rooms had ${mine.size}`);
      assert.ok(delivered < 0.6 * events.length, `node ${n} delivered ${delivered} of ${events.length} events: not routed by interest`);
    }
  } finally {
    await writers?.stop();
    for (const c of clients) c.socket.close();
    await fleet.stop();
    await nats.stop();
  }
});
