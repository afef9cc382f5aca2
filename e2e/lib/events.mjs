// Helpers for the per-event end-to-end tests: a client per user, a change made in SQL, and
// exactly what each client received because of it.
//
// "Only they" without sleeping: before and after the change, a barrier event is published to
// every client's user room in a transaction of its own. Events reach a socket in commit order,
// so what a client got between the two barriers is exactly what the change sent it: nothing of
// an earlier change (it came before the first barrier), all of this one (before the second).
import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import { connect, eventually, tokenFor } from "./harness.mjs";

const BARRIER = "e2e.barrier";

/** Connects one official socket.io-client per user id; returns them keyed by user id. */
export async function connectUsers(server, userIds, opts = {}) {
  const clients = new Map();
  for (const id of userIds) {
    const socket = await connect(server, tokenFor(id), opts);
    const received = [];
    socket.onAny((event, payload, ...rest) => received.push({ event, payload, rest }));
    clients.set(id, { id, socket, received });
  }
  return clients;
}

export function closeAll(clients) {
  for (const c of clients.values()) c.socket.close();
}

/** Publishes a barrier to every client's user room; resolves with, per user id, its index. */
async function barrier(server, clients, from) {
  const nonce = randomUUID();
  await server.pool.query("SELECT realtime.publish($1, $2::text[], '{}', $3::jsonb)", [
    BARRIER, [...clients.keys()], JSON.stringify({ nonce }),
  ]);
  const at = new Map();
  for (const [id, c] of clients) {
    const find = () => c.received.findIndex((e, i) => i >= (from?.get(id) ?? 0) && e.event === BARRIER && e.payload?.nonce === nonce);
    await eventually(() => find() >= 0, 15000, `the barrier at user ${id}`);
    at.set(id, find());
  }
  return at;
}

/**
 * Runs change (async, makes the SQL change) and returns, per user id, the events the change
 * delivered to that user's client: [{ event, payload, rest }]. Events of earlier changes
 * (still on their way when this is called) are left out by a first barrier.
 */
export async function deliveries(server, clients, change) {
  const before = await barrier(server, clients);
  await change();
  const after = await barrier(server, clients, before);
  const out = new Map();
  for (const [id, c] of clients) {
    out.set(id, c.received.slice(before.get(id) + 1, after.get(id)).filter((e) => e.event !== BARRIER));
  }
  return out;
}

/**
 * Asserts that every client received exactly the events expected[userId] (event names, in
 * order; users not listed: nothing), and returns the payloads of event by user id.
 */
export function expectExactly(got, expected, names = {}) {
  for (const [id, events] of got) {
    const want = expected[id] ?? [];
    assert.deepEqual(events.map((e) => e.event), want, `events received by ${names[id] ?? id}`);
    for (const e of events) assert.equal(typeof e.rest[0], "string", `${e.event} carries its offset last`);
  }
}

/** The payload of event received by user id (asserting there is one). */
export function payloadOf(got, id, event) {
  const e = got.get(id)?.find((x) => x.event === event);
  assert.ok(e, `user ${id} received no ${event}`);
  return e.payload;
}

/** The row's entity as the rules publish it (camelCase keys), read back from the database. */
export async function entityOf(pool, table, id, key = "id") {
  const { rows } = await pool.query(`SELECT realtime.entity(to_jsonb(t)) AS e FROM ${table} t WHERE ${key} = $1`, [id]);
  assert.equal(rows.length, 1, `${table} ${id} exists`);
  return rows[0].e;
}

/** A family of two parents and two children, plus a member of another family. */
export async function familyOfFour(pool) {
  const q = async (sql, args) => (await pool.query(sql, args)).rows[0].id;
  const familyId = await q("INSERT INTO families (name) VALUES ('E2E family') RETURNING id");
  const user = (name, role, fam = familyId) =>
    q("INSERT INTO users (family_id, name, role) VALUES ($1, $2, $3) RETURNING id", [fam, name, role]);
  const parents = [await user("Alex", "parent"), await user("Sam", "parent")];
  const children = [await user("Robin", "child"), await user("Kim", "child")];
  const otherFamily = await q("INSERT INTO families (name) VALUES ('Other family') RETURNING id");
  const outsider = await user("Nat", "parent", otherFamily);
  const names = {
    [parents[0]]: "parent Alex", [parents[1]]: "parent Sam",
    [children[0]]: "child Robin", [children[1]]: "child Kim", [outsider]: "outsider Nat",
  };
  return { familyId, parents, children, outsider, everyone: [...parents, ...children, outsider], names };
}
