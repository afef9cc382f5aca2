// room:join / room:leave with acks: only members of a chat (checked in the database) get into
// chat:<id>, and no client gets into any other room by name.
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { connect, createFamily, eventually, record, sleep, startServer, tokenFor, waitForEvent } from "../lib/harness.mjs";
import { createChat, emitWithAck, joinChat, publishToChat } from "../lib/chat.mjs";

let server, family, alice, bob, chatId;

before(async () => {
  server = await startServer();
  family = await createFamily(server.pool, ["parent", "child"]);
  [alice, bob] = family.members;
  chatId = await createChat(server.pool, family.familyId, [alice.id]);
});
after(async () => {
  await server?.stop();
});

describe("room:join", () => {
  for (const transports of [["websocket"], ["polling"]]) {
    test(`a member joins chat:<id> over ${transports[0]} and receives the chat's events`, async () => {
      const socket = await connect(server, tokenFor(alice.id), { transports });
      try {
        const ack = await emitWithAck(socket, "room:join", { chatId });
        assert.deepEqual(ack, { ok: true, room: `chat:${chatId}` });
        const got = waitForEvent(socket, "message.created");
        await publishToChat(server.pool, chatId, "message.created", { chatId, text: "hi" });
        assert.deepEqual((await got).payload, { chatId, text: "hi" });
      } finally {
        socket.close();
      }
    });
  }

  test("a member that did not join receives nothing of the chat", async () => {
    const joined = await connect(server, tokenFor(alice.id));
    const idle = await connect(server, tokenFor(alice.id));
    const idleEvents = record(idle);
    try {
      await joinChat(joined, chatId);
      const got = waitForEvent(joined, "message.created");
      await publishToChat(server.pool, chatId, "message.created", { chatId, text: "only joined" });
      await got;
      await sleep(200);
      assert.deepEqual(idleEvents, []);
    } finally {
      joined.close();
      idle.close();
    }
  });

  test("a join without an ack callback still joins", async () => {
    const socket = await connect(server, tokenFor(alice.id));
    try {
      socket.emit("room:join", { chatId });
      const got = waitForEvent(socket, "message.created", 10000);
      // The join is handled before later packets of the same socket: an acked leave of another
      // chat, answered after it, proves the join was processed.
      await emitWithAck(socket, "room:leave", { chatId: "00000000-0000-0000-0000-000000000000" });
      await publishToChat(server.pool, chatId, "message.created", { chatId, text: "no ack" });
      assert.equal((await got).payload.text, "no ack");
    } finally {
      socket.close();
    }
  });

  test("a non-member is refused with forbidden and receives nothing of the chat", async () => {
    const socket = await connect(server, tokenFor(bob.id));
    const events = record(socket);
    try {
      assert.deepEqual(await emitWithAck(socket, "room:join", { chatId }), { ok: false, error: "forbidden" });
      const member = await connect(server, tokenFor(alice.id));
      try {
        await joinChat(member, chatId);
        const got = waitForEvent(member, "message.created");
        await publishToChat(server.pool, chatId, "message.created", { chatId, text: "members only" });
        await got;
      } finally {
        member.close();
      }
      await sleep(200);
      assert.deepEqual(events, []);
    } finally {
      socket.close();
    }
  });

  test("an unknown chat is not_found", async () => {
    const socket = await connect(server, tokenFor(alice.id));
    try {
      const ack = await emitWithAck(socket, "room:join", { chatId: "6f1c1a52-9d4e-4b53-9d43-3c1f7e1a0c11" });
      assert.deepEqual(ack, { ok: false, error: "not_found" });
    } finally {
      socket.close();
    }
  });

  const malformed = [
    ["no argument", []],
    ["a room name instead of an object", ["chat:" + "x"]],
    ["an object without chatId", [{ room: "user:someone" }]],
    ["a chatId that is not a string", [{ chatId: { id: 1 } }]],
    ["an empty chatId", [{ chatId: "" }]],
    ["a chatId that is not a uuid", [{ chatId: "general" }]],
    ["a chatId that is too long", [{ chatId: "a".repeat(300) }]],
  ];
  for (const [label, args] of malformed) {
    test(`${label} is bad_request`, async () => {
      const socket = await connect(server, tokenFor(alice.id));
      try {
        assert.deepEqual(await emitWithAck(socket, "room:join", ...args), { ok: false, error: "bad_request" });
        assert.ok(socket.connected, "a bad request does not disconnect");
      } finally {
        socket.close();
      }
    });
  }

  test("no client joins another room by name", async () => {
    const socket = await connect(server, tokenFor(bob.id));
    const events = record(socket);
    try {
      for (const [event, args] of [
        ["room:join", [{ room: `user:${alice.id}` }]],
        ["room:join", [{ chatId: `x/../user:${alice.id}` }]],
        ["room:join", [`user:${alice.id}`]],
        ["join", [`user:${alice.id}`]],
        ["subscribe", [{ room: `chat:${chatId}` }]],
      ]) {
        const ack = await emitWithAck(socket, event, ...args);
        assert.equal(ack.ok, false, `${event} ${JSON.stringify(args)}: ${JSON.stringify(ack)}`);
      }
      await server.pool.query(`SELECT realtime.publish('secret.x', ARRAY[$1], ARRAY['chat:' || $2], '{}')`, [alice.id, chatId]);
      await sleep(300);
      assert.deepEqual(events, []);
    } finally {
      socket.close();
    }
  });
});

