// A PostgreSQL cluster of a test's own, for tests that restart PostgreSQL (never the shared
// server other tests use): scripts/pg.sh in a temporary folder, with synchronous_commit on so
// that an acknowledged commit survives a crash of the server, and wal_level=logical (the wal source).
import { execFile } from "node:child_process";
import { chmod, mkdtemp, rm } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { promisify } from "node:util";
import pg from "pg";
import { repoRoot } from "./harness.mjs";

const run = promisify(execFile);

export async function startPgCluster() {
  // Under the system's temporary folder, readable by the postgres user the script runs
  // PostgreSQL as when we are root.
  const dir = await mkdtemp(path.join(os.tmpdir(), "realtimed-pg-"));
  await chmod(dir, 0o755);
  const env = { ...process.env, REALTIME_PG_DIR: dir, REALTIME_PG_OPTS: "-c synchronous_commit=on -c wal_level=logical" };
  const script = (...args) => run(path.join(repoRoot, "scripts/pg.sh"), args, { env, timeout: 120000 });
  let adminURL;
  try {
    adminURL = (await script("start")).stdout.trim();
  } catch (err) {
    await rm(dir, { recursive: true, force: true });
    throw err;
  }
  return {
    adminURL,
    /** Creates a database; returns its URL. */
    async createDatabase(name) {
      const c = new pg.Client({ connectionString: adminURL });
      await c.connect();
      await c.query(`CREATE DATABASE ${name}`);
      await c.end();
      const u = new URL(adminURL);
      u.pathname = "/" + name;
      return u.toString();
    },
    /** Restarts PostgreSQL: mode "fast" (clean) or "immediate" (a crash), same port. */
    async restart(mode) {
      await script("restart", mode);
    },
    async stop() {
      await script("stop", "immediate").catch(() => {});
      await rm(dir, { recursive: true, force: true });
    },
  };
}
