// Connection-state recovery with the official socket.io-client (>= 4.6): a client that loses its
// connection comes back with its pid and offset and gets socket.recovered === true and every
// event it missed, once, in commit order, from any node, within the window.
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { addMember, createChat, joinChat, removeMember } from "../lib/chat.mjs";
import { createFamily, eventually, sleep, startServer, tokenFor } from "../lib/harness.mjs";
import pg from "pg";
import { slotReader } from "../lib/load.mjs";
import { startSwitch } from "../lib/tcpswitch.mjs";
import { STREAM_ORDER_LOCK, addressedTo, connectRecording, dropConnection, expectExactly, outbox, publish, streamSynced } from "../lib/recovery.mjs";

let server, family, alice, bob;

before(async () => {
  server = await startServer();
  family = await createFamily(server.pool, ["parent", "child"]);
  [alice, bob] = family.members;
});
after(async () => {
  await server?.stop();
});

/** Drops the connection of a client whose reconnection is off, and waits for the drop. */
async function drop(client) {
  dropConnection(client);
  await eventually(() => !client.socket.connected, 5000, "the disconnection");
}

/** Reconnects a client whose reconnection is off; resolves with its new connection. */
async function reconnect(client) {
  const n = client.connects.length;
  client.socket.connect();
  await eventually(() => client.connects.length > n, 10000, "the reconnection");
  return client.connects[client.connects.length - 1];
}

const named = (name) => (e) => e.event === name;

/** Waits until the node's listener has handed over every event committed so far. */
async function listenerPassed(node) {
  await streamSynced(node.pool);
  const { rows } = await node.pool.query("SELECT coalesce(max(pos), 0)::int AS head FROM realtime.events");
  await eventually(async () => (await (await fetch(node.url + "/readyz")).json()).position >= rows[0].head, 10000,
    "the listener to pass the head of the stream");
}

/** Every event named name addressed to userId (or rooms), in commit order. */
async function expected(name, userId, rooms = []) {
  return addressedTo(await outbox(server.pool), userId, rooms, named(name));
}

