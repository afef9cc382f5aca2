// docs/rules.md, proven: on a running server whose rules come from a folder
// (REALTIME_TRIGGERS_DIR), the guide's new rule file is added and applied with
// `realtimed triggers apply`, and its event reaches the clients without a restart and without
// any Go change.
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { cpSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { promisify } from "node:util";
import { after, before, test } from "node:test";
import { repoRoot, startServer } from "../lib/harness.mjs";
import { closeAll, connectUsers, deliveries, entityOf, expectExactly, familyOfFour, payloadOf } from "../lib/events.mjs";

const run = promisify(execFile);
let server, dir, fam, clients;

/** The SQL block of docs/rules.md marked as the rule example. */
function guideRule() {
  const doc = readFileSync(path.join(repoRoot, "docs/rules.md"), "utf8");
  const m = /<!-- rule-example[^>]*-->\s*```sql\n([\s\S]*?)\n```/.exec(doc);
  assert.ok(m, "docs/rules.md has a ```sql block after <!-- rule-example -->");
  return m[1];
}

async function triggersApply() {
  const bin = process.env.REALTIMED_BIN || path.join(repoRoot, "bin/realtimed");
  return run(bin, ["triggers", "apply"], {
    env: { PATH: process.env.PATH, DATABASE_URL: server.databaseURL, REALTIME_TRIGGERS_DIR: dir },
  });
}

before(async () => {
  dir = mkdtempSync(path.join(os.tmpdir(), "realtimed-rules-"));
  for (const f of readdirSync(path.join(repoRoot, "sql/triggers")).filter((f) => f.endsWith(".sql"))) {
    cpSync(path.join(repoRoot, "sql/triggers", f), path.join(dir, f));
  }
  server = await startServer({ env: { REALTIME_TRIGGERS_DIR: dir } });
  fam = await familyOfFour(server.pool);
  clients = await connectUsers(server, fam.everyone);
});
after(async () => {
  if (clients) closeAll(clients);
  await server?.stop();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

const addReward = (name) =>
  server.pool.query("INSERT INTO rewards (family_id, name, cost, created_by) VALUES ($1, $2, 50, $3) RETURNING id",
    [fam.familyId, name, fam.parents[0]]).then((r) => r.rows[0].id);

test("the guide's rule, added and applied on a running server, delivers its event", async () => {
  const pid = server.child.pid;

  // Before: rewards has no rule, so nothing is published.
  let got = await deliveries(server, clients, () => addReward("Before the rule"));
  expectExactly(got, {}, fam.names);

  writeFileSync(path.join(dir, "rewards.sql"), guideRule() + "\n");
  const { stdout } = await triggersApply();
  assert.match(stdout, /^rules from the folder .*, \d+ files:$/m);
  assert.match(stdout, /^  applied    rewards\.sql$/m);
  assert.match(stdout, /^rules applied: 1 applied, 0 replaced, \d+ unchanged$/m);

  let rewardId;
  got = await deliveries(server, clients, async () => { rewardId = await addReward("Movie night"); });
  const family = [...fam.parents, ...fam.children];
  expectExactly(got, Object.fromEntries(family.map((u) => [u, ["reward.created"]])), fam.names);
  const p = payloadOf(got, fam.children[0], "reward.created");
  assert.equal(p.rewardId, rewardId);
  assert.equal(p.familyId, fam.familyId);
  assert.equal(p.userId, fam.parents[0]);
  assert.deepEqual(p.reward, await entityOf(server.pool, "rewards", rewardId));

  assert.equal(server.child.pid, pid);
  assert.equal(server.child.exitCode, null, "the server was not restarted");
});

test("a broken rule file is refused by name and changes nothing; the rules in place keep working", async () => {
  writeFileSync(path.join(dir, "zz_broken.sql"), "CREATE TRIGGER nope AFTER INSERT ON no_such_table FOR EACH ROW EXECUTE FUNCTION x();\n");
  try {
    await assert.rejects(triggersApply(), (err) => {
      assert.notEqual(err.code, 0);
      assert.match(err.stderr, /zz_broken\.sql/);
      return true;
    });
  } finally {
    rmSync(path.join(dir, "zz_broken.sql"));
  }
  const got = await deliveries(server, clients, () => addReward("Still delivered"));
  assert.equal(payloadOf(got, fam.children[1], "reward.created").reward.name, "Still delivered");
});
