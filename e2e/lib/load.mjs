// Load for the zero-loss tests: writers that publish in transactions of random length (some
// rolled back), and disruptions that run at random intervals until stopped.
import pg from "pg";
import { sleep } from "./harness.mjs";

const rand = (lo, hi) => lo + Math.floor(Math.random() * (hi - lo + 1));

/**
 * Starts n writers on databaseURL. Each runs transactions of 1 to 6 events with short pauses
 * inside, addressed by target() ({users, rooms}); one transaction in ten is rolled back (its
 * events must never be delivered). Errors (PostgreSQL restarting) are counted and retried.
 * stop() ends them and resolves with {committed, rolledBack, failed} transaction counts.
 */
export function startWriters(databaseURL, n, target, { event = "load" } = {}) {
  const pool = new pg.Pool({ connectionString: databaseURL, max: n });
  // Connections that a restart kills, idle in the pool or in a transaction between two
  // statements, report errors of their own: the failed statement is what counts.
  pool.on("error", () => {});
  pool.on("connect", (client) => client.on("error", () => {}));
  const stats = { committed: 0, rolledBack: 0, failed: 0 };
  let running = true;
  const loops = [];
  for (let w = 0; w < n; w++) {
    loops.push((async () => {
      for (let i = 0; running; i++) {
        let client;
        try {
          client = await pool.connect();
          await client.query("BEGIN");
          const events = rand(1, 6);
          for (let k = 0; k < events; k++) {
            const { users, rooms } = target();
            await client.query("SELECT realtime.publish($1, $2::text[], $3::text[], $4::jsonb)", [
              event, users, rooms, JSON.stringify({ w, i, k }),
            ]);
            if (Math.random() < 0.5) await sleep(rand(0, 15));
          }
          if (Math.random() < 0.1) {
            await client.query("ROLLBACK");
            stats.rolledBack++;
          } else {
            await client.query("COMMIT");
            stats.committed++;
          }
          client.release();
        } catch {
          stats.failed++;
          client?.release(true);
          await sleep(50);
        }
      }
    })());
  }
  return {
    stats,
    async stop() {
      running = false;
      await Promise.all(loops);
      await pool.end();
      return stats;
    },
  };
}

/** Runs action every lo to hi milliseconds until stop() (which resolves with the run count). */
export function every(lo, hi, action) {
  let running = true;
  let runs = 0;
  const loop = (async () => {
    while (running) {
      await sleep(rand(lo, hi));
      if (!running) break;
      try {
        await action();
        runs++;
      } catch {
        // a disruption may fail while the database is away; the next one will do
      }
    }
  })();
  return {
    async stop() {
      running = false;
      await loop;
      return runs;
    },
  };
}

/**
 * Terminates the listener's backend of every realtimed node on the database and, with the wal
 * source, the walsender of the node that reads the replication slot (the decoder's connection)
 * and the reader's other connections (the election's lock and the appends: realtimed-wal-reader).
 * Resolves with the number of backends terminated.
 */
export async function terminateListener(pool) {
  const { rows } = await pool.query(
    `SELECT count(*) FILTER (WHERE pg_terminate_backend(pid))::int AS n FROM (
       SELECT pid FROM pg_stat_activity
        WHERE application_name IN ('realtimed-listener', 'realtimed-wal-reader') AND datname = current_database()
       UNION SELECT active_pid FROM pg_replication_slots WHERE database = current_database() AND active_pid IS NOT NULL) b`,
  );
  return rows[0].n;
}

/** The process id of the walsender reading the database's replication slot (null: none). */
export async function slotReader(pool) {
  const { rows } = await pool.query(
    "SELECT active_pid FROM pg_replication_slots WHERE database = current_database() AND active_pid IS NOT NULL",
  );
  return rows[0]?.active_pid ?? null;
}

export { rand };
