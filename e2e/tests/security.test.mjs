// Security with the official socket.io-client: hostile tokens are refused with their reason,
// each valid kind connects and receives events, per-user and per-address limits answer
// clearly, and TLS termination serves wss:// and https:// polling.
import assert from "node:assert/strict";
import { rmSync } from "node:fs";
import { after, before, describe, test } from "node:test";
import { io } from "socket.io-client";
import {
  connect, createFamily, eventually, JWT_SECRET, signJWT, startServer, tokenFor, waitForEvent,
} from "../lib/harness.mjs";
import { keyPair, rawHandshake, rawJWT, selfSignedCert, signers, tempDir } from "../lib/security.mjs";

/** Resolves with the connect_error a token gets (fails if it connects). */
async function refusal(server, token, opts = {}) {
  try {
    const s = await connect(server, token, opts);
    s.close();
  } catch (err) {
    return err;
  }
  assert.fail("connected; expected connect_error");
}

async function publishTo(server, userId, marker) {
  await server.pool.query("SELECT realtime.publish('security.ping', ARRAY[$1], '{}', $2::jsonb)",
    [userId, JSON.stringify({ marker })]);
}

describe("tokens", () => {
  let server, dir, rsa, ed, user;
  before(async () => {
    dir = tempDir();
    rsa = keyPair("rsa", dir);
    ed = keyPair("ed25519", dir);
    server = await startServer({
      env: { REALTIME_JWT_PUBLIC_KEYS: `rsa-1=${rsa.file},${ed.file}`, REALTIME_JWT_ISSUER: "https://id.e2e" },
    });
    user = (await createFamily(server.pool, ["parent"])).members[0].id;
  });
  after(async () => {
    await server?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  const iss = "https://id.e2e";
  const hostile = () => [
    ["alg none", rawJWT({ alg: "none", typ: "JWT" }, { sub: user, iss }, null), "invalid_token", "algorithm not allowed"],
    ["HS256 keyed with the RSA public key (confusion)", rawJWT({ alg: "HS256", kid: "rsa-1" }, { sub: user, iss }, signers.hs256(rsa.pem)),
      "invalid_token", "signature is invalid"],
    ["RS256 by another key", rawJWT({ alg: "RS256", kid: "rsa-1" }, { sub: user, iss }, signers.rs256(keyPair("rsa", dir).privateKey)),
      "invalid_token", "signature is invalid"],
    ["expired", rawJWT({ alg: "RS256", kid: "rsa-1" }, { sub: user, iss, exp: Math.floor(Date.now() / 1000) - 60 }, signers.rs256(rsa.privateKey)),
      "token_expired", "expired"],
    ["not yet valid", rawJWT({ alg: "EdDSA" }, { sub: user, iss, nbf: Math.floor(Date.now() / 1000) + 3600 }, signers.eddsa(ed.privateKey)),
      "token_not_yet_valid", "not valid yet"],
    ["wrong issuer", rawJWT({ alg: "EdDSA" }, { sub: user, iss: "https://evil.e2e" }, signers.eddsa(ed.privateKey)), "invalid_token", "issuer"],
    ["unknown kid", rawJWT({ alg: "RS256", kid: "rsa-9" }, { sub: user, iss }, signers.rs256(rsa.privateKey)), "invalid_token", "unknown signing key"],
    ["claims not JSON", (() => { const t = rawJWT({ alg: "EdDSA" }, {}, null).split("."); return `${t[0]}.${Buffer.from("nope").toString("base64url")}.x`; })(),
      "invalid_token", "malformed"],
    ["oversized", "x".repeat(9000), "invalid_token", "too long"],
  ];

  test("hostile tokens get connect_error with their reason", async () => {
    for (const [name, token, code, words] of hostile()) {
      const err = await refusal(server, token);
      assert.equal(err.data?.code, code, `${name}: data.code`);
      assert.match(err.message, new RegExp(words), `${name}: message ${err.message}`);
    }
    assert.ok(!server.logs.some((l) => l.includes(rsa.pem.split("\n")[1])), "nothing secret in the logs");
  });

  test("RS256 and EdDSA tokens signed by Node's crypto connect and receive events", async () => {
    for (const [name, token] of [
      ["RS256", rawJWT({ alg: "RS256", kid: "rsa-1", typ: "JWT" }, { sub: user, iss }, signers.rs256(rsa.privateKey))],
      ["EdDSA", rawJWT({ alg: "EdDSA" }, { sub: user, iss }, signers.eddsa(ed.privateKey))],
    ]) {
      const socket = await connect(server, token);
      try {
        const got = waitForEvent(socket, "security.ping");
        await publishTo(server, user, name);
        assert.equal((await got).payload.marker, name);
      } finally {
        socket.close();
      }
    }
    for (const token of hostile().map((h) => h[1])) {
      assert.ok(!server.logs.some((l) => l.includes(token)), "a token appears in the logs");
    }
  });

  test("a token in the URL query string is refused by default", async () => {
    const token = rawJWT({ alg: "EdDSA" }, { sub: user, iss }, signers.eddsa(ed.privateKey));
    const err = await refusal(server, undefined, { auth: {}, query: { token } });
    assert.equal(err.data?.code, "missing_token");
    assert.match(err.message, /URL query string is not accepted/);
  });
});

describe("limits", () => {
  let server, family;
  before(async () => {
    server = await startServer({
      env: { REALTIME_HANDSHAKE_RATE: "0.2", REALTIME_HANDSHAKE_BURST: "3", REALTIME_MAX_CONNECTIONS_PER_USER: "2" },
    });
    family = await createFamily(server.pool, ["parent", "child", "child"]);
  });
  after(async () => {
    await server?.stop();
  });

  test("a burst from one address is throttled while other addresses still connect", async () => {
    // One user per attempt, so that the per-user cap stays out of the way.
    const attempts = await Promise.allSettled(Array.from({ length: 6 }, (_, i) =>
      connect(server, tokenFor(`burst-${i}`), { transports: ["websocket"], localAddress: "127.0.0.1", timeout: 10000 })));
    const ok = attempts.filter((a) => a.status === "fulfilled");
    const refused = attempts.filter((a) => a.status === "rejected");
    ok.forEach((a) => a.value.close());
    assert.ok(ok.length <= 3, `${ok.length} of 6 connected with a burst of 3`);
    assert.ok(refused.length >= 3, `${refused.length} refused`);
    for (const r of refused) {
      assert.match(String(r.reason.message), /websocket error/, "the client sees a transport error, not a hang");
    }
    // The handshake answer says why, with a retry hint.
    const raw = await rawHandshake(server, "127.0.0.1");
    assert.equal(raw.status, 429);
    assert.ok(Number(raw.headers["retry-after"]) >= 1);
    assert.match(JSON.parse(raw.body).message, /Too many connection attempts/);
    // Other addresses are not affected (all of 127/8 is loopback on Linux).
    for (const local of ["127.0.0.2", "127.0.0.3"]) {
      const s = await connect(server, tokenFor(`other-${local}`), { transports: ["websocket"], localAddress: local });
      s.close();
      assert.equal((await rawHandshake(server, local)).status, 200);
    }
  });

  test("a throttled client with reconnection on gets in once the rate allows", async () => {
    const [, , carol] = family.members;
    const socket = io(server.url, {
      auth: { token: tokenFor(carol.id) }, transports: ["websocket"], localAddress: "127.0.0.1",
      forceNew: true, reconnection: true, reconnectionDelay: 300, reconnectionDelayMax: 1000,
    });
    try {
      await eventually(() => socket.connected, 20000, "the throttled client to connect");
    } finally {
      socket.close();
    }
  });

  test("connections per user are capped; a closed one frees its slot", async () => {
    const [alice, bob] = family.members;
    const local = { localAddress: "127.0.0.4", transports: ["websocket"] };
    const first = await connect(server, tokenFor(alice.id), { ...local, localAddress: "127.0.0.4" });
    const second = await connect(server, tokenFor(alice.id), { ...local, localAddress: "127.0.0.5" });
    const err = await refusal(server, tokenFor(alice.id), { ...local, localAddress: "127.0.0.6" });
    assert.equal(err.data?.code, "too_many_connections");
    assert.match(err.message, /at most 2/);
    const other = await connect(server, tokenFor(bob.id), { ...local, localAddress: "127.0.0.7" });
    first.close();
    const again = await eventually(async () => {
      try {
        return await connect(server, tokenFor(alice.id), { ...local, localAddress: "127.0.0.8" });
      } catch (e) {
        if (e.data?.code !== "too_many_connections") throw e;
        return null;
      }
    }, 10000, "alice's slot to be freed");
    [second, other, again].forEach((s) => s.close());
  });
});

describe("TLS", () => {
  let server, dir, tls, family;
  before(async () => {
    dir = tempDir();
    tls = selfSignedCert(dir);
    server = await startServer({ env: { REALTIME_TLS_CERT: tls.cert, REALTIME_TLS_KEY: tls.key } });
    family = await createFamily(server.pool, ["parent"]);
  });
  after(async () => {
    await server?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  for (const [label, transports, expected] of [
    ["wss://", ["websocket"], "websocket"],
    ["https:// polling then upgrade", undefined, "websocket"],
    ["https:// polling only", ["polling"], "polling"],
  ]) {
    test(`connects over ${label} and receives events`, async () => {
      assert.match(server.url, /^https:\/\//);
      const user = family.members[0].id;
      const socket = await connect(server, tokenFor(user), { ca: tls.ca, ...(transports ? { transports } : {}) });
      try {
        await eventually(() => socket.io.engine.transport.name === expected, 5000, `transport ${expected}`);
        const got = waitForEvent(socket, "security.ping");
        await publishTo(server, user, label);
        assert.equal((await got).payload.marker, label);
      } finally {
        socket.close();
      }
    });
  }

  test("a client that does not trust the certificate cannot connect", async () => {
    const err = await refusal(server, tokenFor(family.members[0].id), { transports: ["websocket"] });
    assert.match(err.message, /websocket error/);
  });
});

// Keep the HS256 helper of the harness honest: the e2e secret still signs valid tokens.
test("harness tokens are HS256 with the e2e secret", () => {
  assert.equal(JSON.parse(Buffer.from(signJWT({ sub: "x" }).split(".")[0], "base64url")).alg, "HS256");
  assert.ok(JWT_SECRET.length > 0);
});
