// Three realtimed nodes on one PostgreSQL: every event and every typing indicator reaches each
// subscribed socket exactly once, whichever node it is on, and revocations act on every node.
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { io } from "socket.io-client";
import { connect, createFamily, eventually, record, sleep, tokenFor } from "../lib/harness.mjs";
import { createChat, emitWithAck, joinChat, publishToChat, removeMember } from "../lib/chat.mjs";
import { startCluster } from "../lib/cluster.mjs";

let cluster, family, users, chatId;
// sockets[u][n]: user u's socket on node n, with its recorded events.
let sockets;

before(async () => {
  cluster = await startCluster(3);
  family = await createFamily(cluster.pool, ["parent", "child", "child"]);
  users = family.members;
  chatId = await createChat(cluster.pool, family.familyId, users.map((u) => u.id));
  sockets = [];
  for (const user of users) {
    const row = [];
    for (const [n, node] of cluster.nodes.entries()) {
      const socket = await connect(node, tokenFor(user.id), { transports: n === 1 ? ["polling"] : ["websocket"] });
      await joinChat(socket, chatId);
      row.push({ socket, events: record(socket), node: n, user });
    }
    sockets.push(row);
  }
});
after(async () => {
  sockets?.flat().forEach((s) => s.socket.close());
  await cluster?.stop();
});

const all = () => sockets.flat();
const named = (events, name) => events.filter((e) => e.event === name);

/** Asserts each socket got the events with these sequence numbers, once each, in order. */
function assertExactlyOnce(socket, event, seqs, label) {
  const got = named(socket.events, event).map((e) => e.args[0].seq);
  assert.deepEqual(got, seqs, `${label}: ${socket.user.role} on node ${socket.node}`);
}

test("chat and user events reach every subscribed socket on every node exactly once, in order", async () => {
  const seqs = Array.from({ length: 30 }, (_, i) => i + 1);
  for (const seq of seqs) {
    // Alternate the node whose database connection publishes: it makes no difference.
    await publishToChat(cluster.nodes[seq % 3].pool, chatId, "message.created", { chatId, seq });
    if (seq % 3 === 0) {
      await cluster.pool.query(`SELECT realtime.publish('task.created', ARRAY[$1], '{}', $2::jsonb)`, [
        users[0].id, JSON.stringify({ seq }),
      ]);
    }
  }
  await eventually(() => all().every((s) => named(s.events, "message.created").length >= seqs.length), 20000, "every chat event everywhere");
  await eventually(() => sockets[0].every((s) => named(s.events, "task.created").length >= 10), 20000, "every user event");
  await sleep(300); // duplicates would have arrived by now
  for (const s of all()) assertExactlyOnce(s, "message.created", seqs, "chat events");
  for (const s of sockets[0]) assertExactlyOnce(s, "task.created", seqs.filter((x) => x % 3 === 0), "user events");
  for (const s of [...sockets[1], ...sockets[2]]) assert.deepEqual(named(s.events, "task.created"), [], "another user's events");
});

test("typing indicators from any node reach every other socket of the chat exactly once", async () => {
  for (const [n, senderNode] of [0, 1, 2].entries()) {
    const sender = sockets[n][senderNode];
    const others = all().filter((s) => s !== sender);
    const before = new Map(all().map((s) => [s, s.events.length]));
    assert.deepEqual(await emitWithAck(sender.socket, "typing:start", { chatId }), { ok: true });
    assert.deepEqual(await emitWithAck(sender.socket, "typing:stop", { chatId }), { ok: true });
    const heard = (s) => s.events.slice(before.get(s)).filter((e) => e.event.startsWith("typing."));
    await eventually(() => others.every((s) => heard(s).length >= 2), 20000, `typing from node ${senderNode} everywhere`);
    await sleep(300);
    for (const s of others) {
      assert.deepEqual(heard(s).map((e) => [e.event, e.args[0]]), [
        ["typing.started", { chatId, userId: sender.user.id }],
        ["typing.stopped", { chatId, userId: sender.user.id }],
      ], `${s.user.role} on node ${s.node} hears ${sender.user.role} on node ${senderNode} once`);
    }
    assert.deepEqual(heard(sender), [], "the sender's socket hears nothing");
  }
});

test("a member removed in the database leaves the chat room on every node at once", async () => {
  const removed = users[2];
  const start = Math.max(...all().map((s) => named(s.events, "message.created").length)) + 100;
  const client = await cluster.pool.connect();
  try {
    await client.query("BEGIN");
    await publishToChat(client, chatId, "message.created", { chatId, seq: start });
    await removeMember(client, chatId, removed.id);
    await publishToChat(client, chatId, "message.created", { chatId, seq: start + 1 });
    await client.query("COMMIT");
  } finally {
    client.release();
  }
  const kept = [...sockets[0], ...sockets[1]];
  const after = (s) => named(s.events, "message.created").map((e) => e.args[0].seq).filter((x) => x >= start);
  await eventually(() => kept.every((s) => after(s).length === 2), 20000, "the members' events");
  await sleep(300);
  for (const s of kept) assert.deepEqual(after(s), [start, start + 1]);
  for (const s of sockets[2]) {
    assert.deepEqual(after(s), [start], `the removed member on node ${s.node} gets the event before the removal only`);
    assert.deepEqual(await emitWithAck(s.socket, "typing:start", { chatId }), { ok: false, error: "forbidden" });
  }
});

test("a session deleted in the database disconnects its sockets on every node", async () => {
  const user = users[1];
  const token = "multi-node-session-" + Date.now();
  await cluster.pool.query("INSERT INTO sessions (token, user_id, expires_at) VALUES ($1, $2, now() + interval '1 hour')", [token, user.id]);
  const clients = cluster.nodes.map((node) => {
    const socket = io(node.url, { auth: { token }, forceNew: true, reconnectionDelay: 100, reconnectionDelayMax: 200 });
    const log = { disconnects: [], errors: [] };
    socket.on("disconnect", (reason) => log.disconnects.push(reason));
    socket.on("connect_error", (err) => log.errors.push(err.data?.code));
    return { socket, log };
  });
  try {
    await eventually(() => clients.every((c) => c.socket.connected), 20000, "connected to every node");
    await cluster.pool.query("DELETE FROM sessions WHERE token = $1", [token]);
    for (const [n, c] of clients.entries()) {
      await eventually(() => c.log.errors.includes("invalid_token"), 20000, `node ${n} to disconnect and refuse the session`);
      assert.deepEqual(c.log.disconnects, ["transport close"]);
    }
    for (const s of sockets[1]) assert.ok(s.socket.connected, "the user's JWT sockets stay");
  } finally {
    clients.forEach((c) => c.socket.close());
  }
});
