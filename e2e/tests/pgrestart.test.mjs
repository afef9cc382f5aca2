// The PostgreSQL-restart test (issue 6, "Done when"), on a cluster of the test's own: under
// load, PostgreSQL is restarted cleanly, then crashed and restarted; clients stay connected or
// reconnect (some are dropped while the database is away). Every acknowledged event reaches
// each of its clients once, in commit order; /readyz is 503 while the listener is cut off and
// 200 once it has caught up.
import assert from "node:assert/strict";
import { test } from "node:test";
import { createFamily, eventually, sleep, startServer, tokenFor } from "../lib/harness.mjs";
import { startPgCluster } from "../lib/pgcluster.mjs";
import { rand, startWriters } from "../lib/load.mjs";
import { addressedTo, connectRecording, dropConnection, expectExactly, outbox } from "../lib/recovery.mjs";

test("PostgreSQL restarts (clean and crash) under load: nothing lost or repeated, /readyz follows", async () => {
  const cluster = await startPgCluster();
  let server, writers;
  const clients = [];
  const readiness = [];
  let watching = true;
  try {
    server = await startServer({ databaseURL: await cluster.createDatabase("restarts"), env: { REALTIME_LOG_LEVEL: "info" } });
    server.pool.on("error", () => {});
    const family = await createFamily(server.pool, ["parent", "child", "child"]);
    const users = family.members.map((m) => m.id);
    for (const user of users) {
      for (const transports of [["websocket"], ["polling"]]) {
        const c = await connectRecording(server.url, tokenFor(user), { transports });
        c.user = user;
        c.label = `client ${clients.length} (${transports[0]})`;
        clients.push(c);
      }
    }
    const watch = (async () => {
      while (watching) {
        try {
          readiness.push((await fetch(server.url + "/readyz")).status);
        } catch {
          readiness.push(0);
        }
        await sleep(50);
      }
    })();
    writers = startWriters(server.databaseURL, 4, () => ({ users: [users[rand(0, users.length - 1)]], rooms: [] }));
    for (const mode of ["fast", "immediate"]) {
      await sleep(1500);
      const restarting = cluster.restart(mode);
      dropConnection(clients[rand(0, clients.length - 1)]); // reconnects while the database is away
      await restarting;
      await eventually(() => readiness.at(-1) === 200, 60000, `ready again after the ${mode} restart`);
    }
    await sleep(1000);
    const stats = await writers.stop();
    writers = null;
    watching = false;
    await watch;

    await eventually(() => clients.every((c) => c.socket.connected), 60000, "every client connected");
    const events = await outbox(server.pool);
    assert.ok(events.length >= stats.committed, `${events.length} events for ${stats.committed} acknowledged transactions`);
    for (const c of clients) {
      await expectExactly(c, addressedTo(events, c.user, [], (e) => e.event === "load"), {
        only: (e) => e.event === "load", label: c.label, ms: 60000,
      });
      assert.ok(c.connects.slice(1).every((x) => x.recovered), `${c.label}: a reconnection was not a recovery`);
    }
    assert.ok(readiness.includes(503), "/readyz answered 503 while PostgreSQL was away");
    assert.equal(readiness.at(-1), 200);
    console.log(`pg restart: ${events.length} events in ${stats.committed} transactions (${stats.failed} failed during the restarts), ` +
      `readiness ${readiness.filter((s) => s !== 200).length} of ${readiness.length} checks not ready, ` +
      `${server.logs.filter((l) => l.includes("refused for now")).length} connections asked to retry later`);
  } finally {
    watching = false;
    await writers?.stop();
    for (const c of clients) c.socket.close();
    await server?.stop();
    await cluster.stop();
  }
});
