// Events of any size up to REALTIME_MAX_EVENT_BYTES reach the official client, live and through
// a recovery; a larger one is refused when it is published, with a clear SQL error, and that is
// the only thing that fails the writer's transaction (never NOTIFY's 8000-byte limit).
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { createFamily, eventually, startServer, tokenFor } from "../lib/harness.mjs";
import { connectRecording, dropConnection, streamSynced } from "../lib/recovery.mjs";

const MiB = 1 << 20;
// payload text {"b": "xxx…"} is 9 bytes plus the string
const payloadOf = (bytes) => ({ b: "x".repeat(bytes - 9) });
const SIZES = [7999, 8000, 100_000, MiB];

let server, user;

before(async () => {
  server = await startServer({ env: { REALTIME_LOG_LEVEL: "info" } });
  user = (await createFamily(server.pool, ["parent"])).members[0].id;
});
after(async () => {
  await server?.stop();
});

async function publishSized(bytes, event = "sized") {
  const { rows } = await server.pool.query(
    "SELECT realtime.publish($1, ARRAY[$2], '{}', $3::jsonb) AS id, octet_length($3::jsonb::text) AS size",
    [event, user, JSON.stringify(payloadOf(bytes))],
  );
  assert.equal(rows[0].size, bytes, "the payload's size as realtime.publish measures it");
  return rows[0].id;
}

describe("events of 7,999 and 8,000 bytes, 100 KB and 1 MiB are delivered", () => {
  for (const transports of [["websocket"], ["polling"]]) {
    test(`live, over ${transports[0]}`, async () => {
      const c = await connectRecording(server.url, tokenFor(user), { reconnection: false, transports });
      try {
        for (const size of SIZES) await publishSized(size, `live.${transports[0]}`);
        await eventually(() => c.events.length === SIZES.length, 30000, "every sized event");
        assert.deepEqual(c.events.map((e) => e.payload.b.length + 9), SIZES);
      } finally {
        c.socket.close();
      }
    });
  }

  test("through a recovery", async () => {
    const c = await connectRecording(server.url, tokenFor(user), { reconnection: false, transports: ["websocket"] });
    try {
      dropConnection(c);
      await eventually(() => !c.socket.connected, 5000, "the disconnection");
      for (const size of SIZES) await publishSized(size, "missed");
      c.socket.connect();
      await eventually(() => c.connects.length === 2, 10000, "the reconnection");
      assert.equal(c.connects[1].recovered, true);
      await eventually(() => c.events.length === SIZES.length, 30000, "every missed event");
      assert.deepEqual(c.events.map((e) => e.payload.b.length + 9), SIZES);
    } finally {
      c.socket.close();
    }
  });
});

test("a payload over the maximum is refused at publish time, and only then does the transaction fail", async () => {
  const client = await server.pool.connect();
  try {
    await client.query("BEGIN");
    await client.query("SELECT realtime.publish('before', ARRAY[$1], '{}', '{}')", [user]);
    await client.query("SAVEPOINT big");
    await assert.rejects(
      client.query("SELECT realtime.publish('too.big', ARRAY[$1], '{}', $2::jsonb)", [user, JSON.stringify(payloadOf(MiB + 1))]),
      (err) => {
        assert.equal(err.code, "54000");
        assert.match(err.message, /payload of event "too\.big" is 1048577 bytes, over the limit of 1048576 bytes/);
        assert.match(err.hint, /REALTIME_MAX_EVENT_BYTES/);
        return true;
      },
    );
    await client.query("ROLLBACK TO SAVEPOINT big");
    await client.query("COMMIT");
  } finally {
    client.release();
  }
  await streamSynced(server.pool);
  const { rows } = await server.pool.query("SELECT event FROM realtime.events WHERE event IN ('before', 'too.big')");
  assert.deepEqual(rows.map((r) => r.event), ["before"], "the rest of the transaction committed");
});

test("REALTIME_MAX_EVENT_BYTES is written into realtime.settings at start", async () => {
  const small = await startServer({ env: { REALTIME_MAX_EVENT_BYTES: "20000", REALTIME_LOG_LEVEL: "info" } });
  try {
    const { rows } = await small.pool.query("SELECT value FROM realtime.settings WHERE key = 'max_event_bytes'");
    assert.equal(rows[0].value, "20000");
    await assert.rejects(
      small.pool.query("SELECT realtime.publish('x', ARRAY['u'], '{}', $1::jsonb)", [JSON.stringify(payloadOf(20001))]),
      /over the limit of 20000 bytes/,
    );
    await small.pool.query("SELECT realtime.publish('x', ARRAY['u'], '{}', $1::jsonb)", [JSON.stringify(payloadOf(20000))]);
  } finally {
    await small.stop();
  }
});
