// Helpers for connection-state recovery tests: clients that reconnect by themselves and keep
// everything they receive, events published through realtime.publish, and the checks that
// compare what each client received with the outbox.
import { randomBytes } from "node:crypto";
import { io } from "socket.io-client";
import { eventSource, eventually } from "./harness.mjs";

/**
 * Connects a client that reconnects by itself (as the seed's clients do) and records every
 * event with its offset, and every connection with socket.recovered. Resolves once connected.
 */
export function connectRecording(url, token, opts = {}) {
  const socket = io(url, {
    auth: { token },
    forceNew: true,
    reconnection: true,
    reconnectionDelay: 50,
    reconnectionDelayMax: 300,
    randomizationFactor: 0.5,
    ...opts,
  });
  const client = { socket, events: [], connects: [], errors: [] };
  socket.onAny((event, ...args) => {
    client.events.push({ event, payload: args[0], offset: args[args.length - 1] });
  });
  socket.on("connect", () => client.connects.push({ recovered: socket.recovered, id: socket.id, at: Date.now() }));
  socket.on("connect_error", (err) => client.errors.push(err.message));
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error("connect timed out: " + client.errors.join("; "))), 15000);
    socket.once("connect", () => {
      clearTimeout(timer);
      resolve(client);
    });
  });
}

/**
 * Drops a client's connection as a network failure would (the client sees "transport close"
 * and, with reconnection on, comes back with its pid and offset).
 */
export function dropConnection(client) {
  client.socket.io.engine?.close();
}

/**
 * The advisory lock that orders the stream's positions (cluster.StreamOrderLock): a test that
 * holds it in a transaction keeps the wal source's reader from appending.
 */
export const STREAM_ORDER_LOCK = "8243113893085555045";

/** Publishes one event to users and rooms; resolves with its outbox id. */
export async function publish(pool, event, users, rooms, payload) {
  const { rows } = await pool.query("SELECT realtime.publish($1, $2::text[], $3::text[], $4::jsonb) AS id", [
    event, users, rooms, JSON.stringify(payload),
  ]);
  return rows[0].id;
}

/**
 * Resolves once every event committed before the call is in realtime.events. With the notify
 * source that is at once (positions are given at commit); with the wal source the node reading
 * the slot appends committed events shortly after: a marker event (addressed to nobody) is
 * published and awaited, since the stream is appended in commit order.
 */
export async function streamSynced(pool, ms = 60000) {
  if (eventSource() !== "wal") return;
  const token = randomBytes(8).toString("hex");
  await pool.query("SELECT realtime.publish('e2e.sync', ARRAY['e2e-sync-nobody'], '{}', jsonb_build_object('token', $1::text))", [token]);
  await eventually(
    async () => (await pool.query("SELECT 1 FROM realtime.events WHERE event = 'e2e.sync' AND payload->>'token' = $1", [token])).rowCount === 1,
    ms, "the wal source to append every committed event",
  );
}

/** Returns every event of the outbox, in commit order: {pos, event, users, rooms, payload}. */
export async function outbox(pool) {
  await streamSynced(pool);
  const { rows } = await pool.query(
    "SELECT e.pos::text AS pos, e.event, e.users, e.rooms, e.payload FROM realtime.events e WHERE e.pos IS NOT NULL ORDER BY e.pos",
  );
  return rows;
}

/** The positions of the outbox's events addressed to userId or to one of rooms. */
export function addressedTo(events, userId, rooms = [], predicate = () => true) {
  return events
    .filter((e) => predicate(e) && (e.users.includes(userId) || e.rooms.some((r) => rooms.includes(r))))
    .map((e) => e.pos);
}

/**
 * Waits until client has received exactly the events at positions want (strings), then
 * checks that it received them once each and in commit order. only filters the received
 * events that count (default: all).
 */
export async function expectExactly(client, want, { ms = 30000, only = () => true, label = "client" } = {}) {
  const received = () => client.events.filter(only).map((e) => e.offset);
  try {
    await eventually(() => received().length >= want.length, ms, `${label}: ${want.length} events`);
  } catch (err) {
    throw new Error(`${err.message}; got ${received().length}\n${describe(received(), want)}`);
  }
  await new Promise((r) => setTimeout(r, 200)); // room for a duplicate to show up
  const got = received();
  const same = got.length === want.length && got.every((p, i) => p === want[i]);
  if (!same) {
    throw new Error(`${label} did not receive exactly its events in commit order\n${describe(got, want)}\n` +
      `got  ${JSON.stringify(got.slice(-30))}\nwant ${JSON.stringify(want.slice(-30))}`);
  }
}

/** Says how got differs from want (missing, unexpected, duplicated, out of order). */
export function describe(got, want) {
  const g = new Set(got);
  const w = new Set(want);
  const missing = want.filter((p) => !g.has(p));
  const extra = got.filter((p) => !w.has(p));
  const dups = got.filter((p, i) => got.indexOf(p) !== i);
  const disorder = got.findIndex((p, i) => i > 0 && BigInt(p) <= BigInt(got[i - 1]));
  return `missing ${JSON.stringify(missing.slice(0, 20))} (${missing.length}), unexpected ${JSON.stringify(extra.slice(0, 20))}, ` +
    `duplicates ${JSON.stringify(dups.slice(0, 20))}, first out-of-order index ${disorder}`;
}
