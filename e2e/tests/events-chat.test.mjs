// Chat events: chat.updated / chat.member_added / chat.member_removed go to the members' user
// rooms (sql/triggers/chats.sql, chat_members.sql); message.new / updated / deleted / read go
// to chat:<chatId>, which clients enter with room:join (sql/triggers/messages.sql,
// message_reads.sql). The SQL change is made, and the right clients — and only they —
// receive the right payload over the official socket.io-client.
import assert from "node:assert/strict";
import { after, afterEach, before, beforeEach, describe, test } from "node:test";
import { startServer } from "../lib/harness.mjs";
import { joinChat } from "../lib/chat.mjs";
import { closeAll, connectUsers, deliveries, entityOf, expectExactly, familyOfFour, payloadOf } from "../lib/events.mjs";

let server, fam, clients, chatId;

before(async () => {
  server = await startServer();
});
after(async () => {
  await server?.stop();
});

const change = (fn) => deliveries(server, clients, fn);
const sql = (text, args) => server.pool.query(text, args);
const one = async (text, args) => (await sql(text, args)).rows[0].id;
const every = (ids, events) => Object.fromEntries(ids.map((id) => [id, events]));

// Alex (parent) and Robin (child) are in the chat; Kim (child) too but has not joined its room;
// Sam (parent) and the outsider are not members.
beforeEach(async () => {
  fam = await familyOfFour(server.pool);
  chatId = await one("INSERT INTO chats (family_id, name) VALUES ($1, 'Family chat') RETURNING id", [fam.familyId]);
  for (const u of [fam.parents[0], fam.children[0], fam.children[1]]) {
    await sql("INSERT INTO chat_members (chat_id, user_id) VALUES ($1, $2)", [chatId, u]);
  }
  clients = await connectUsers(server, fam.everyone);
});
afterEach(() => closeAll(clients));

describe("chat metadata and membership, to the members' user rooms", () => {
  test("chat.updated reaches every member; a change of updated_at alone reaches nobody", async () => {
    const members = [fam.parents[0], ...fam.children];
    let got = await change(() => sql("UPDATE chats SET name = 'Weekend plans' WHERE id = $1", [chatId]));
    expectExactly(got, every(members, ["chat.updated"]), fam.names);
    const p = payloadOf(got, fam.children[1], "chat.updated");
    assert.equal(p.chatId, chatId);
    assert.equal(p.familyId, fam.familyId);
    assert.deepEqual(p.chat, await entityOf(server.pool, "chats", chatId));
    got = await change(() => sql("UPDATE chats SET updated_at = now() WHERE id = $1", [chatId]));
    expectExactly(got, {}, fam.names);
  });

  test("chat.member_added reaches the members and the new member", async () => {
    const [alex, sam] = fam.parents;
    const got = await change(() => sql("INSERT INTO chat_members (chat_id, user_id) VALUES ($1, $2)", [chatId, sam]));
    expectExactly(got, every([alex, sam, ...fam.children], ["chat.member_added"]), fam.names);
    const p = payloadOf(got, sam, "chat.member_added");
    assert.equal(p.chatId, chatId);
    assert.equal(p.userId, sam);
    assert.equal(p.member.userId, sam);
    assert.equal(p.chat.name, "Family chat");
  });

  test("chat.member_removed reaches the remaining members and the removed one", async () => {
    const [alex] = fam.parents;
    const [robin, kim] = fam.children;
    const got = await change(() => sql("DELETE FROM chat_members WHERE chat_id = $1 AND user_id = $2", [chatId, kim]));
    expectExactly(got, every([alex, robin, kim], ["chat.member_removed"]), fam.names);
    const p = payloadOf(got, alex, "chat.member_removed");
    assert.equal(p.userId, kim);
    assert.equal(p.chatId, chatId);
  });
});

describe("messages and read receipts, to chat:<chatId>", () => {
  // Alex and Robin join the chat's room; Kim (a member) does not, nobody else can.
  let joined;
  beforeEach(async () => {
    joined = [fam.parents[0], fam.children[0]];
    for (const id of joined) await joinChat(clients.get(id).socket, chatId);
  });

  const sendMessage = (sender, body) =>
    one("INSERT INTO messages (chat_id, user_id, body) VALUES ($1, $2, $3) RETURNING id", [chatId, sender, body]);

  test("message.new reaches the clients in the chat's room only", async () => {
    let id;
    const got = await change(async () => { id = await sendMessage(fam.children[0], "Pizza tonight?"); });
    expectExactly(got, every(joined, ["message.new"]), fam.names);
    const p = payloadOf(got, fam.parents[0], "message.new");
    assert.equal(p.messageId, id);
    assert.equal(p.chatId, chatId);
    assert.equal(p.familyId, fam.familyId);
    assert.equal(p.userId, fam.children[0]);
    assert.equal(p.message.body, "Pizza tonight?");
    assert.deepEqual(p.message, await entityOf(server.pool, "messages", id));
  });

  test("message.updated reaches the room; a no-op update reaches nobody", async () => {
    const id = await sendMessage(fam.parents[0], "Dinner at 6");
    let got = await change(() => sql("UPDATE messages SET body = 'Dinner at 7', edited_at = now() WHERE id = $1", [id]));
    expectExactly(got, every(joined, ["message.updated"]), fam.names);
    const p = payloadOf(got, fam.children[0], "message.updated");
    assert.equal(p.message.body, "Dinner at 7");
    assert.ok(p.message.editedAt);
    got = await change(() => sql("UPDATE messages SET body = body WHERE id = $1", [id]));
    expectExactly(got, {}, fam.names);
  });

  test("message.deleted reaches the room, once", async () => {
    const id = await sendMessage(fam.children[0], "oops");
    let got = await change(() => sql("UPDATE messages SET deleted_at = now() WHERE id = $1", [id]));
    expectExactly(got, every(joined, ["message.deleted"]), fam.names);
    const p = payloadOf(got, fam.parents[0], "message.deleted");
    assert.equal(p.messageId, id);
    assert.ok(p.message.deletedAt);
    got = await change(() => sql("DELETE FROM messages WHERE id = $1", [id]));
    expectExactly(got, {}, fam.names);
  });

  test("message.read reaches the room; reading again reaches nobody", async () => {
    const id = await sendMessage(fam.children[0], "Homework done");
    const read = () => sql(
      `INSERT INTO message_reads (message_id, user_id) VALUES ($1, $2)
       ON CONFLICT (message_id, user_id) DO UPDATE SET read_at = now()`, [id, fam.parents[0]]);
    let got = await change(read);
    expectExactly(got, every(joined, ["message.read"]), fam.names);
    const p = payloadOf(got, fam.children[0], "message.read");
    assert.equal(p.messageId, id);
    assert.equal(p.chatId, chatId);
    assert.equal(p.userId, fam.parents[0]);
    assert.ok(p.readAt);
    assert.equal(p.receipt.readAt, p.readAt);
    got = await change(read);
    expectExactly(got, {}, fam.names);
  });

  test("a client that leaves the room gets no more messages", async () => {
    const robin = clients.get(fam.children[0]).socket;
    const ack = await robin.timeout(10000).emitWithAck("room:leave", { chatId });
    assert.equal(ack.ok, true);
    const got = await change(() => sendMessage(fam.parents[0], "Anyone?"));
    expectExactly(got, { [fam.parents[0]]: ["message.new"] }, fam.names);
  });
});
