// Helpers for the security tests: keys and JWTs signed with Node's crypto (RS256, EdDSA,
// hostile forms), a self-signed certificate made with openssl, raw handshakes from a chosen
// source address.
import { execFileSync } from "node:child_process";
import { createHmac, generateKeyPairSync, sign as cryptoSign } from "node:crypto";
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import http from "node:http";
import os from "node:os";
import path from "node:path";

const b64url = (buf) => Buffer.from(buf).toString("base64url");

export function tempDir() {
  return mkdtempSync(path.join(os.tmpdir(), "realtimed-e2e-"));
}

/** Generates an RSA or Ed25519 key pair; writes the public key as PEM; returns both. */
export function keyPair(type, dir) {
  const opts = type === "rsa" ? { modulusLength: 2048 } : {};
  const { publicKey, privateKey } = generateKeyPairSync(type, opts);
  const pem = publicKey.export({ type: "spki", format: "pem" });
  const file = path.join(dir, `${type}.pem`);
  writeFileSync(file, pem);
  return { privateKey, pem, file };
}

/** Assembles a JWT; sign(data) returns the signature bytes (null: empty signature). */
export function rawJWT(header, claims, sign) {
  const now = Math.floor(Date.now() / 1000);
  const body = { iat: now, exp: now + 3600, ...claims };
  for (const [k, v] of Object.entries(body)) if (v === undefined) delete body[k];
  const data = b64url(JSON.stringify(header)) + "." + b64url(JSON.stringify(body));
  return data + "." + (sign ? b64url(sign(Buffer.from(data))) : "");
}

export const signers = {
  rs256: (privateKey) => (data) => cryptoSign("sha256", data, privateKey),
  eddsa: (privateKey) => (data) => cryptoSign(null, data, privateKey),
  hs256: (secret) => (data) => createHmac("sha256", secret).update(data).digest(),
};

/** Writes a self-signed certificate for 127.0.0.1/localhost with openssl; returns the paths. */
export function selfSignedCert(dir) {
  const cert = path.join(dir, "cert.pem");
  const key = path.join(dir, "key.pem");
  try {
    execFileSync("openssl", [
      "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
      "-keyout", key, "-out", cert, "-days", "1", "-subj", "/CN=realtimed e2e",
      "-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost",
    ], { stdio: "pipe" });
  } catch (err) {
    throw new Error(`openssl could not make a test certificate (scripts/deps.sh openssl installs it): ${err.message}`);
  }
  return { cert, key, ca: readFileSync(cert) };
}

/** Sends an Engine.IO handshake GET from localAddress; resolves {status, headers, body}. */
export function rawHandshake(server, localAddress) {
  const u = new URL(server.url);
  return new Promise((resolve, reject) => {
    const req = http.get({
      host: u.hostname, port: u.port, localAddress,
      path: "/socket.io/?EIO=4&transport=polling",
    }, (res) => {
      let body = "";
      res.on("data", (c) => (body += c));
      res.on("end", () => resolve({ status: res.statusCode, headers: res.headers, body }));
    });
    req.on("error", reject);
  });
}
