// Fleet mode (issue 17): what is not an event of the stream works across nodes too. A typing
// indicator sent on one node reaches a chat member on another (typing stays on PostgreSQL's
// control channel); a member removed from a chat (realtime.revoke_chat_member, an internal
// event on realtime:internal, which every node subscribes to) leaves the chat's room on the
// node that holds its socket before any later chat event reaches it.
import assert from "node:assert/strict";
import { test } from "node:test";
import { emitWithAck, joinChat, publishToChat } from "../lib/chat.mjs";
import { eventually, tokenFor, waitForEvent } from "../lib/harness.mjs";
import { addMembers, createPopulation, startFleet, startNats } from "../lib/fleet.mjs";
import { connectRecording } from "../lib/recovery.mjs";

test("fleet: typing indicators and revocations cross nodes", { timeout: 120000 }, async () => {
  const nats = await startNats();
  const fleet = await startFleet(2, () => nats.url);
  const clients = [];
  try {
    const { users: [ann, bob], chats: [chat] } = await createPopulation(fleet.pool, 2, 1);
    await addMembers(fleet.pool, [[chat, ann], [chat, bob]]);
    const a = await connectRecording(fleet.nodes[0].url, tokenFor(ann), { transports: ["websocket"] });
    const b = await connectRecording(fleet.nodes[1].url, tokenFor(bob), { transports: ["websocket"] });
    clients.push(a, b);
    await joinChat(a.socket, chat);
    await joinChat(b.socket, chat);

    const started = waitForEvent(b.socket, "typing.started");
    assert.deepEqual(await emitWithAck(a.socket, "typing:start", { chatId: chat }), { ok: true });
    assert.deepEqual((await started).payload, { chatId: chat, userId: ann });

    await publishToChat(fleet.pool, chat, "message.created", { n: 1 });
    await eventually(() => b.events.some((e) => e.event === "message.created"), 10000, "bob gets the first message");

    await fleet.pool.query("SELECT realtime.revoke_chat_member($1, $2)", [chat, bob]);
    await publishToChat(fleet.pool, chat, "message.created", { n: 2 });
    await eventually(() => a.events.filter((e) => e.event === "message.created").length === 2, 10000, "ann gets both messages");
    await new Promise((r) => setTimeout(r, 500));
    const bobs = b.events.filter((e) => e.event === "message.created").map((e) => e.payload.n);
    assert.deepEqual(bobs, [1], "bob, removed from the chat on another node, got a message sent after the removal");
  } finally {
    for (const c of clients) c.socket.close();
    await fleet.stop();
    await nats.stop();
  }
});
