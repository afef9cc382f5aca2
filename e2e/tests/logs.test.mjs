// Logging: at debug, one line per connection, join and delivered event; never a token or a
// secret in any line, whatever the clients and admin callers send.
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { test } from "node:test";
import { io } from "socket.io-client";
import {
  connect, createDatabase, createFamily, eventually, signJWT, startServer, waitForEvent,
} from "../lib/harness.mjs";
import { admin } from "../lib/ops.mjs";

const rnd = () => randomBytes(12).toString("hex");

for (const format of ["text", "json"]) {
  test(`no secret or token in the ${format} logs of a run; debug lines for connections, joins, deliveries`, async () => {
    const secrets = {
      jwtSecret: "jwtsecret" + rnd(),
      adminToken: "admintoken" + rnd(),
      dbPassword: "dbpassword" + rnd(),
      sessionToken: "sessiontoken" + rnd(),
      expiredSession: "expiredsession" + rnd(),
      unknownSession: "unknownsession" + rnd(),
      wrongAdmin: "wrongadmin" + rnd(),
      adminUIPassword: "adminuipassword" + rnd(),
      wrongAdminUI: "wrongadminui" + rnd(),
    };
    // The private PostgreSQL trusts local connections, so the password is accepted as given.
    const db = await createDatabase();
    const u = new URL(db.url);
    u.password = secrets.dbPassword;
    const server = await startServer({
      databaseURL: u.toString(),
      env: {
        REALTIME_JWT_SECRET: secrets.jwtSecret,
        REALTIME_ADMIN_TOKEN: secrets.adminToken,
        REALTIME_ADMIN_UI: "true",
        REALTIME_ADMIN_UI_PASSWORD: secrets.adminUIPassword,
        REALTIME_LOG_LEVEL: "debug",
        REALTIME_LOG_FORMAT: format,
      },
    });
    const jwts = {};
    try {
      const { members: [alice] } = await createFamily(server.pool, ["parent"]);
      await server.pool.query(
        `INSERT INTO sessions (token, user_id, expires_at) VALUES ($1, $3, now() + interval '1 hour'),
           ($2, $3, now() - interval '1 minute')`,
        [secrets.sessionToken, secrets.expiredSession, alice.id],
      );
      const sign = (claims, opts) => signJWT({ sub: alice.id, ...claims }, { secret: secrets.jwtSecret, ...opts });
      const now = Math.floor(Date.now() / 1000);
      jwts.valid = sign({});
      jwts.expired = sign({ exp: now - 60 });
      jwts.future = sign({ nbf: now + 3600 });
      jwts.badSig = signJWT({ sub: alice.id }, { secret: "another-secret" + rnd() });
      jwts.none = signJWT({ sub: alice.id }, { header: { alg: "none", typ: "JWT" } });
      jwts.header = sign({ jti: rnd() });

      const ok = [
        await connect(server, jwts.valid, { transports: ["websocket"] }),
        await connect(server, secrets.sessionToken, { transports: ["polling"] }),
      ];
      // The Authorization header, as non-browser clients send it.
      const viaHeader = io(server.url, {
        transports: ["websocket"], forceNew: true, reconnection: false,
        extraHeaders: { Authorization: `Bearer ${jwts.header}` },
      });
      await new Promise((resolve, reject) => { viaHeader.once("connect", resolve); viaHeader.once("connect_error", reject); });
      ok.push(viaHeader);
      for (const bad of [jwts.expired, jwts.future, jwts.badSig, jwts.none, secrets.expiredSession, secrets.unknownSession]) {
        await assert.rejects(connect(server, bad));
      }
      const got = ok.map((s) => waitForEvent(s, "logs.test"));
      await server.pool.query(`SELECT realtime.publish('logs.test', ARRAY[$1], '{}', '{"a":1}')`, [alice.id]);
      await Promise.all(got);

      assert.equal((await admin(server, "/admin/sockets", { token: secrets.wrongAdmin })).status, 401);
      assert.equal((await admin(server, "/admin/sockets", { token: secrets.adminToken })).status, 200);
      assert.equal((await admin(server, `/admin/users/${alice.id}/disconnect`, { method: "POST", token: secrets.adminToken })).status, 200);
      ok.forEach((s) => s.close());

      // The Socket.IO Admin UI's login: a wrong password, the right one (a session id comes back).
      const adminUI = (password) => new Promise((resolve) => {
        const ui = io(server.url + "/admin", { auth: { username: "admin", password }, transports: ["websocket"], forceNew: true, reconnection: false });
        ui.once("session", (id) => { ui.close(); resolve(id); });
        ui.once("connect_error", (err) => { ui.close(); resolve(err.message); });
      });
      assert.equal(await adminUI(secrets.wrongAdminUI), "invalid credentials");
      secrets.adminUISession = await adminUI(secrets.adminUIPassword);
      assert.match(secrets.adminUISession, /^[\w-]{40,}$/);

      // Debug lines: one per connection, join and delivered event.
      const has = (msg, extra = () => true) => server.logs.filter((l) => l.includes(msg) && extra(l)).length;
      await eventually(() => has("delivered") >= 1, 5000, "the delivered line");
      assert.equal(has("connected", (l) => !l.includes("disconnected") && !l.includes("admin ui")), 3, "one line per connection");
      assert.equal(has(`user:${alice.id}`, (l) => l.includes("joined")), 3, "one line per join");
      assert.equal(has("delivered", (l) => l.includes("logs.test")), 1, "one line per delivered event");
    } finally {
      await server.stop();
      await db.drop();
    }
    const all = server.logs.join("\n");
    assert.ok(server.logs.length > 20, "the run logged");
    if (format === "json") {
      for (const line of server.logs) assert.doesNotThrow(() => JSON.parse(line), `not JSON: ${line}`);
    }
    for (const [name, value] of Object.entries({ ...secrets, ...Object.fromEntries(Object.entries(jwts).map(([k, v]) => ["jwt " + k, v])) })) {
      assert.ok(!all.includes(value), `${name} appears in the logs`);
      if (name.startsWith("jwt ")) {
        const [, payload, signature] = value.split(".");
        assert.ok(!all.includes(payload), `the payload of ${name} appears in the logs`);
        if (signature) assert.ok(!all.includes(signature), `the signature of ${name} appears in the logs`);
      }
    }
  });
}
