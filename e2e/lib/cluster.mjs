// Several realtimed nodes on one database, for multi-node tests.
import { createDatabase, startServer } from "./harness.mjs";

/**
 * Starts n realtimed processes on different ports against one fresh database. The first one
 * migrates it; the others start once it is ready. stop() stops them all and drops the database.
 */
export async function startCluster(n, { env = {} } = {}) {
  const db = await createDatabase();
  const nodes = [];
  try {
    nodes.push(await startServer({ databaseURL: db.url, env }));
    nodes.push(...(await Promise.all(Array.from({ length: n - 1 }, () => startServer({ databaseURL: db.url, env })))));
  } catch (err) {
    await Promise.all(nodes.map((s) => s.stop()));
    await db.drop();
    throw err;
  }
  return {
    nodes,
    pool: nodes[0].pool,
    async stop() {
      await Promise.all(nodes.map((s) => s.stop()));
      await db.drop();
    },
  };
}
