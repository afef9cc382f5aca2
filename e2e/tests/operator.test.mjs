// An operator's day with a running node and the official client connected: `realtimed doctor`
// passes and counts the node's clients; a rule edited in the database by hand is reported by
// doctor and shown by `triggers diff`; a node that starts later with the built-in rules does
// not undo it, and says so.
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import path from "node:path";
import { promisify } from "node:util";
import { after, before, test } from "node:test";
import { JWT_SECRET, eventually, repoRoot, startServer } from "../lib/harness.mjs";
import { closeAll, connectUsers, familyOfFour } from "../lib/events.mjs";

const execFileP = promisify(execFile);
const bin = process.env.REALTIMED_BIN || path.join(repoRoot, "bin/realtimed");
let server, clients;

/** Runs the binary with the node's settings; resolves with { code, stdout, stderr }. */
async function realtimed(...args) {
  const env = { PATH: process.env.PATH, DATABASE_URL: server.databaseURL, REALTIME_JWT_SECRET: JWT_SECRET, REALTIME_REFERENCE_SCHEMA: "true" };
  try {
    const { stdout, stderr } = await execFileP(bin, args, { env });
    return { code: 0, stdout, stderr };
  } catch (err) {
    return { code: err.code, stdout: err.stdout, stderr: err.stderr };
  }
}

const line = (out, check) => out.split("\n").find((l) => l.slice(6).startsWith(check + " ")) ?? "";

async function chatsRule() {
  const { rows } = await server.pool.query("SELECT pg_get_functiondef('realtime.rule_chats()'::regprocedure) AS def");
  return rows[0].def;
}

before(async () => {
  server = await startServer();
  const fam = await familyOfFour(server.pool);
  clients = await connectUsers(server, fam.everyone);
});
after(async () => {
  if (clients) closeAll(clients);
  await server?.stop();
});

test("doctor passes on a running node and counts its clients", async () => {
  const out = await eventually(async () => {
    const r = await realtimed("doctor");
    return line(r.stdout, "open files").includes(`${clients.size} clients on 1 live nodes now`) ? r : null;
  }, 10000, "doctor to count the connected clients");
  assert.equal(out.code, 0, out.stdout + out.stderr);
  for (const check of ["database", "schema", "rules", "sessions", "notify queue", "open files", "environment"]) {
    assert.match(line(out.stdout, check), /^ok /, `${check}:\n${out.stdout}`);
  }
  assert.match(line(out.stdout, "rules"), /identical to the built-in set/);
  // The node's start, as its logs tell it: each migration, then the rules and their source.
  const logs = server.logs.join("\n");
  assert.match(logs, /msg="migration applied" name=rule_files set=realtime version=50/);
  assert.match(logs, /msg="rules applied" applied="\[chat_members\.sql .*\]" replaced="\[\]" source="built-in set/);
});

test("a rule edited by hand is reported, shown, and kept by a node that starts", async () => {
  await server.pool.query((await chatsRule()).replace("'chat.updated'", "'chat.edited'"));

  const doctor = await realtimed("doctor");
  assert.equal(doctor.code, 1, doctor.stdout);
  assert.match(line(doctor.stdout, "rules"), /^FAIL .*chats\.sql differs \(realtime\.rule_chats\(\)\)/);

  const diff = await realtimed("triggers", "diff");
  assert.equal(diff.code, 1, diff.stdout + diff.stderr);
  assert.match(diff.stdout, /differs +chats\.sql: replaces realtime\.rule_chats\(\) \(live: applied .*; changed in the database since\)/);
  assert.match(diff.stdout, /-\s+'chat\.edited',\n\+\s+'chat\.updated',/);

  const second = await startServer({ databaseURL: server.databaseURL });
  try {
    const logs = second.logs.join("\n");
    assert.match(logs, /rules not applied: the live rules differ from the rule files, serving with the live ones/);
    assert.match(logs, /file=chats\.sql/);
  } finally {
    await second.stop();
  }
  assert.match(await chatsRule(), /'chat\.edited'/, "the node that started undid the edit");
});