describe("recovery after a lost connection", () => {
  for (const transports of [["websocket"], ["polling"], ["polling", "websocket"]]) {
    test(`over ${transports.join(" then ")}: the missed events arrive, socket.recovered === true`, async () => {
      const name = `missed.${transports.join("_")}`;
      const c = await connectRecording(server.url, tokenFor(alice.id), { reconnection: false, transports });
      try {
        assert.equal(c.socket.recovered, false, "a first connection is not a recovery");
        await publish(server.pool, name, [alice.id], [], { n: 1 });
        await eventually(() => c.events.length === 1, 5000, "the live event");
        await drop(c);
        for (let n = 2; n <= 4; n++) await publish(server.pool, name, [alice.id], [], { n });
        await publish(server.pool, name, [bob.id], [], { n: "for bob" });
        const conn = await reconnect(c);
        assert.equal(conn.recovered, true, "socket.recovered after the reconnection");
        await publish(server.pool, name, [alice.id], [], { n: 5 });
        await expectExactly(c, await expected(name, alice.id), { only: named(name) });
        assert.deepEqual(c.events.map((e) => e.payload.n), [1, 2, 3, 4, 5]);
      } finally {
        c.socket.close();
      }
    });
  }

  test("a client that received no event yet (no offset) still gets what it missed", async () => {
    const name = "missed.no.offset";
    const c = await connectRecording(server.url, tokenFor(alice.id), { reconnection: false, transports: ["websocket"] });
    try {
      await drop(c);
      await publish(server.pool, name, [alice.id], [], { n: 1 });
      await publish(server.pool, name, [alice.id], [], { n: 2 });
      assert.equal((await reconnect(c)).recovered, true);
      await expectExactly(c, await expected(name, alice.id), { only: named(name) });
    } finally {
      c.socket.close();
    }
  });

  test("chat rooms come back, but only those the user is still a member of", async () => {
    const name = "missed.chat";
    const kept = await createChat(server.pool, family.familyId, [alice.id, bob.id], "kept");
    const lost = await createChat(server.pool, family.familyId, [alice.id, bob.id], "lost");
    const c = await connectRecording(server.url, tokenFor(alice.id), { reconnection: false, transports: ["websocket"] });
    try {
      await joinChat(c.socket, kept);
      await joinChat(c.socket, lost);
      await drop(c);
      await removeMember(server.pool, lost, alice.id);
      await publish(server.pool, name, [], [`chat:${kept}`], { n: "kept while away" });
      await publish(server.pool, name, [], [`chat:${lost}`], { n: "lost while away" });
      await publish(server.pool, name, [alice.id], [], { n: "user while away" });
      assert.equal((await reconnect(c)).recovered, true);
      await publish(server.pool, name, [], [`chat:${lost}`], { n: "lost live" });
      await publish(server.pool, name, [], [`chat:${kept}`], { n: "kept live" });
      await expectExactly(c, await expected(name, alice.id, [`chat:${kept}`]), { only: named(name) });
      assert.deepEqual(c.events.filter(named(name)).map((e) => e.payload.n), ["kept while away", "user while away", "kept live"]);
    } finally {
      c.socket.close();
      await addMember(server.pool, lost, alice.id);
    }
  });

  test("the token is checked again: another user's token does not resume the session, a bad one is refused", async () => {
    const name = "missed.token";
    let token = tokenFor(alice.id);
    const c = await connectRecording(server.url, null, {
      reconnection: false, transports: ["websocket"], auth: (cb) => cb({ token }),
    });
    try {
      await drop(c);
      await publish(server.pool, name, [alice.id], [], { n: "for alice" });
      token = "not a token";
      c.socket.connect();
      await eventually(() => c.errors.length > 0, 5000, "connect_error");
      assert.match(c.errors[0], /Authentication failed/);
      token = tokenFor(bob.id);
      c.socket.connect();
      await eventually(() => c.connects.length === 2, 10000, "the connection as bob");
      assert.equal(c.connects[1].recovered, false, "bob does not resume alice's session");
      await publish(server.pool, name, [bob.id], [], { n: "for bob" });
      await expectExactly(c, await expected(name, bob.id), { only: named(name) });
    } finally {
      c.socket.close();
    }
  });

  test("an explicit disconnect ends the session: connecting again is not a recovery", async () => {
    const c = await connectRecording(server.url, tokenFor(alice.id), { reconnection: false, transports: ["websocket"] });
    try {
      const pid = c.socket._pid; // the client keeps it, and sends it again on connect()
      c.socket.disconnect();
      // (A connect() racing the disconnect on another connection could still find the session.)
      await eventually(async () => (await server.pool.query("SELECT 1 FROM realtime.sessions WHERE pid = $1", [pid])).rowCount === 0,
        5000, "the session to end");
      await publish(server.pool, "missed.after.disconnect", [alice.id], [], {});
      await listenerPassed(server); // else a new session could still get it live
      const conn = await reconnect(c);
      assert.equal(conn.recovered, false, `pid ${pid} recovered; new pid ${c.socket._pid}; sessions ` +
        JSON.stringify((await server.pool.query("SELECT pid, sid, disconnected_at FROM realtime.sessions WHERE pid = $1", [pid])).rows));
      await sleep(300);
      assert.equal(c.events.filter(named("missed.after.disconnect")).length, 0);
    } finally {
      c.socket.close();
    }
  });
});

test("recovery works on another node of the same database", async () => {
  const name = "missed.other.node";
  const second = await startServer({ databaseURL: server.databaseURL });
  const proxy = await startSwitch(server.port);
  const c = await connectRecording(proxy.url, tokenFor(alice.id), { reconnection: false, transports: ["websocket"] });
  try {
    await publish(server.pool, name, [alice.id], [], { n: 1 });
    await eventually(() => c.events.length === 1, 5000, "the live event");
    proxy.setTarget(second.port);
    await drop(c);
    await publish(server.pool, name, [alice.id], [], { n: 2 });
    await publish(server.pool, name, [alice.id], [], { n: 3 });
    assert.equal((await reconnect(c)).recovered, true, "recovered on the second node");
    await publish(server.pool, name, [alice.id], [], { n: 4 });
    await expectExactly(c, await expected(name, alice.id), { only: named(name) });
    assert.ok(second.logs.some((l) => l.includes("resuming a session")), "the second node resumed it");
  } finally {
    c.socket.close();
    await proxy.close();
    await second.stop();
  }
});

