// Reconnect storms (issue 13). Every client of a node comes back at the same moment, with
// socket.io-client's default backoff, while events keep being committed:
//  * kill -9 of a node: its clients (each in its user room and a chat room) reconnect through
//    a TCP switch to the other node; all recover within 30 s with exactly their events in
//    commit order, the other node stays ready throughout, and a client that was there all
//    along gets its room:join acks in under 250 ms (p99) during the storm;
//  * SIGTERM of the only node, restarted on the same port: its clients come back to it and
//    recover the same way.
// STORM_CLIENTS sets the crowd (make test: a few hundred; make test-storm: 5,000).
import assert from "node:assert/strict";
import { test } from "node:test";
import { joinChat } from "../lib/chat.mjs";
import { sleep, startServer, tokenFor } from "../lib/harness.mjs";
import { rand, startWriters } from "../lib/load.mjs";
import { scrape } from "../lib/ops.mjs";
import { connectRecording, outbox } from "../lib/recovery.mjs";
import {
  comebackProfile, connectCrowd, createCrowd, expectCrowd, percentile, pollReady, probeJoinsThread, stormClients, waitAllReconnected,
} from "../lib/storm.mjs";
import { startSwitchThread } from "../lib/tcpswitch.mjs";

const CLIENTS = stormClients(400);
const RECOVER_WITHIN_MS = 30000;
const env = { REALTIME_LOG_LEVEL: "info", REALTIME_HANDSHAKE_RATE: "0", REALTIME_RECOVERY_WINDOW: "2m" };

/** Writers for the crowd: nine events in ten to one member's user room, one to a chat room. */
function crowdWriters(databaseURL, members) {
  const chats = [...new Set(members.map((m) => m.chat))];
  return startWriters(databaseURL, 2, () => (Math.random() < 0.9
    ? { users: [members[rand(0, members.length - 1)].user], rooms: [] }
    : { users: [], rooms: [`chat:${chats[rand(0, chats.length - 1)]}`] }));
}

/** Asserts that every reconnection of every client after since was a recovery. */
function assertRecovered(clients, since) {
  const lost = clients.filter((c) => c.connects.some((x) => x.at >= since && !x.recovered));
  assert.equal(lost.length, 0, `${lost.length} of ${clients.length} clients reconnected without recovering`);
}

async function closeAll(clients) {
  for (const c of clients) c.socket.close();
}