describe("room:leave", () => {
  test("acknowledges and stops the chat's events", async () => {
    const socket = await connect(server, tokenFor(alice.id));
    const events = record(socket);
    try {
      await joinChat(socket, chatId);
      const ack = await emitWithAck(socket, "room:leave", { chatId });
      assert.deepEqual(ack, { ok: true, room: `chat:${chatId}` });
      const got = waitForEvent(socket, "task.created");
      await publishToChat(server.pool, chatId, "message.created", { chatId, text: "after leave" });
      // A later event to the user's own room arrives, so the chat's event had its chance.
      await server.pool.query(`SELECT realtime.publish('task.created', ARRAY[$1], '{}', '{}')`, [alice.id]);
      await got;
      assert.deepEqual(events.map((e) => e.event), ["task.created"]);
    } finally {
      socket.close();
    }
  });

  test("a malformed leave is bad_request", async () => {
    const socket = await connect(server, tokenFor(alice.id));
    try {
      assert.deepEqual(await emitWithAck(socket, "room:leave", "chat:1"), { ok: false, error: "bad_request" });
    } finally {
      socket.close();
    }
  });
});

test("a database error answers unavailable and is logged", async () => {
  // A server whose membership query reads a table the test then drops.
  const other = await startServer({
    env: {
      REALTIME_MEMBERSHIP_QUERY:
        "SELECT EXISTS (SELECT 1 FROM acl a WHERE a.chat = c.chat AND a.usr = $2) FROM acl_chats c WHERE c.chat = $1",
    },
  });
  try {
    await other.pool.query(`CREATE TABLE acl_chats (chat text PRIMARY KEY); CREATE TABLE acl (chat text, usr text);
      INSERT INTO acl_chats VALUES ('lobby'); INSERT INTO acl VALUES ('lobby', 'u1')`);
    const socket = await connect(other, tokenFor("u1"));
    try {
      assert.deepEqual(await emitWithAck(socket, "room:join", { chatId: "lobby" }), { ok: true, room: "chat:lobby" });
      await other.pool.query("DROP TABLE acl");
      assert.deepEqual(await emitWithAck(socket, "room:join", { chatId: "lobby" }), { ok: false, error: "unavailable" });
      await eventually(() => other.logs.some((l) => l.includes("membership check failed") && l.includes("lobby")), 5000, "the log line");
      assert.ok(socket.connected);
    } finally {
      socket.close();
    }
  } finally {
    await other.stop();
  }
});
