// Task events (sql/triggers/tasks.sql, docs/events.md): the SQL change is made, and the right
// users — and only they — receive the right payload over the official socket.io-client.
import assert from "node:assert/strict";
import { after, before, beforeEach, afterEach, test } from "node:test";
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

async function insertTask({ assignment = "member", to = null, role = null, name = "Dishes", creator } = {}) {
  const { rows } = await sql(
    `INSERT INTO tasks (family_id, name, assignment_type, assigned_to, assigned_role, karma, created_by)
     VALUES ($1, $2, $3, $4, $5, 5, $6) RETURNING id`,
    [fam.familyId, name, assignment, to, role, creator ?? fam.parents[0]],
  );
  return rows[0].id;
}

test("task.created reaches the assigned member only, with the full task", async () => {
  const [robin] = fam.children;
  let taskId;
  const got = await change(async () => { taskId = await insertTask({ to: robin, name: "Take out the trash" }); });
  expectExactly(got, { [robin]: ["task.created"] }, fam.names);
  const p = payloadOf(got, robin, "task.created");
  assert.equal(p.taskId, taskId);
  assert.equal(p.familyId, fam.familyId);
  assert.equal(p.userId, robin);
  assert.equal(p.task.name, "Take out the trash");
  assert.deepEqual(p.task, await entityOf(server.pool, "tasks", taskId));
});

test("task.created for a role reaches every member of the family with that role", async () => {
  const got = await change(() => insertTask({ assignment: "role", role: "child" }));
  expectExactly(got, Object.fromEntries(fam.children.map((c) => [c, ["task.created"]])), fam.names);
  assert.equal(payloadOf(got, fam.children[1], "task.created").task.assignedRole, "child");
});

test("an unassigned task reaches nobody", async () => {
  const got = await change(() => insertTask({ assignment: "unassigned" }));
  expectExactly(got, {}, fam.names);
});

test("task.assigned reaches the old and the new assignee", async () => {
  const [robin, kim] = fam.children;
  const taskId = await insertTask({ to: robin });
  const got = await change(() => sql("UPDATE tasks SET assigned_to = $2 WHERE id = $1", [taskId, kim]));
  expectExactly(got, { [robin]: ["task.assigned"], [kim]: ["task.assigned"] }, fam.names);
  const p = payloadOf(got, robin, "task.assigned");
  assert.equal(p.userId, kim);
  assert.equal(p.task.assignedTo, kim);
});

test("task.updated reaches the assignees; an update that changes nothing shown reaches nobody", async () => {
  const taskId = await insertTask({ assignment: "role", role: "parent" });
  let got = await change(() => sql("UPDATE tasks SET name = 'Dishes, properly', karma = 8 WHERE id = $1", [taskId]));
  expectExactly(got, Object.fromEntries(fam.parents.map((p) => [p, ["task.updated"]])), fam.names);
  const p = payloadOf(got, fam.parents[1], "task.updated");
  assert.equal(p.task.name, "Dishes, properly");
  assert.equal(p.task.karma, 8);
  got = await change(() => sql("UPDATE tasks SET name = name, updated_at = now() WHERE id = $1", [taskId]));
  expectExactly(got, {}, fam.names);
});

test("task.completed reaches the assignee and the creator, with completedBy", async () => {
  const [robin] = fam.children;
  const [alex] = fam.parents;
  const taskId = await insertTask({ to: robin, creator: alex });
  const got = await change(() =>
    sql("UPDATE tasks SET status = 'completed', completed_by = $2, completed_at = now() WHERE id = $1", [taskId, robin]));
  expectExactly(got, { [robin]: ["task.completed"], [alex]: ["task.completed"] }, fam.names);
  const p = payloadOf(got, alex, "task.completed");
  assert.equal(p.completedBy, robin);
  assert.equal(p.task.status, "completed");
});

test("task.deleted reaches the assignees, once", async () => {
  const taskId = await insertTask({ assignment: "role", role: "child" });
  let got = await change(() => sql("UPDATE tasks SET deleted_at = now() WHERE id = $1", [taskId]));
  expectExactly(got, Object.fromEntries(fam.children.map((c) => [c, ["task.deleted"]])), fam.names);
  assert.equal(payloadOf(got, fam.children[0], "task.deleted").taskId, taskId);
  got = await change(() => sql("DELETE FROM tasks WHERE id = $1", [taskId]));
  expectExactly(got, {}, fam.names);
});

test("task.deleted when the row is removed", async () => {
  const [, kim] = fam.children;
  const taskId = await insertTask({ to: kim });
  const got = await change(() => sql("DELETE FROM tasks WHERE id = $1", [taskId]));
  expectExactly(got, { [kim]: ["task.deleted"] }, fam.names);
});
