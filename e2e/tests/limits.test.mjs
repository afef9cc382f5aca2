// Per-socket limits on client events, configured through the environment: a rate (bursts of
// twice as many), a size limit, and unknown events ignored. A client over a limit gets an
// error ack and stays connected.
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { connect, createFamily, eventually, sleep, startServer, tokenFor } from "../lib/harness.mjs";
import { createChat, emitWithAck } from "../lib/chat.mjs";

let server, alice, chatId;

before(async () => {
  server = await startServer({ env: { REALTIME_CLIENT_EVENT_RATE: "5", REALTIME_CLIENT_EVENT_MAX_BYTES: "200" } });
  const family = await createFamily(server.pool, ["parent"]);
  [alice] = family.members;
  chatId = await createChat(server.pool, family.familyId, [alice.id]);
});
after(async () => {
  await server?.stop();
});

test("an event over REALTIME_CLIENT_EVENT_MAX_BYTES is refused with payload_too_large", async () => {
  const socket = await connect(server, tokenFor(alice.id));
  try {
    const ack = await emitWithAck(socket, "room:join", { chatId, padding: "x".repeat(300) });
    assert.deepEqual(ack, { ok: false, error: "payload_too_large" });
    assert.ok(socket.connected);
    assert.deepEqual(await emitWithAck(socket, "room:join", { chatId }), { ok: true, room: `chat:${chatId}` });
    await eventually(() => server.logs.some((l) => l.includes("over the size limit")), 5000, "the log line");
  } finally {
    socket.close();
  }
});

test("events beyond REALTIME_CLIENT_EVENT_RATE are refused with rate_limited, per socket", async () => {
  const flooder = await connect(server, tokenFor(alice.id));
  const neighbour = await connect(server, tokenFor(alice.id));
  try {
    const acks = await Promise.all(Array.from({ length: 30 }, () => emitWithAck(flooder, "room:leave", { chatId })));
    const limited = acks.filter((a) => a.error === "rate_limited").length;
    // A burst of 2×5 passes, and a few more may refill while the 30 are in flight (more on a
    // loaded machine): never more than 20 are refused, and without the limit none would be.
    assert.ok(limited >= 5 && limited <= 20, `${limited} of 30 rate limited`);
    assert.ok(flooder.connected, "a limited client stays connected");
    assert.deepEqual(await emitWithAck(neighbour, "room:join", { chatId }), { ok: true, room: `chat:${chatId}` },
      "another socket of the same user has its own allowance");
    await sleep(1000);
    assert.deepEqual(await emitWithAck(flooder, "room:leave", { chatId }), { ok: true, room: `chat:${chatId}` }, "allowed again after a pause");
    const lines = server.logs.filter((l) => l.includes("over the rate limit") && l.includes(flooder.id));
    assert.equal(lines.filter((l) => l.includes("level=info")).length, 1, "logged at info once per socket");
  } finally {
    flooder.close();
    neighbour.close();
  }
});

test("unknown client events are ignored, logged at debug, and acked unknown_event", async () => {
  const socket = await connect(server, tokenFor(alice.id));
  try {
    socket.emit("no:such-command", { x: 1 });
    assert.deepEqual(await emitWithAck(socket, "join", "chat:" + chatId), { ok: false, error: "unknown_event" });
    await eventually(() => server.logs.some((l) => l.includes("ignored an unknown client event") && l.includes("no:such-command")),
      5000, "the debug line");
    assert.ok(socket.connected);
  } finally {
    socket.close();
  }
});