test("wal source: a client whose last event was delivered ahead of its append resumes on another node in the same handshake", async () => {
  // The node reading the slot hands events to its clients before appending them to the stream
  // (docs/delivery.md, "Delivering ahead"). Its client's offset can be ahead of the stream when
  // it reconnects elsewhere: the restore waits for the stream instead of closing the connection.
  // Both nodes use the wal source whatever REALTIME_E2E_SOURCE says.
  const env = { REALTIME_SOURCE: "wal" };
  const first = await startServer({ env });
  const name = "ahead.other.node";
  let second, proxy, c, lock;
  try {
    await eventually(() => slotReader(first.pool), 20000, "the first node reading the slot");
    second = await startServer({ env, databaseURL: first.databaseURL });
    const f = await createFamily(first.pool, ["parent"]);
    const user = f.members[0].id;
    proxy = await startSwitch(first.port);
    c = await connectRecording(proxy.url, tokenFor(user), { reconnection: false, transports: ["websocket"] });
    const appended = async (n) =>
      (await first.pool.query("SELECT count(*)::int AS n FROM realtime.events WHERE event = $1", [name])).rows[0].n === n;
    await publish(first.pool, name, [user], [], { n: 1 }); // arms the reader: it delivers ahead from now on
    await eventually(() => c.events.length === 1, 5000, "the first event");
    await eventually(() => appended(1), 5000, "the first event appended");

    // Hold the stream's order lock: the reader delivers the next event and cannot append it.
    lock = new pg.Client({ connectionString: first.databaseURL });
    await lock.connect();
    await lock.query("BEGIN");
    await lock.query("SELECT pg_advisory_xact_lock($1)", [STREAM_ORDER_LOCK]);
    await publish(first.pool, name, [user], [], { n: 2 });
    await eventually(() => c.events.length === 2, 5000, "the second event, delivered ahead");
    assert.ok(await appended(1), "the second event is not appended while the lock is held");

    proxy.setTarget(second.port);
    await drop(c);
    const n = c.connects.length;
    c.socket.connect();
    await sleep(300); // the restore waits on the second node while the append cannot happen
    assert.equal(c.connects.length, n, "not resumed before the stream holds the offset");
    assert.deepEqual(c.errors, [], "no connect error");
    const released = Date.now();
    await lock.query("ROLLBACK");
    const back = (await eventually(() => c.connects.length > n && c.connects, 10000, "the reconnection"))[n];
    assert.equal(back.recovered, true, "recovered on the second node");
    assert.ok(back.at >= released, "resumed once the stream held the offset");
    await publish(first.pool, name, [user], [], { n: 3 });
    await eventually(() => appended(3), 5000, "every event appended");
    const { rows } = await first.pool.query("SELECT pos::text AS pos FROM realtime.events WHERE event = $1 ORDER BY pos", [name]);
    await expectExactly(c, rows.map((r) => r.pos), { only: named(name) });
    assert.ok(second.logs.some((l) => l.includes("resuming a session")), "the second node resumed it");
  } finally {
    c?.socket.close();
    await lock?.end();
    await proxy?.close();
    await second?.stop();
    await first.stop();
  }
});

describe("when recovery is no longer possible, the client gets recovered === false and no stale events", () => {
  test("after the recovery window", async () => {
    const short = await startServer({ env: { REALTIME_RECOVERY_WINDOW: "1s" } });
    const f = await createFamily(short.pool, ["parent"]);
    const user = f.members[0].id;
    const c = await connectRecording(short.url, tokenFor(user), { reconnection: false, transports: ["websocket"] });
    try {
      const pid = (await short.pool.query("SELECT pid FROM realtime.sessions")).rows[0].pid;
      await drop(c);
      await publish(short.pool, "too.late", [user], [], {});
      await sleep(1500);
      await listenerPassed(short);
      assert.equal((await reconnect(c)).recovered, false);
      await publish(short.pool, "live", [user], [], {});
      await eventually(() => c.events.some(named("live")), 5000, "the live event");
      assert.equal(c.events.filter(named("too.late")).length, 0, "events of the expired session are not sent");
      const { rows } = await short.pool.query("SELECT pid FROM realtime.sessions WHERE disconnected_at IS NULL");
      assert.equal(rows.length, 1, "one live session");
      assert.notEqual(rows[0].pid, pid, "a new session, not the expired one");
    } finally {
      c.socket.close();
      await short.stop();
    }
  });

  test("when the missed events were pruned", async () => {
    const short = await startServer({ env: { REALTIME_RECOVERY_WINDOW: "2s", REALTIME_RETENTION: "2s" } });
    const f = await createFamily(short.pool, ["parent", "child"]);
    const [user, other] = f.members.map((m) => m.id);
    const c = await connectRecording(short.url, tokenFor(user), { reconnection: false, transports: ["websocket"] });
    try {
      await publish(short.pool, "seen", [user], [], {});
      await eventually(() => c.events.length === 1, 5000, "the live event");
      await publish(short.pool, "for.someone.else", [other], [], {});
      await streamSynced(short.pool);
      await eventually(async () => (await short.pool.query("SELECT 1 FROM realtime.events")).rowCount === 0, 15000, "pruning");
      await drop(c);
      assert.equal((await reconnect(c)).recovered, false, "the client's offset is below what was pruned");
    } finally {
      c.socket.close();
      await short.stop();
    }
  });
});
