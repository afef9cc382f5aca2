// Live revocation: what the database revokes takes effect on connected sockets at once, in
// order with the events. Removing a chat member takes its sockets out of chat:<id>; deleting or
// expiring a session disconnects the sockets that authenticated with it; a JWT whose exp passes
// closes the transport so that the client re-authenticates through its auth callback.
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { io } from "socket.io-client";
import {
  connect, createFamily, eventually, record, signJWT, sleep, startServer, tokenFor, waitForEvent,
} from "../lib/harness.mjs";
import { addMember, createChat, emitWithAck, joinChat, publishToChat, removeMember } from "../lib/chat.mjs";

let server, family, alice, bob;

before(async () => {
  server = await startServer();
  family = await createFamily(server.pool, ["parent", "child"]);
  [alice, bob] = family.members;
});
after(async () => {
  await server?.stop();
});

const chatEvents = (events) => events.filter((e) => e.event.startsWith("message."));

describe("removing a chat member", () => {
  test("takes the member's sockets out of the room, ordered with the events of one transaction", async () => {
    const chatId = await createChat(server.pool, family.familyId, [alice.id, bob.id]);
    const a1 = await connect(server, tokenFor(alice.id), { transports: ["websocket"] });
    const a2 = await connect(server, tokenFor(alice.id), { transports: ["polling"] });
    const b = await connect(server, tokenFor(bob.id));
    const [e1, e2, eb] = [record(a1), record(a2), record(b)];
    try {
      for (const s of [a1, a2, b]) await joinChat(s, chatId);
      // One transaction: an event, the removal, another event. Alice gets the first only.
      const client = await server.pool.connect();
      try {
        await client.query("BEGIN");
        await publishToChat(client, chatId, "message.created", { n: 1 });
        await removeMember(client, chatId, alice.id);
        await publishToChat(client, chatId, "message.created", { n: 2 });
        await client.query("COMMIT");
      } finally {
        client.release();
      }
      await eventually(() => chatEvents(eb).length === 2, 5000, "bob's two events");
      await publishToChat(server.pool, chatId, "message.created", { n: 3 });
      await eventually(() => chatEvents(eb).length === 3, 5000, "bob's third event");
      await sleep(200);
      for (const events of [e1, e2]) {
        assert.deepEqual(chatEvents(events).map((e) => e.args[0].n), [1], "alice: the event before her removal only");
      }
      assert.deepEqual(chatEvents(eb).map((e) => e.args[0].n), [1, 2, 3]);
      assert.ok(a1.connected && a2.connected, "removal from a chat does not disconnect");
      assert.ok(!server.logs.some((l) => l.includes("realtime.revoke_chat_member") && l.includes("delivered")),
        "the internal event is not delivered to clients");
      assert.deepEqual(await emitWithAck(a1, "room:join", { chatId }), { ok: false, error: "forbidden" });
      assert.deepEqual(await emitWithAck(a1, "typing:start", { chatId }), { ok: false, error: "forbidden" });
    } finally {
      [a1, a2, b].forEach((s) => s.close());
    }
  });

  test("ends the removed member's typing indicator", async () => {
    const chatId = await createChat(server.pool, family.familyId, [alice.id, bob.id]);
    const a = await connect(server, tokenFor(alice.id));
    const b = await connect(server, tokenFor(bob.id));
    try {
      await joinChat(a, chatId);
      await joinChat(b, chatId);
      const started = waitForEvent(b, "typing.started");
      await emitWithAck(a, "typing:start", { chatId });
      await started;
      const stopped = waitForEvent(b, "typing.stopped", 3000);
      await removeMember(server.pool, chatId, alice.id);
      assert.deepEqual((await stopped).payload, { chatId, userId: alice.id });
    } finally {
      a.close();
      b.close();
    }
  });

  test("deleting the chat takes every member out; re-adding a member lets it join again", async () => {
    const chatId = await createChat(server.pool, family.familyId, [alice.id]);
    const a = await connect(server, tokenFor(alice.id));
    const events = record(a);
    try {
      await joinChat(a, chatId);
      await removeMember(server.pool, chatId, alice.id);
      await addMember(server.pool, chatId, alice.id);
      await joinChat(a, chatId);
      const got = waitForEvent(a, "message.created");
      await publishToChat(server.pool, chatId, "message.created", { n: "back" });
      assert.equal((await got).payload.n, "back");
      await server.pool.query("DELETE FROM chats WHERE id = $1", [chatId]);
      await publishToChat(server.pool, chatId, "message.created", { n: "after delete" });
      const barrier = waitForEvent(a, "task.created"); // listening before the publish: it can beat the COMMIT's return
      await server.pool.query(`SELECT realtime.publish('task.created', ARRAY[$1], '{}', '{}')`, [alice.id]);
      await barrier;
      assert.deepEqual(chatEvents(events).map((e) => e.args[0].n), ["back"]);
    } finally {
      a.close();
    }
  });
});

/** Creates a session for user expiring in ms; returns its token. */
async function createSession(user, ms = 3600_000) {
  const token = "sess-" + Math.random().toString(36).slice(2) + Date.now();
  await server.pool.query(
    "INSERT INTO sessions (token, user_id, expires_at) VALUES ($1, $2, now() + $3 * interval '1 millisecond')",
    [token, user.id, ms],
  );
  return token;
}

/**
 * Connects with reconnection on, as an app would; records disconnects and connect_errors.
 * auth may be a token or an auth callback.
 */
