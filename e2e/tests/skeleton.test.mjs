// Walking skeleton: SQL → NOTIFY → listener → router → socketio → official socket.io-client.
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import {
  connect, createFamily, eventually, record, signJWT, sleep, startServer, tokenFor, waitForEvent,
} from "../lib/harness.mjs";

let server, family, alice, bob;

before(async () => {
  server = await startServer();
  family = await createFamily(server.pool, ["parent", "child"]);
  [alice, bob] = family.members;
});
after(async () => {
  await server?.stop();
});

async function insertTask(assignee, name = "Dishes") {
  const { rows } = await server.pool.query(
    `INSERT INTO tasks (family_id, name, assignment_type, assigned_to, karma)
     VALUES ($1, $2, 'member', $3, 5) RETURNING id`,
    [family.familyId, name, assignee],
  );
  return rows[0].id;
}

describe("transports", () => {
  for (const [label, transports, expected] of [
    ["websocket only", ["websocket"], "websocket"],
    ["polling only", ["polling"], "polling"],
    ["default: polling then upgrade", undefined, "websocket"],
  ]) {
    test(`connects with auth.token over ${label} and receives task.created`, async () => {
      const socket = await connect(server, tokenFor(alice.id), transports ? { transports } : {});
      try {
        await eventually(() => socket.io.engine.transport.name === expected, 5000, `transport ${expected}`);
        const got = waitForEvent(socket, "task.created");
        const taskId = await insertTask(alice.id, `task over ${label}`);
        const { payload, rest } = await got;
        assert.equal(payload.taskId, taskId);
        assert.equal(payload.familyId, family.familyId);
        assert.equal(payload.userId, alice.id);
        assert.equal(payload.task.id, taskId);
        assert.equal(payload.task.name, `task over ${label}`);
        assert.equal(payload.task.familyId, family.familyId);
        assert.equal(payload.task.assignedTo, alice.id);
        assert.equal(typeof rest[0], "string", "the event's offset comes last");
      } finally {
        socket.close();
      }
    });
  }
});

test("task.created reaches every device of the assignee and nobody else", async () => {
  const devices = await Promise.all([
    connect(server, tokenFor(alice.id), { transports: ["websocket"] }),
    connect(server, tokenFor(alice.id), { transports: ["polling"] }),
    connect(server, tokenFor(alice.id)),
  ]);
  const other = await connect(server, tokenFor(bob.id), { transports: ["websocket"] });
  const otherEvents = record(other);
  try {
    const waits = devices.map((d) => waitForEvent(d, "task.created"));
    const taskId = await insertTask(alice.id, "for every device");
    for (const { payload } of await Promise.all(waits)) {
      assert.equal(payload.taskId, taskId);
    }
    await sleep(300);
    assert.deepEqual(otherEvents, [], "another user's client receives nothing");
  } finally {
    [...devices, other].forEach((s) => s.close());
  }
});

describe("realtime.publish from SQL", () => {
  test("reaches the named user", async () => {
    const socket = await connect(server, tokenFor(alice.id));
    try {
      const got = waitForEvent(socket, "x.y");
      await server.pool.query(`SELECT realtime.publish('x.y', ARRAY[$1], '{}', '{"a":1}')`, [alice.id]);
      assert.deepEqual((await got).payload, { a: 1 });
    } finally {
      socket.close();
    }
  });

  test("with no users and no rooms publishes nothing and writes no outbox row", async () => {
    const socket = await connect(server, tokenFor(alice.id));
    const events = record(socket);
    try {
      const before = await server.pool.query("SELECT count(*)::int AS n FROM realtime.events");
      const { rows } = await server.pool.query(`SELECT realtime.publish('x.empty', '{}', '{}', '{"a":1}') AS id`);
      assert.equal(rows[0].id, null);
      const after = await server.pool.query("SELECT count(*)::int AS n FROM realtime.events");
      assert.equal(after.rows[0].n, before.rows[0].n);
      // A later event arrives alone: nothing was queued for the empty one.
      const got = waitForEvent(socket, "x.after");
      await server.pool.query(`SELECT realtime.publish('x.after', ARRAY[$1], '{}', '{}')`, [alice.id]);
      await got;
      assert.deepEqual(events.map((e) => e.event), ["x.after"]);
    } finally {
      socket.close();
    }
  });
});

describe("authentication", () => {
  const refused = [
    ["a bad signature", () => signJWT({ sub: "u" }, { secret: "wrong-secret" }), "invalid_token", /signature/],
    ["an expired token", () => signJWT({ sub: "u", exp: Math.floor(Date.now() / 1000) - 60 }), "token_expired", /expired/],
    ["alg: none", () => signJWT({ sub: "u" }, { header: { alg: "none", typ: "JWT" } }), "invalid_token", /algorithm not allowed/],
    ["garbage", () => "garbage", "invalid_token", /session/],
    ["no token", () => undefined, "missing_token", /no token/],
  ];
  for (const [label, token, code, message] of refused) {
    test(`refuses ${label} with connect_error`, async () => {
      await assert.rejects(connect(server, token()), (err) => {
        assert.match(err.message, /^Authentication failed: /);
        assert.match(err.message, message);
        assert.equal(err.data?.code, code);
        return true;
      });
    });
  }

  test("accepts a valid session token and refuses an expired one", async () => {
    await server.pool.query(
      `INSERT INTO sessions (token, user_id, expires_at) VALUES
         ('valid-session-token', $1, now() + interval '1 hour'),
         ('expired-session-token', $1, now() - interval '1 minute')`,
      [alice.id],
    );
    const socket = await connect(server, "valid-session-token");
    try {
      const got = waitForEvent(socket, "task.created");
      await insertTask(alice.id, "via session");
      assert.equal((await got).payload.task.name, "via session");
    } finally {
      socket.close();
    }
    await assert.rejects(connect(server, "expired-session-token"), (err) => {
      assert.equal(err.data?.code, "token_expired");
      return true;
    });
  });

  test("accepts the token from an Authorization: Bearer header (non-browser clients)", async () => {
    const socket = await connect(server, undefined, {
      auth: {},
      transports: ["websocket"],
      extraHeaders: { Authorization: `Bearer ${tokenFor(alice.id)}` },
    });
    socket.close();
  });
});

test("after pg_terminate_backend of the listener, events committed after it reconnects arrive", async () => {
  const socket = await connect(server, tokenFor(alice.id));
  try {
    const { rows } = await server.pool.query(
      `SELECT pg_terminate_backend(pid) AS killed FROM pg_stat_activity
       WHERE application_name = 'realtimed-listener' AND datname = current_database()`,
    );
    assert.equal(rows.length, 1, "one listener connection");
    await eventually(async () => {
      const r = await fetch(server.url + "/readyz");
      return r.status === 200 && (await r.json()).ready;
    }, 10000, "the listener to reconnect");
    await eventually(
      () => server.logs.some((l) => l.includes("connection lost")),
      5000,
      "the reconnect to be logged",
    );
    const got = waitForEvent(socket, "task.created", 10000);
    const taskId = await insertTask(alice.id, "after reconnect");
    assert.equal((await got).payload.taskId, taskId);
  } finally {
    socket.close();
  }
});
