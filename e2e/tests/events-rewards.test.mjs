// Karma and reward-claim events (sql/triggers/karma_transactions.sql, claims.sql, tasks.sql for
// approval tasks): the SQL change is made, and the right users — and only they — receive the
// right payload over the official socket.io-client.
import assert from "node:assert/strict";
import { after, afterEach, before, beforeEach, test } from "node:test";
import { startServer } from "../lib/harness.mjs";
import { closeAll, connectUsers, deliveries, entityOf, expectExactly, familyOfFour, payloadOf } from "../lib/events.mjs";

let server, fam, clients;

before(async () => {
  server = await startServer();
});
after(async () => {
  await server?.stop();
});
beforeEach(async () => {
  fam = await familyOfFour(server.pool);
  clients = await connectUsers(server, fam.everyone);
});
afterEach(() => closeAll(clients));

const change = (fn) => deliveries(server, clients, fn);
const sql = (text, args) => server.pool.query(text, args);
const one = async (text, args) => (await sql(text, args)).rows[0].id;

const karma = (user, amount, reason) =>
  one(`INSERT INTO karma_transactions (family_id, user_id, amount, reason, actor_id)
       VALUES ($1, $2, $3, $4, $5) RETURNING id`, [fam.familyId, user, amount, reason, fam.parents[0]]);

test("karma.awarded reaches the member, with the amount and the new balance", async () => {
  const [robin] = fam.children;
  let id;
  const got = await change(async () => { id = await karma(robin, 10, "Took out the trash"); });
  expectExactly(got, { [robin]: ["karma.awarded"] }, fam.names);
  const p = payloadOf(got, robin, "karma.awarded");
  assert.equal(p.transactionId, id);
  assert.equal(p.familyId, fam.familyId);
  assert.equal(p.userId, robin);
  assert.equal(p.amount, 10);
  assert.equal(p.balance, 10);
  assert.equal(p.reason, "Took out the trash");
  assert.equal(p.actorId, fam.parents[0]);
  assert.deepEqual(p.transaction, await entityOf(server.pool, "karma_transactions", id));
});

test("karma.deducted reaches the member, with the (negative) amount and the new balance", async () => {
  const [, kim] = fam.children;
  await karma(kim, 7, "Homework");
  const got = await change(() => karma(kim, -3, "Left the bike in the rain"));
  expectExactly(got, { [kim]: ["karma.deducted"] }, fam.names);
  const p = payloadOf(got, kim, "karma.deducted");
  assert.equal(p.amount, -3);
  assert.equal(p.balance, 4);
});

async function claim(user) {
  const reward = await one("INSERT INTO rewards (family_id, name, cost) VALUES ($1, 'Movie night', 5) RETURNING id", [fam.familyId]);
  const id = await one("INSERT INTO claims (family_id, reward_id, user_id) VALUES ($1, $2, $3) RETURNING id", [fam.familyId, reward, user]);
  return { id, reward };
}

const toParents = (events) => Object.fromEntries(fam.parents.map((p) => [p, events]));

test("claim.created reaches the claimant; approval_task.created reaches the parents", async () => {
  const [robin] = fam.children;
  let c;
  const got = await change(async () => { c = await claim(robin); });
  expectExactly(got, { [robin]: ["claim.created"], ...toParents(["approval_task.created"]) }, fam.names);
  const p = payloadOf(got, robin, "claim.created");
  assert.equal(p.claimId, c.id);
  assert.equal(p.rewardId, c.reward);
  assert.equal(p.userId, robin);
  assert.equal(p.status, "pending");
  assert.equal(p.reward.name, "Movie night");
  assert.deepEqual(p.claim, await entityOf(server.pool, "claims", c.id));
  const a = payloadOf(got, fam.parents[1], "approval_task.created");
  assert.equal(a.claimId, c.id);
  assert.equal(a.userId, robin);
  assert.equal(a.task.kind, "approval");
  assert.equal(a.task.name, "Approve reward: Movie night");
  assert.deepEqual(a.task, await entityOf(server.pool, "tasks", a.taskId));
});

test("claim.approved reaches the claimant and the parents; the approval task completes", async () => {
  const [robin] = fam.children;
  const [alex] = fam.parents;
  const c = await claim(robin);
  const got = await change(() => sql("UPDATE claims SET status = 'approved', decided_by = $2 WHERE id = $1", [c.id, alex]));
  expectExactly(got, { [robin]: ["claim.approved"], ...toParents(["task.completed", "claim.approved"]) }, fam.names);
  const p = payloadOf(got, robin, "claim.approved");
  assert.equal(p.status, "approved");
  assert.equal(p.decidedBy, alex);
  assert.equal(payloadOf(got, alex, "task.completed").completedBy, alex);
});

test("claim.rejected reaches the claimant and the parents", async () => {
  const [, kim] = fam.children;
  const [, sam] = fam.parents;
  const c = await claim(kim);
  const got = await change(() => sql("UPDATE claims SET status = 'rejected', decided_by = $2 WHERE id = $1", [c.id, sam]));
  expectExactly(got, { [kim]: ["claim.rejected"], ...toParents(["task.completed", "claim.rejected"]) }, fam.names);
  assert.equal(payloadOf(got, sam, "claim.rejected").decidedBy, sam);
});

test("claim.completed reaches the claimant and the parents", async () => {
  const [robin] = fam.children;
  const c = await claim(robin);
  await sql("UPDATE claims SET status = 'approved' WHERE id = $1", [c.id]);
  const got = await change(() => sql("UPDATE claims SET status = 'completed' WHERE id = $1", [c.id]));
  expectExactly(got, { [robin]: ["claim.completed"], ...toParents(["claim.completed"]) }, fam.names);
  assert.equal(payloadOf(got, robin, "claim.completed").claimId, c.id);
});

test("claim.cancelled reaches the claimant and the parents; the approval task is deleted", async () => {
  const [robin] = fam.children;
  const c = await claim(robin);
  const got = await change(() => sql("UPDATE claims SET status = 'cancelled' WHERE id = $1", [c.id]));
  expectExactly(got, { [robin]: ["claim.cancelled"], ...toParents(["task.deleted", "claim.cancelled"]) }, fam.names);
  assert.equal(payloadOf(got, robin, "claim.cancelled").claim.status, "cancelled");
});

test("a claim transition the workflow does not have is refused and publishes nothing", async () => {
  const [robin] = fam.children;
  const c = await claim(robin);
  let error;
  const got = await change(async () => {
    error = await sql("UPDATE claims SET status = 'completed' WHERE id = $1", [c.id]).catch((e) => e);
  });
  assert.match(String(error?.message), /cannot go from pending to completed/);
  expectExactly(got, {}, fam.names);
});