function reconnecting(auth, opts = {}) {
  const socket = io(server.url, {
    auth: typeof auth === "function" ? auth : { token: auth },
    forceNew: true,
    reconnection: true,
    reconnectionDelay: 100,
    reconnectionDelayMax: 200,
    ...opts,
  });
  const log = { disconnects: [], errors: [], connects: 0 };
  socket.on("connect", () => log.connects++);
  socket.on("disconnect", (reason) => log.disconnects.push(reason));
  socket.on("connect_error", (err) => log.errors.push(err.data?.code ?? err.message));
  return { socket, log };
}

describe("sessions", () => {
  test("deleting a session disconnects exactly the sockets that authenticated with it", async () => {
    const revoked = await createSession(alice);
    const kept = await createSession(alice);
    const r1 = reconnecting(revoked, { transports: ["websocket"] });
    const r2 = reconnecting(revoked, { transports: ["polling"] });
    const k = reconnecting(kept);
    const j = reconnecting(tokenFor(alice.id));
    const all = [r1, r2, k, j];
    try {
      await eventually(() => all.every((c) => c.socket.connected), 10000, "everyone connected");
      await server.pool.query("DELETE FROM sessions WHERE token = $1", [revoked]);
      for (const r of [r1, r2]) {
        await eventually(() => r.log.errors.includes("invalid_token"), 10000, "the revoked client to be refused");
        assert.deepEqual(r.log.disconnects, ["transport close"], "the transport is closed, not a Socket.IO disconnect");
        assert.ok(!r.socket.connected && !r.socket.active, "a refused client stops reconnecting");
      }
      await sleep(200);
      for (const c of [k, j]) {
        assert.ok(c.socket.connected, "other sessions of the user stay connected");
        assert.deepEqual(c.log.disconnects, []);
      }
      assert.ok(!server.logs.some((l) => l.includes(revoked)), "no log line contains the session token");
      assert.ok(server.logs.some((l) => l.includes("session revoked")), "the revocation is logged");
    } finally {
      all.forEach((c) => c.socket.close());
    }
  });

  test("a session expired in the database disconnects its sockets; the reconnect is refused as expired", async () => {
    const token = await createSession(alice);
    const c = reconnecting(token);
    try {
      await eventually(() => c.socket.connected, 10000, "connected");
      await server.pool.query("UPDATE sessions SET expires_at = now() - interval '1 second' WHERE token = $1", [token]);
      await eventually(() => c.log.errors.includes("token_expired"), 10000, "the reconnect to be refused");
      assert.deepEqual(c.log.disconnects, ["transport close"]);
    } finally {
      c.socket.close();
    }
  });

  test("a session whose expiry passes while connected is disconnected then", async () => {
    const token = await createSession(alice, 1500);
    const c = reconnecting(token);
    try {
      await eventually(() => c.socket.connected, 10000, "connected");
      await eventually(() => c.log.disconnects.length > 0, 10000, "the disconnect at expiry");
      assert.deepEqual(c.log.disconnects, ["transport close"]);
      await eventually(() => c.log.errors.includes("token_expired"), 10000, "the reconnect to be refused");
    } finally {
      c.socket.close();
    }
  });

  test("a session renewed in the database stays connected past its first expiry", async () => {
    const token = await createSession(alice, 1500);
    const c = reconnecting(token);
    try {
      await eventually(() => c.socket.connected, 10000, "connected");
      await server.pool.query("UPDATE sessions SET expires_at = now() + interval '1 hour' WHERE token = $1", [token]);
      await eventually(() => server.logs.some((l) => l.includes("session expiry changed")), 5000, "the renewal to be handled");
      await sleep(2500);
      assert.deepEqual(c.log.disconnects, []);
      assert.ok(c.socket.connected);
    } finally {
      c.socket.close();
    }
  });
});

describe("JWT expiry", () => {
  test("closes the transport at exp; the client reconnects through its auth callback with a fresh token", async () => {
    const tokens = [];
    const auth = (cb) => {
      // The first token expires in 2 seconds; later ones in an hour.
      const exp = Math.floor(Date.now() / 1000) + (tokens.length === 0 ? 2 : 3600);
      const token = signJWT({ sub: alice.id, exp });
      tokens.push(token);
      cb({ token });
    };
    const c = reconnecting(auth, { transports: ["websocket"] });
    try {
      await eventually(() => c.socket.connected, 10000, "connected");
      const firstId = c.socket.id;
      await eventually(() => c.log.connects === 2, 10000, "the reconnect after exp");
      assert.deepEqual(c.log.disconnects, ["transport close"], "not a CONNECT_ERROR, not a Socket.IO DISCONNECT");
      assert.deepEqual(c.log.errors, []);
      assert.equal(tokens.length, 2, "the auth callback ran again");
      assert.notEqual(c.socket.id, firstId);
      assert.ok(server.logs.some((l) => l.includes("credentials expired")));
      const got = waitForEvent(c.socket, "task.created");
      await server.pool.query(`SELECT realtime.publish('task.created', ARRAY[$1], '{}', '{"after":"refresh"}')`, [alice.id]);
      assert.deepEqual((await got).payload, { after: "refresh" });
    } finally {
      c.socket.close();
    }
  });

  test("a client without a fresh token is refused as expired after the close", async () => {
    const token = signJWT({ sub: alice.id, exp: Math.floor(Date.now() / 1000) + 2 });
    const c = reconnecting(token, { transports: ["polling"] });
    try {
      await eventually(() => c.socket.connected, 10000, "connected");
      await eventually(() => c.log.errors.includes("token_expired"), 10000, "the refusal");
      assert.deepEqual(c.log.disconnects, ["transport close"]);
    } finally {
      c.socket.close();
    }
  });
});
