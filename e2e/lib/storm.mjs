// Reconnect storms (issue 13): a crowd of official clients, each in its user room and a chat
// room, receiving events, loses its node at once and comes back with the client's default
// backoff. Helpers to build the crowd, watch a node and a surviving client during the storm,
// and check that everyone received exactly its events.
import { performance } from "node:perf_hooks";
import { emitWithAck, joinChat } from "./chat.mjs";
import { eventually, sleep, tokenFor } from "./harness.mjs";
import { connectRecording, describe } from "./recovery.mjs";

/** socket.io-client's default reconnection backoff (connectRecording shortens it otherwise). */
export const DEFAULT_BACKOFF = { reconnectionDelay: 1000, reconnectionDelayMax: 5000, randomizationFactor: 0.5 };

/** Number of clients of the storm tests: STORM_CLIENTS, or fallback. */
export function stormClients(fallback) {
  return Number(process.env.STORM_CLIENTS || fallback);
}

/**
 * Creates n users in families of perChat members, each family with one chat of all its
 * members. Returns [{user, chat}], one per user.
 */
export async function createCrowd(pool, n, perChat = 50) {
  const members = [];
  for (let f = 0; f * perChat < n; f++) {
    const size = Math.min(perChat, n - f * perChat);
    const { rows: [{ id: family }] } = await pool.query("INSERT INTO families (name) VALUES ($1) RETURNING id", [`storm ${f}`]);
    const { rows: users } = await pool.query(
      "INSERT INTO users (family_id, name, role) SELECT $1, 'u' || i, 'child' FROM generate_series(1, $2) i RETURNING id",
      [family, size]);
    const { rows: [{ id: chat }] } = await pool.query("INSERT INTO chats (family_id, name) VALUES ($1, 'storm') RETURNING id", [family]);
    await pool.query("INSERT INTO chat_members (chat_id, user_id) SELECT $1, unnest($2::uuid[])", [chat, users.map((u) => u.id)]);
    for (const u of users) members.push({ user: u.id, chat });
  }
  return members;
}

/**
 * Connects one recording client per member to url (websocket, or the client's default
 * transports for every tenth), with the default backoff, and joins its chat; batch at a time.
 */
export async function connectCrowd(url, members, { batch = 250 } = {}) {
  const clients = [];
  for (let i = 0; i < members.length; i += batch) {
    clients.push(...(await Promise.all(members.slice(i, i + batch).map(async (m, j) => {
      const transports = (i + j) % 10 === 0 ? ["polling", "websocket"] : ["websocket"];
      const c = await connectRecording(url, tokenFor(m.user), { transports, ...DEFAULT_BACKOFF });
      await joinChat(c.socket, m.chat);
      return Object.assign(c, { user: m.user, rooms: [`chat:${m.chat}`] });
    }))));
  }
  return clients;
}

/** Polls url's /readyz every intervalMs until stop(), which resolves with [{at, status}]. */
export function pollReady(server, intervalMs = 100) {
  const samples = [];
  let running = true;
  const loop = (async () => {
    while (running) {
      let status = 0;
      try {
        status = (await fetch(server.url + "/readyz", { signal: AbortSignal.timeout(5000) })).status;
      } catch {}
      samples.push({ at: Date.now(), status });
      await sleep(intervalMs);
    }
  })();
  return { samples, async stop() { running = false; await loop; return samples; } };
}

/**
 * Leaves and joins a chat with socket every intervalMs (within the client event rate) until
 * stop(); resolves with the joins: [{at, ms, ok}].
 */
export function probeJoins(socket, chatId, intervalMs = 150) {
  const samples = [];
  let running = true;
  const loop = (async () => {
    while (running) {
      await emitWithAck(socket, "room:leave", { chatId });
      const t = performance.now();
      const ack = await emitWithAck(socket, "room:join", { chatId }).catch((err) => ({ ok: false, error: err.message }));
      samples.push({ at: Date.now(), ms: performance.now() - t, ok: ack?.ok === true, ack });
      await sleep(intervalMs);
    }
  })();
  return { samples, async stop() { running = false; await loop; return samples; } };
}

/**
 * probeJoins on a thread of its own (a worker), with a client of its own that connects to url
 * as token's user and joins chatId first: the acks' times are then the server's, not those of
 * this thread's event loop, busy with the crowd. stop() resolves with the joins.
 */
