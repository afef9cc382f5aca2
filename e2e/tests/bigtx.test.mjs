// One transaction of 10,000 events, committed while 4 writers commit small transactions (one in
// ten rolled back) and a client drops its connection: every client receives exactly the events
// addressed to it, the 10,000 among them in one unbroken run, once each, in commit order; a
// rolled-back transaction of 10,000 events delivers nothing. Runs with either event source
// (REALTIME_E2E_SOURCE).
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { createFamily, eventually, sleep, startServer, tokenFor } from "../lib/harness.mjs";
import { rand, startWriters } from "../lib/load.mjs";
import { addressedTo, connectRecording, dropConnection, expectExactly, outbox } from "../lib/recovery.mjs";

const BIG = 10_000;

let server;

before(async () => {
  server = await startServer({ env: { REALTIME_LOG_LEVEL: "info" } });
});
after(async () => {
  await server?.stop();
});

async function bigTransaction(user, event, end) {
  const client = await server.pool.connect();
  try {
    await client.query("BEGIN");
    await client.query(
      "SELECT realtime.publish($2, ARRAY[$1], '{}', jsonb_build_object('big', k)) FROM generate_series(1, $3::int) k",
      [user, event, BIG],
    );
    await client.query(end);
  } finally {
    client.release();
  }
}

test("one transaction of 10,000 events among small ones, a client reconnecting: exactly once, in commit order", async () => {
  const family = await createFamily(server.pool, ["parent", "child"]);
  const users = family.members.map((m) => m.id);
  const clients = [];
  try {
    await run(users, clients);
  } finally {
    for (const c of clients) c.socket.close();
  }
});

async function run(users, clients) {
  for (const [i, user] of users.entries()) {
    for (const transports of [["websocket"], ["polling", "websocket"]]) {
      const c = await connectRecording(server.url, tokenFor(user), { transports });
      c.user = user;
      c.label = `client ${clients.length} (user ${i}, ${transports.join("+")})`;
      clients.push(c);
    }
  }
  const writers = startWriters(server.databaseURL, 4, () => ({ users: [users[rand(0, users.length - 1)]], rooms: [] }));
  let stats;
  try {
    await sleep(500);
    await bigTransaction(users[0], "load", "ROLLBACK");
    const big = bigTransaction(users[0], "load", "COMMIT");
    await sleep(rand(50, 300));
    dropConnection(clients[1]); // while the transaction runs
    await big;
    dropConnection(clients[0]); // while its events are delivered
    await sleep(1000);
  } finally {
    stats = await writers.stop();
  }
  await eventually(() => clients.every((c) => c.socket.connected), 30000, "every client connected again");
  const events = await outbox(server.pool);
  const bigOnes = events.filter((e) => e.payload.big !== undefined);
  assert.equal(bigOnes.length, BIG, "the committed big transaction's events in the stream, the rolled-back one's not");
  // A transaction's events are consecutive in the stream: commit order.
  const first = events.indexOf(bigOnes[0]);
  assert.deepEqual(events.slice(first, first + BIG).map((e) => e.payload.big), Array.from({ length: BIG }, (_, i) => i + 1));
  for (const c of clients) {
    await expectExactly(c, addressedTo(events, c.user, []), { only: (e) => e.event === "load", label: c.label, ms: 60000 });
    assert.ok(c.connects.slice(1).every((x) => x.recovered), `${c.label}: a reconnection was not a recovery`);
  }
  console.log(`big transaction: ${events.length} events, ${stats.committed} small transactions (${stats.rolledBack} rolled back)`);
}
