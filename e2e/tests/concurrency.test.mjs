// The concurrency test (issue 6, "Done when"): 16 writers commit transactions of random length
// while clients drop their connections and come back at random and the listener's backend is
// terminated every few hundred milliseconds. Each client must receive exactly the events
// published to it (its user room and the chat rooms it joined once, before the load), once
// each, in commit order; every reconnection must be a recovery.
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { createChat, joinChat } from "../lib/chat.mjs";
import { createFamily, eventually, sleep, startServer, tokenFor } from "../lib/harness.mjs";
import { every, rand, startWriters, terminateListener } from "../lib/load.mjs";
import { addressedTo, connectRecording, dropConnection, expectExactly, outbox } from "../lib/recovery.mjs";

const USERS = 6;
const WRITERS = 16;
const LOAD_MS = 8000;

let server;

before(async () => {
  server = await startServer({ env: { REALTIME_LOG_LEVEL: "info" } });
});
after(async () => {
  await server?.stop();
});

test("16 writers, clients reconnecting at random, the listener terminated: exactly once, in commit order", async () => {
  const family = await createFamily(server.pool, Array.from({ length: USERS }, (_, i) => (i % 2 ? "child" : "parent")));
  const users = family.members.map((m) => m.id);
  const chats = [
    { id: await createChat(server.pool, family.familyId, users.slice(0, 3), "first half") },
    { id: await createChat(server.pool, family.familyId, users.slice(2), "second half") },
  ];
  chats[0].members = users.slice(0, 3);
  chats[1].members = users.slice(2);

  // Two clients per user, over different transports; each joins its user's chats once.
  const clients = [];
  for (const [i, user] of users.entries()) {
    for (const transports of [["websocket"], ["polling", "websocket"]]) {
      const c = await connectRecording(server.url, tokenFor(user), { transports });
      c.user = user;
      c.rooms = [];
      for (const chat of chats.filter((ch) => ch.members.includes(user))) {
        await joinChat(c.socket, chat.id);
        c.rooms.push(`chat:${chat.id}`);
      }
      c.label = `client ${clients.length} (user ${i}, ${transports.join("+")})`;
      clients.push(c);
    }
  }

  const writers = startWriters(server.databaseURL, WRITERS, () =>
    Math.random() < 0.7
      ? { users: [users[rand(0, USERS - 1)]], rooms: [] }
      : { users: [], rooms: [`chat:${chats[rand(0, 1)].id}`] },
  );
  const killer = every(200, 500, () => terminateListener(server.pool));
  const dropper = every(50, 250, () => dropConnection(clients[rand(0, clients.length - 1)]));
  await sleep(LOAD_MS);
  const drops = await dropper.stop();
  const kills = await killer.stop();
  const stats = await writers.stop();

  await eventually(() => clients.every((c) => c.socket.connected), 30000, "every client connected again");
  const events = await outbox(server.pool);
  assert.ok(stats.committed > 100, `only ${stats.committed} transactions committed`);
  assert.ok(kills >= 10 && drops >= 25, `only ${kills} listener terminations and ${drops} dropped connections`);
  let reconnections = 0;
  for (const c of clients) {
    await expectExactly(c, addressedTo(events, c.user, c.rooms, (e) => e.event === "load"), {
      only: (e) => e.event === "load", label: c.label, ms: 60000,
    });
    const again = c.connects.slice(1);
    reconnections += again.length;
    assert.ok(again.every((x) => x.recovered), `${c.label}: a reconnection was not a recovery`);
    c.socket.close();
  }
  assert.ok(reconnections >= drops / 2, `${reconnections} reconnections for ${drops} drops`);
  console.log(`concurrency: ${events.length} events in ${stats.committed} transactions (${stats.rolledBack} rolled back), ` +
    `${kills} listener terminations, ${drops} dropped connections, ${reconnections} recoveries, ${clients.length} clients`);
});
