// typing:start / typing:stop → typing.started / typing.stopped {chatId, userId} to the chat's
// room, sender excluded; automatic stop after silence, on leave and on disconnect.
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { connect, createFamily, eventually, record, sleep, startServer, tokenFor, waitForEvent } from "../lib/harness.mjs";
import { createChat, emitWithAck, joinChat } from "../lib/chat.mjs";

const TYPING_TIMEOUT_MS = 1500;
let server, family, alice, bob, carol, chatId, otherChat;

before(async () => {
  server = await startServer({ env: { REALTIME_TYPING_TIMEOUT: `${TYPING_TIMEOUT_MS}ms`, REALTIME_TYPING_RATE: "2" } });
  family = await createFamily(server.pool, ["parent", "child", "child"]);
  [alice, bob, carol] = family.members;
  chatId = await createChat(server.pool, family.familyId, [alice.id, bob.id]);
  otherChat = await createChat(server.pool, family.familyId, [alice.id, carol.id]);
});
after(async () => {
  await server?.stop();
});

/** Connects user to the chat's room; returns the socket and its recorded events. */
async function member(user, chat = chatId, opts = {}) {
  const socket = await connect(server, tokenFor(user.id), opts);
  await joinChat(socket, chat);
  return { socket, events: record(socket) };
}

const typingEvents = (events) => events.filter((e) => e.event.startsWith("typing."));
const closeAll = (...members) => members.forEach((m) => m.socket.close());

describe("typing:start and typing:stop", () => {
  test("reach the chat's room, other devices of the sender included, never the sending socket", async () => {
    const a1 = await member(alice, chatId, { transports: ["websocket"] });
    const a2 = await member(alice, chatId, { transports: ["polling"] });
    const b = await member(bob);
    const c = await member(carol, otherChat); // another chat: hears nothing
    try {
      const started = [waitForEvent(a2.socket, "typing.started"), waitForEvent(b.socket, "typing.started")];
      assert.deepEqual(await emitWithAck(a1.socket, "typing:start", { chatId }), { ok: true });
      for (const { payload, rest } of await Promise.all(started)) {
        assert.deepEqual(payload, { chatId, userId: alice.id });
        assert.deepEqual(rest, [], "typing indicators carry no stream offset");
      }
      const stopped = [waitForEvent(a2.socket, "typing.stopped"), waitForEvent(b.socket, "typing.stopped")];
      assert.deepEqual(await emitWithAck(a1.socket, "typing:stop", { chatId }), { ok: true });
      for (const { payload } of await Promise.all(stopped)) assert.deepEqual(payload, { chatId, userId: alice.id });
      await sleep(200);
      assert.deepEqual(typingEvents(a1.events), [], "the sender's own socket hears nothing");
      assert.deepEqual(typingEvents(c.events), []);
      assert.equal(typingEvents(b.events).length, 2, "exactly one started and one stopped");
    } finally {
      closeAll(a1, a2, b, c);
    }
  });

  test("typing:start while typing renews the indicator without repeating it", async () => {
    const a = await member(alice);
    const b = await member(bob);
    try {
      for (let i = 0; i < 6; i++) {
        assert.deepEqual(await emitWithAck(a.socket, "typing:start", { chatId }), { ok: true });
        await sleep(TYPING_TIMEOUT_MS / 3);
      }
      // Two timeouts' worth of renewals later: still one started, no stopped.
      assert.deepEqual(typingEvents(b.events).map((e) => e.event), ["typing.started"]);
      await emitWithAck(a.socket, "typing:stop", { chatId });
      await eventually(() => typingEvents(b.events).length === 2, 5000, "typing.stopped");
    } finally {
      closeAll(a, b);
    }
  });

  test("stops by itself after the typing timeout", async () => {
    const a = await member(alice);
    const b = await member(bob);
    try {
      const started = waitForEvent(b.socket, "typing.started");
      await emitWithAck(a.socket, "typing:start", { chatId });
      await started;
      const t0 = Date.now();
      const { payload } = await waitForEvent(b.socket, "typing.stopped", TYPING_TIMEOUT_MS + 10000);
      assert.deepEqual(payload, { chatId, userId: alice.id });
      assert.ok(Date.now() - t0 >= TYPING_TIMEOUT_MS - 200, `stopped after ${Date.now() - t0}ms, before the timeout`);
    } finally {
      closeAll(a, b);
    }
  });

  test("stops when the sender disconnects", async () => {
    const a = await member(alice);
    const b = await member(bob);
    try {
      const started = waitForEvent(b.socket, "typing.started");
      await emitWithAck(a.socket, "typing:start", { chatId });
      await started;
      const stopped = waitForEvent(b.socket, "typing.stopped", TYPING_TIMEOUT_MS / 2);
      a.socket.close();
      assert.deepEqual((await stopped).payload, { chatId, userId: alice.id });
    } finally {
      closeAll(a, b);
    }
  });

  test("stops when the sender leaves the room", async () => {
    const a = await member(alice);
    const b = await member(bob);
    try {
      const started = waitForEvent(b.socket, "typing.started");
      await emitWithAck(a.socket, "typing:start", { chatId });
      await started;
      const stopped = waitForEvent(b.socket, "typing.stopped", TYPING_TIMEOUT_MS / 2);
      await emitWithAck(a.socket, "room:leave", { chatId });
      assert.deepEqual((await stopped).payload, { chatId, userId: alice.id });
    } finally {
      closeAll(a, b);
    }
  });

  test("is forbidden in a room the socket has not joined, and malformed is bad_request", async () => {
    const outsider = await connect(server, tokenFor(carol.id));
    const notJoined = await connect(server, tokenFor(alice.id));
    const b = await member(bob);
    try {
      assert.deepEqual(await emitWithAck(outsider, "typing:start", { chatId }), { ok: false, error: "forbidden" });
      assert.deepEqual(await emitWithAck(notJoined, "typing:start", { chatId }), { ok: false, error: "forbidden" });
      assert.deepEqual(await emitWithAck(notJoined, "typing:stop", { chatId }), { ok: false, error: "forbidden" });
      assert.deepEqual(await emitWithAck(notJoined, "typing:start", "chat:" + chatId), { ok: false, error: "bad_request" });
      await sleep(300);
      assert.deepEqual(typingEvents(b.events), []);
    } finally {
      outsider.close();
      notJoined.close();
      b.socket.close();
    }
  });

  test("starting indicators is rate limited per socket", async () => {
    // REALTIME_TYPING_RATE=2: bursts of 4 starts, then about 2 per second.
    const a = await member(alice);
    const b = await member(bob);
    try {
      const acks = [];
      for (let i = 0; i < 8; i++) {
        acks.push(await emitWithAck(a.socket, "typing:start", { chatId }));
        acks.push(await emitWithAck(a.socket, "typing:stop", { chatId }));
      }
      const refused = acks.filter((x) => x.error === "rate_limited").length;
      assert.ok(refused >= 3, `${refused} of 8 starts refused: ${JSON.stringify(acks)}`);
      await sleep(300);
      const heard = typingEvents(b.events);
      assert.equal(heard.filter((e) => e.event === "typing.started").length, 8 - refused);
      assert.equal(heard.filter((e) => e.event === "typing.stopped").length, 8 - refused);
      await sleep(1200);
      assert.deepEqual(await emitWithAck(a.socket, "typing:start", { chatId }), { ok: true }, "allowed again later");
    } finally {
      closeAll(a, b);
    }
  });
});