export async function probeJoinsThread(url, token, chatId, intervalMs = 150) {
  const { Worker } = await import("node:worker_threads");
  const worker = new Worker(new URL(import.meta.url), { workerData: { probe: { url, token, chatId, intervalMs } } });
  const next = () => new Promise((resolve, reject) => {
    worker.once("message", resolve);
    worker.once("error", reject);
  });
  const started = await next();
  if (started.error) throw new Error(`join prober: ${started.error}`);
  return {
    async stop() {
      worker.postMessage("stop");
      const { samples } = await next();
      await worker.terminate();
      return samples;
    },
    terminate: () => worker.terminate(),
  };
}

// In the worker of probeJoinsThread: connect, join, probe until told to stop.
const { isMainThread, parentPort, workerData } = await import("node:worker_threads");
if (!isMainThread && workerData?.probe) {
  const { url, token, chatId, intervalMs } = workerData.probe;
  try {
    const c = await connectRecording(url, token, { transports: ["websocket"] });
    await joinChat(c.socket, chatId);
    const probe = probeJoins(c.socket, chatId, intervalMs);
    parentPort.once("message", async () => {
      const samples = await probe.stop();
      c.socket.close();
      parentPort.postMessage({ samples });
    });
    parentPort.postMessage({ started: true });
  } catch (err) {
    parentPort.postMessage({ error: err.message });
  }
}

/** The p-th percentile (0-100) of numbers. */
export function percentile(values, p) {
  const v = [...values].sort((a, b) => a - b);
  return v.length ? v[Math.min(v.length - 1, Math.ceil((p / 100) * v.length) - 1)] : NaN;
}

/** Resolves with the time (ms after since) by which every client connected after since, or rejects after ms. */
export async function waitAllReconnected(clients, since, ms) {
  await eventually(() => clients.every((c) => c.socket.connected && c.connects.some((x) => x.at >= since)), ms,
    `${clients.length} clients reconnected`).catch((err) => {
    const left = clients.filter((c) => !(c.socket.connected && c.connects.some((x) => x.at >= since)));
    throw new Error(`${err.message}: ${left.length} not back; errors of one: ${JSON.stringify(left[0]?.errors.slice(-5))}`);
  });
  return Math.max(...clients.map((c) => c.connects.find((x) => x.at >= since).at)) - since;
}

/** Describes when clients came back after since: seconds → count, and the errors seen meanwhile. */
export function comebackProfile(clients, since) {
  const bySecond = {};
  const errors = {};
  for (const c of clients) {
    const back = c.connects.find((x) => x.at >= since);
    const s = back ? Math.floor((back.at - since) / 1000) : "never";
    bySecond[s] = (bySecond[s] ?? 0) + 1;
    for (const e of c.errors) errors[e] = (errors[e] ?? 0) + 1;
  }
  return `back by second ${JSON.stringify(bySecond)}; connect errors ${JSON.stringify(errors)}`;
}

/**
 * Checks that each client received exactly the outbox's events named event that were
 * addressed to its user or rooms, once each, in commit order (one wait for the whole crowd).
 */
export async function expectCrowd(clients, outboxEvents, { event = "load", ms = 60000 } = {}) {
  const byKey = new Map();
  for (const e of outboxEvents) {
    if (e.event !== event) continue;
    for (const key of [...e.users, ...e.rooms]) {
      if (!byKey.has(key)) byKey.set(key, []);
      byKey.get(key).push(e.pos);
    }
  }
  const want = new Map(clients.map((c) => [c, [...new Set([c.user, ...c.rooms].flatMap((k) => byKey.get(k) ?? []))]
    .sort((a, b) => (BigInt(a) < BigInt(b) ? -1 : 1))]));
  const got = (c) => c.events.filter((e) => e.event === event).map((e) => e.offset);
  await eventually(() => clients.every((c) => got(c).length >= want.get(c).length), ms, "every client's events").catch((err) => {
    const c = clients.find((x) => got(x).length < want.get(x).length);
    throw new Error(`${err.message}: a client got ${got(c).length} of ${want.get(c).length}\n${describe(got(c), want.get(c))}`);
  });
  await sleep(500); // room for a duplicate to show up
  const wrong = clients.filter((c) => {
    const g = got(c);
    const w = want.get(c);
    return g.length !== w.length || g.some((p, i) => p !== w[i]);
  });
  if (wrong.length > 0) {
    throw new Error(`${wrong.length} clients did not receive exactly their events in commit order; one:\n` +
      describe(got(wrong[0]), want.get(wrong[0])));
  }
  return [...want.values()].reduce((n, w) => n + w.length, 0);
}
