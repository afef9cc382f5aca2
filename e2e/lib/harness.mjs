// Test harness: a fresh database per server, a realtimed process, and official
// socket.io-client helpers. Needs REALTIME_TEST_DATABASE_URL (make test provides it) and
// REALTIMED_BIN (the built binary); without them the tests fail, they never skip.
import { spawn } from "node:child_process";
import { createHmac, randomBytes } from "node:crypto";
import { readFileSync } from "node:fs";
import https from "node:https";
import net from "node:net";
import path from "node:path";
import { fileURLToPath } from "node:url";
import pg from "pg";
import { io } from "socket.io-client";

const here = path.dirname(fileURLToPath(import.meta.url));
export const repoRoot = path.resolve(here, "../..");

export function adminURL() {
  const url = process.env.REALTIME_TEST_DATABASE_URL;
  if (!url) {
    throw new Error("REALTIME_TEST_DATABASE_URL is not set: run `make test` (it starts a private PostgreSQL)");
  }
  return url;
}

/**
 * The event source the tests run nodes with: REALTIME_E2E_SOURCE (notify or wal; default notify,
 * realtimed's default). scripts/test.sh runs the chaos tests once more with wal.
 */
export function eventSource() {
  const source = process.env.REALTIME_E2E_SOURCE || "notify";
  if (!["notify", "wal"].includes(source)) throw new Error(`REALTIME_E2E_SOURCE=${source}: notify or wal`);
  return source;
}

function binary() {
  return process.env.REALTIMED_BIN || path.join(repoRoot, "bin/realtimed");
}

function withDatabase(url, name) {
  const u = new URL(url);
  u.pathname = "/" + name;
  return u.toString();
}

/** Creates an empty database; returns its URL and a drop function. */
export async function createDatabase() {
  const name = "e2e_" + randomBytes(6).toString("hex");
  const admin = new pg.Client({ connectionString: adminURL() });
  await admin.connect();
  await admin.query(`CREATE DATABASE ${name}`);
  await admin.end();
  return {
    url: withDatabase(adminURL(), name),
    async drop() {
      await dropDatabase(adminURL(), name);
    },
  };
}

/**
 * Drops a database after its replication slots (the wal source's: PostgreSQL refuses to drop a
 * database a slot decodes), ending the sessions that still read them.
 */
export async function dropDatabase(admin, name) {
  const c = new pg.Client({ connectionString: admin });
  await c.connect();
  try {
    for (let attempt = 0; ; attempt++) {
      await c.query("SELECT pg_terminate_backend(active_pid) FROM pg_replication_slots WHERE database = $1 AND active_pid IS NOT NULL", [name]);
      try {
        await c.query("SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots WHERE database = $1", [name]);
        break;
      } catch (err) {
        if (attempt >= 50) throw err; // a slot still active: its walsender is ending
        await sleep(100);
      }
    }
    await c.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
  } finally {
    await c.end();
  }
}

export async function freePort() {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.on("error", reject);
    srv.listen(0, "127.0.0.1", () => {
      const { port } = srv.address();
      srv.close(() => resolve(port));
    });
  });
}

export const JWT_SECRET = "e2e-secret";

/**
 * Starts realtimed on a free port (or on port, to restart a node where its clients expect it).
 * With no databaseURL a fresh database is created (migrated by realtimed itself, reference
 * schema included) and dropped by stop().
 */
export async function startServer({ env = {}, databaseURL, port } = {}) {
  let db = null;
  if (!databaseURL) {
    db = await createDatabase();
    databaseURL = db.url;
  }
  port ??= await freePort();
  const child = spawn(binary(), ["serve"], {
    env: {
      PATH: process.env.PATH,
      DATABASE_URL: databaseURL,
      REALTIME_ADDR: `127.0.0.1:${port}`,
      REALTIME_JWT_SECRET: JWT_SECRET,
      REALTIME_REFERENCE_SCHEMA: "true",
      REALTIME_LOG_LEVEL: "debug",
      REALTIME_SOURCE: eventSource(),
      // Slot names are the server's, not the database's: one per database.
      REALTIME_WAL_SLOT: "rt_" + new URL(databaseURL).pathname.slice(1),
      ...env,
    },
    stdio: ["ignore", "pipe", "pipe"],
  });
  const logs = [];
  const collect = (chunk) => logs.push(...chunk.toString().split("\n").filter(Boolean));
  child.stdout.on("data", collect);
  child.stderr.on("data", collect);
  const exited = new Promise((resolve) => child.on("exit", (code, signal) => resolve({ code, signal })));
  // With REALTIME_TLS_CERT the server speaks HTTPS; readiness is checked trusting that cert.
  const tlsCA = env.REALTIME_TLS_CERT ? readFileSync(env.REALTIME_TLS_CERT) : null;
  const url = `${tlsCA ? "https" : "http"}://127.0.0.1:${port}`;
  const pool = new pg.Pool({ connectionString: databaseURL, max: 4 });
  // An idle connection that the database closes (DROP DATABASE … WITH (FORCE) at stop, a test
  // terminating backends) must not crash the test process: note it in the logs instead.
  pool.on("error", (err) => logs.push(`e2e pool: ${err.message}`));
  const server = {
    url,
    port,
    databaseURL,
    child,
    logs,
    exited,
    pool,
    async stop(signal = "SIGTERM") {
      if (child.exitCode === null && child.signalCode === null) child.kill(signal);
      const result = await exited;
      await server.pool.end();
      if (db) await db.drop();
      return result;
    },
  };
  try {
    await waitReady(url, exited, logs, 20000, tlsCA);
  } catch (err) {
    await server.stop("SIGKILL");
    throw err;
  }
  return server;
}

