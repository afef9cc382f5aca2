// Fleet mode (REALTIME_BUS) for end-to-end tests: a NATS server of our own (bin/realtime-nats,
// the embedded nats-server, on a free port: never the machine's 4222) and realtimed nodes that
// route the stream through it.
import { spawn } from "node:child_process";
import path from "node:path";
import { createDatabase, eventually, freePort, repoRoot, sleep, startServer } from "./harness.mjs";
import { describe } from "./recovery.mjs";
import { scrape } from "./ops.mjs";

function natsBinary() {
  const realtimed = process.env.REALTIMED_BIN;
  return realtimed ? path.join(path.dirname(realtimed), "realtime-nats") : path.join(repoRoot, "bin/realtime-nats");
}

/** Starts a NATS server on port (a free one by default); restart() brings it back on the same port. */
export async function startNats(port) {
  port ??= await freePort();
  const nats = { port, url: `nats://127.0.0.1:${port}`, child: null };
  nats.start = async () => {
    for (let attempt = 0; ; attempt++) {
      const child = spawn(natsBinary(), ["-addr", `127.0.0.1:${port}`], { stdio: ["ignore", "pipe", "pipe"] });
      const ok = await new Promise((resolve) => {
        let out = "";
        child.stdout.on("data", (b) => {
          out += b;
          if (out.includes("listening on")) resolve(true);
        });
        child.on("exit", () => resolve(false));
      });
      if (ok) {
        nats.child = child;
        return;
      }
      if (attempt >= 50) throw new Error(`realtime-nats did not start on port ${port}`);
      await sleep(100); // the port may linger for a moment after a stop
    }
  };
  nats.stop = async (signal = "SIGTERM") => {
    const child = nats.child;
    if (!child || child.exitCode !== null || child.signalCode !== null) return;
    const exited = new Promise((resolve) => child.on("exit", resolve));
    child.kill(signal);
    await exited;
  };
  nats.restart = async (downMs = 1000) => {
    await nats.stop("SIGKILL");
    await sleep(downMs);
    await nats.start();
  };
  await nats.start();
  return nats;
}

/**
 * Starts n realtimed nodes in fleet mode on one fresh database; natsURL(i) is node i's
 * REALTIME_BUS (so that a node can reach NATS through a proxy). stop() stops them and drops
 * the database.
 */
export async function startFleet(n, natsURL, { env = {} } = {}) {
  const db = await createDatabase();
  const nodes = [];
  const start = (i) => startServer({ databaseURL: db.url, env: { REALTIME_LOG_LEVEL: "info", ...env, REALTIME_BUS: natsURL(i) } });
  try {
    nodes.push(await start(0));
    for (let i = 1; i < n; i++) nodes.push(await start(i));
  } catch (err) {
    await Promise.all(nodes.map((s) => s.stop("SIGKILL")));
    await db.drop();
    throw err;
  }
  return {
    nodes,
    pool: nodes[0].pool,
    databaseURL: db.url,
    async stop() {
      await Promise.all(nodes.map((s) => s.stop()));
      await db.drop();
    },
  };
}

/** Reads a node's Prometheus metrics into {name{labels}: value} (ops.mjs's scrape). */
export const metricsOf = scrape;

/** Creates one family with n users and chats chats; returns {users, chats} (uuids). */
export async function createPopulation(pool, n, chats) {
  const { rows: [{ id: family }] } = await pool.query("INSERT INTO families (name) VALUES ('fleet') RETURNING id");
  const { rows: users } = await pool.query(
    "INSERT INTO users (family_id, name, role) SELECT $1, 'u' || i, 'child' FROM generate_series(1, $2) i RETURNING id",
    [family, n],
  );
  const { rows: chatRows } = await pool.query(
    "INSERT INTO chats (family_id, name) SELECT $1, 'c' || i FROM generate_series(1, $2) i RETURNING id",
    [family, chats],
  );
  return { users: users.map((r) => r.id), chats: chatRows.map((r) => r.id) };
}

/** Adds users to chats: pairs is [[chatId, userId], …]. */
export async function addMembers(pool, pairs) {
  for (let i = 0; i < pairs.length; i += 1000) {
    const part = pairs.slice(i, i + 1000);
    await pool.query("INSERT INTO chat_members (chat_id, user_id) SELECT * FROM unnest($1::uuid[], $2::uuid[])",
      [part.map((p) => p[0]), part.map((p) => p[1])]);
  }
}

/** Which node publishes: the index of the node whose realtimed_bus_publisher is 1, or -1. */
export async function publisherIndex(nodes) {
  for (const [i, node] of nodes.entries()) {
    if (node.child.exitCode !== null || node.child.signalCode !== null) continue;
    try {
      if ((await metricsOf(node))["realtimed_bus_publisher"] === 1) return i;
    } catch {
      // a node going down
    }
  }
  return -1;
}

/**
 * Waits until every client received at least its events (c.want, positions as strings, of
 * events passing only), then checks that each received exactly them, once each, in commit
 * order. All clients at once: one wait, not one per client.
 */
export async function expectAllExactly(clients, { only = () => true, ms = 60000 } = {}) {
  const received = (c) => c.events.filter(only).map((e) => e.offset);
  try {
    await eventually(() => clients.every((c) => received(c).length >= c.want.length), ms, "every client's events");
  } catch (err) {
    const late = clients.filter((c) => received(c).length < c.want.length);
    throw new Error(`${err.message}: ${late.length} clients short, e.g. ${late[0].label}: ${describe(received(late[0]), late[0].want)}`);
  }
  await sleep(500); // room for a duplicate to show up
  for (const c of clients) {
    const got = received(c);
    if (got.length !== c.want.length || got.some((p, i) => p !== c.want[i])) {
      throw new Error(`${c.label} did not receive exactly its events in commit order\n${describe(got, c.want)}`);
    }
  }
}