test(`kill -9 under load: ${CLIENTS} clients recover on the other node, which stays ready and quick`, async () => {
  const a = await startServer({ env });
  const b = await startServer({ env, databaseURL: a.databaseURL });
  const lb = await startSwitchThread(a.port);
  let clients = [];
  let writers;
  let survivor;
  let joins;
  try {
    const members = await createCrowd(a.pool, CLIENTS + 1);
    const mine = members.pop();
    const began = Date.now();
    clients = await connectCrowd(lb.url, members);
    console.log(`storm: ${clients.length} clients connected and joined in ${Date.now() - began} ms`);
    survivor = await connectRecording(b.url, tokenFor(mine.user), { transports: ["websocket"] });
    await joinChat(survivor.socket, mine.chat);
    // Another client of the same user on B measures room:join from a thread of its own.
    joins = await probeJoinsThread(b.url, tokenFor(mine.user), mine.chat);

    writers = crowdWriters(a.databaseURL, members);
    await sleep(2000);
    const ready = pollReady(b);
    await sleep(1000);

    await lb.setTarget(b.port);
    const killed = Date.now();
    a.child.kill("SIGKILL");
    const took = await waitAllReconnected(clients, killed, RECOVER_WITHIN_MS + 30000);
    await sleep(1000);
    const [readySamples, joinSamples] = await Promise.all([ready.stop(), joins.stop()]);
    joins = null;
    const stats = await writers.stop();
    writers = null;

    const storm = joinSamples.filter((s) => s.at >= killed && s.at <= killed + took);
    const p99 = percentile(storm.map((s) => s.ms), 99);
    const notReady = readySamples.filter((s) => s.status !== 200);
    const m = await scrape(b);
    console.log(`storm: kill -9: ${clients.length} clients back in ${took} ms ` +
      `(${Math.round(clients.length / (took / 1000))}/s, client backoff included); ` +
      `B's /readyz ${readySamples.length - notReady.length}/${readySamples.length} 200; ` +
      `survivor's room:join during the storm: ${storm.length} joins, p50 ${percentile(storm.map((s) => s.ms), 50).toFixed(1)} ms, ` +
      `p99 ${p99.toFixed(1)} ms, max ${Math.max(...storm.map((s) => s.ms)).toFixed(1)} ms; ` +
      `B recovered ${m['realtimed_recoveries_total{result="recovered"}']}, ` +
      `overloaded ${m['realtimed_recoveries_total{result="overloaded"}']}, retry later ${m['realtimed_recoveries_total{result="retry_later"}']}; ` +
      `${stats.committed} transactions committed`);
    console.log(`storm: kill -9: ${comebackProfile(clients, killed)}`);

    assert.ok(took <= RECOVER_WITHIN_MS, `the clients took ${took} ms to come back (limit ${RECOVER_WITHIN_MS})`);
    assertRecovered(clients, killed);
    assert.equal(notReady.length, 0, `B's /readyz answered ${JSON.stringify(notReady.slice(0, 5))}`);
    assert.ok(storm.length >= 5, `only ${storm.length} joins during the storm`);
    assert.ok(storm.every((s) => s.ok), `a join failed: ${JSON.stringify(storm.find((s) => !s.ok))}`);
    assert.ok(p99 < 250, `room:join p99 ${p99.toFixed(1)} ms during the storm (limit 250)`);
    const events = await expectCrowd([...clients, Object.assign(survivor, { user: mine.user, rooms: [] })],
      await outbox(b.pool));
    console.log(`storm: kill -9: ${events} deliveries checked, exactly once and in commit order`);
  } finally {
    await writers?.stop();
    await joins?.terminate();
    await closeAll(clients);
    survivor?.socket.close();
    await lb.close();
    await b.stop();
    await a.stop("SIGKILL"); // created the database: dropped last
  }
});

test(`SIGTERM and restart of the only node: ${CLIENTS} clients come back to it and recover`, async () => {
  let node = await startServer({ env });
  const first = node;
  let clients = [];
  let writers;
  try {
    const members = await createCrowd(node.pool, CLIENTS);
    clients = await connectCrowd(node.url, members);
    writers = crowdWriters(node.databaseURL, members);
    await sleep(2000);

    const stopped = Date.now();
    node.child.kill("SIGTERM");
    const { code } = await node.exited;
    assert.equal(code, 0, "clean exit");
    const down = Date.now() - stopped;
    node = await startServer({ env, databaseURL: first.databaseURL, port: first.port });
    const readyAfter = Date.now() - stopped - down;
    const took = await waitAllReconnected(clients, stopped, RECOVER_WITHIN_MS + 30000);
    await sleep(1000);
    const stats = await writers.stop();
    writers = null;
    console.log(`storm: SIGTERM: node down after ${down} ms, restarted node ready ${readyAfter} ms later; ` +
      `${clients.length} clients back ${took} ms after the SIGTERM; ${stats.committed} transactions committed`);
    console.log(`storm: SIGTERM: ${comebackProfile(clients, stopped)}`);

    assert.ok(took <= RECOVER_WITHIN_MS, `the clients took ${took} ms to come back (limit ${RECOVER_WITHIN_MS})`);
    assertRecovered(clients, stopped);
    const events = await expectCrowd(clients, await outbox(node.pool));
    console.log(`storm: SIGTERM: ${events} deliveries checked, exactly once and in commit order`);
  } finally {
    await writers?.stop();
    await closeAll(clients);
    if (node !== first) await node.stop();
    await first.stop(); // created the database: dropped last
  }
});