export async function waitReady(url, exited, logs, timeoutMs = 20000, ca = null) {
  const deadline = Date.now() + timeoutMs;
  let done = false;
  exited.then(() => (done = true));
  while (Date.now() < deadline) {
    if (done) throw new Error("realtimed exited during startup:\n" + logs.join("\n"));
    try {
      if ((await readyStatus(url, ca)) === 200) return;
    } catch {}
    await sleep(50);
  }
  throw new Error("realtimed not ready in time:\n" + logs.join("\n"));
}

function readyStatus(url, ca) {
  if (!ca) return fetch(url + "/readyz").then((r) => r.status);
  return new Promise((resolve, reject) => {
    https.get(url + "/readyz", { ca }, (res) => {
      res.resume();
      resolve(res.statusCode);
    }).on("error", reject);
  });
}

export function sleep(ms) {
  return new Promise((r) => setTimeout(r, ms));
}

function b64url(buf) {
  return Buffer.from(buf).toString("base64url");
}

/** Signs a JWT (HS256 unless header overrides) with claims; exp defaults to +1h. */
export function signJWT(claims, { secret = JWT_SECRET, header = { alg: "HS256", typ: "JWT" } } = {}) {
  const now = Math.floor(Date.now() / 1000);
  const body = { iat: now, exp: now + 3600, ...claims };
  const data = b64url(JSON.stringify(header)) + "." + b64url(JSON.stringify(body));
  const sig = header.alg === "none" ? "" : createHmac("sha256", secret).update(data).digest("base64url");
  return data + "." + sig;
}

export function tokenFor(userId, claims = {}) {
  return signJWT({ sub: userId, ...claims });
}

/** Connects with the official client; resolves when connected, rejects on connect_error. */
export function connect(server, token, opts = {}) {
  const socket = io(server.url, { auth: { token }, reconnection: false, forceNew: true, ...opts });
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      socket.close();
      reject(new Error("connect timed out"));
    }, 10000);
    socket.once("connect", () => {
      clearTimeout(timer);
      resolve(socket);
    });
    socket.once("connect_error", (err) => {
      clearTimeout(timer);
      socket.close();
      reject(err);
    });
  });
}

/** Resolves with the first payload of event (and its extra arguments), or rejects after ms. */
export function waitForEvent(socket, event, ms = 5000) {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      socket.off(event, on);
      reject(new Error(`no ${event} within ${ms}ms`));
    }, ms);
    function on(payload, ...rest) {
      clearTimeout(timer);
      socket.off(event, on);
      resolve({ payload, rest });
    }
    socket.on(event, on);
  });
}

/** Records every event a socket receives. */
export function record(socket) {
  const events = [];
  socket.onAny((event, ...args) => events.push({ event, args }));
  return events;
}

/** Resolves when fn() is truthy, polling; rejects after ms. */
export async function eventually(fn, ms = 5000, what = "condition") {
  const deadline = Date.now() + ms;
  while (Date.now() < deadline) {
    const v = await fn();
    if (v) return v;
    await sleep(20);
  }
  throw new Error(`timed out waiting for ${what}`);
}

/** Creates a family with members; returns ids. */
export async function createFamily(pool, roles = ["parent", "child"]) {
  const { rows } = await pool.query("INSERT INTO families (name) VALUES ('Test family') RETURNING id");
  const familyId = rows[0].id;
  const members = [];
  for (const [i, role] of roles.entries()) {
    const r = await pool.query(
      "INSERT INTO users (family_id, name, role) VALUES ($1, $2, $3) RETURNING id",
      [familyId, `${role} ${i}`, role],
    );
    members.push({ id: r.rows[0].id, role });
  }
  return { familyId, members };
}
