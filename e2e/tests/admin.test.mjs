// Admin API: off without a token, bearer token required, cluster-wide answers from two nodes
// on one database.
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { connect, createFamily, eventually, startServer, tokenFor } from "../lib/harness.mjs";
import { admin } from "../lib/ops.mjs";

const TOKEN = "admin-token-for-e2e-0123456789";

describe("without REALTIME_ADMIN_TOKEN", () => {
  let server;
  before(async () => (server = await startServer()));
  after(async () => await server?.stop());

  test("the admin API does not exist", async () => {
    for (const path of ["/admin/sockets", "/admin/nodes", "/admin/users/x/sockets"]) {
      assert.equal((await admin(server, path)).status, 404, path);
      assert.equal((await admin(server, path, { token: "anything" })).status, 404, path);
    }
    assert.equal((await admin(server, "/admin/users/x/disconnect", { method: "POST", token: "" })).status, 404);
  });
});

describe("two nodes with REALTIME_ADMIN_TOKEN", () => {
  let a, b, family, alice, bob;
  const env = { REALTIME_ADMIN_TOKEN: TOKEN };
  before(async () => {
    a = await startServer({ env });
    b = await startServer({ env, databaseURL: a.databaseURL });
    family = await createFamily(a.pool, ["parent", "child"]);
    [alice, bob] = family.members;
  });
  after(async () => {
    await b?.stop();
    await a?.stop();
  });

  test("requests without the right bearer token are refused", async () => {
    for (const token of [undefined, "wrong", TOKEN + "x", TOKEN.slice(0, -1)]) {
      const r = await admin(a, "/admin/sockets", { token });
      assert.equal(r.status, 401, `token ${token}`);
      assert.deepEqual(r.body, { error: "unauthorized" });
    }
    const r = await fetch(a.url + "/admin/sockets", { headers: { Authorization: `Basic ${TOKEN}` } });
    assert.equal(r.status, 401, "another scheme");
    assert.equal((await admin(a, "/admin/users/x/disconnect", { method: "POST", token: "wrong" })).status, 401);
  });

  test("both nodes are listed", async () => {
    const r = await eventually(async () => {
      const r = await admin(a, "/admin/nodes", { token: TOKEN });
      return r.body.nodes?.length === 2 ? r : null;
    }, 10000, "two nodes");
    assert.equal(r.status, 200);
    assert.ok(r.body.nodes.some((n) => n.id === r.body.self));
  });

  test("sockets, a user's devices and disconnecting a user, across nodes", async () => {
    const onA = await connect(a, tokenFor(alice.id), { transports: ["websocket"] });
    const onB = await connect(b, tokenFor(alice.id), { transports: ["polling"] });
    const bobOnB = await connect(b, tokenFor(bob.id), { transports: ["websocket"] });
    try {
      for (const node of [a, b]) {
        const r = await admin(node, "/admin/sockets", { token: TOKEN });
        assert.equal(r.status, 200);
        assert.equal(r.body.count, 3);
        assert.deepEqual(r.body.byTransport, { websocket: 2, polling: 1 });
        assert.equal(r.body.nodes.length, 2);
        assert.deepEqual(r.body.nodes.map((n) => n.count).sort(), [1, 2]);
        assert.equal(r.body.missing, undefined);
      }

      const d = await admin(a, `/admin/users/${alice.id}/sockets`, { token: TOKEN });
      assert.equal(d.status, 200);
      assert.equal(d.body.userId, alice.id);
      assert.equal(d.body.count, 2);
      const bySid = Object.fromEntries(d.body.devices.map((x) => [x.sid, x]));
      assert.deepEqual(Object.keys(bySid).sort(), [onA.id, onB.id].sort());
      assert.equal(bySid[onA.id].transport, "websocket");
      assert.equal(bySid[onB.id].transport, "polling");
      assert.notEqual(bySid[onA.id].node, bySid[onB.id].node, "one device on each node");
      assert.deepEqual(bySid[onA.id].rooms, [`user:${alice.id}`]);
      assert.equal(bySid[onA.id].auth, "jwt");
      assert.ok(Math.abs(Date.parse(bySid[onA.id].connectedAt) - Date.now()) < 60000, "connected since");

      const none = await admin(b, "/admin/users/00000000-0000-4000-8000-0000000000ff/sockets", { token: TOKEN });
      assert.deepEqual([none.body.count, none.body.devices], [0, []]);

      const gone = [onA, onB].map((s) => new Promise((resolve) => s.once("disconnect", resolve)));
      const k = await admin(b, `/admin/users/${alice.id}/disconnect`, { method: "POST", token: TOKEN });
      assert.equal(k.status, 200);
      assert.equal(k.body.disconnected, 2);
      assert.deepEqual(await Promise.all(gone), ["io server disconnect", "io server disconnect"]);
      assert.ok(bobOnB.connected, "another user stays connected");
      const after = await admin(a, "/admin/sockets", { token: TOKEN });
      assert.equal(after.body.count, 1);
    } finally {
      [onA, onB, bobOnB].forEach((s) => s.close());
    }
  });

  test("a node that stopped is left out", async () => {
    const c = await startServer({ env, databaseURL: a.databaseURL });
    await eventually(async () => (await admin(a, "/admin/nodes", { token: TOKEN })).body.nodes.length === 3, 10000, "three nodes");
    await c.stop();
    const r = await admin(a, "/admin/sockets", { token: TOKEN });
    assert.equal(r.body.nodes.length, 2, "the stopped node removed itself");
    assert.equal(r.body.missing, undefined);
  });
});
