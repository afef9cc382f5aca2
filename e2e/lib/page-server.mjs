// A page on an origin of its own (127.0.0.1 at a free port, not realtimed's), for browser
// tests of cross-origin connections: it loads the official socket.io-client browser bundle
// from e2e/node_modules (never a CDN) and keeps what the client sees in window.rt.
import { existsSync, readFileSync } from "node:fs";
import http from "node:http";
import path from "node:path";
import { freePort, repoRoot } from "./harness.mjs";

const BUNDLE = path.join(repoRoot, "e2e/node_modules/socket.io-client/dist/socket.io.min.js");

// The page keeps what the client sees in window.rt, for the test to read with page.evaluate.
const PAGE = `<!doctype html>
<html><head><meta charset="utf-8"><title>realtimed browser test</title>
<script src="/socket.io.min.js"></script>
<script>
window.rt = {
  socket: null, events: [], transports: [], errors: [],
  connect(url, token, opts = {}) {
    return new Promise((resolve) => {
      const s = io(url, { auth: { token }, reconnection: false, forceNew: true, ...opts });
      this.socket = s;
      s.io.on("open", () => {
        this.transports.push("open:" + s.io.engine.transport.name);
        s.io.engine.on("upgrade", (t) => this.transports.push("upgrade:" + t.name));
      });
      s.onAny((event, ...args) => this.events.push({ event, args }));
      s.on("connect", () => {
        resolve({ ok: true, id: s.id, transport: s.io.engine.transport.name });
      });
      s.on("connect_error", (err) => {
        this.errors.push(err.message);
        resolve({ ok: false, error: err.message });
      });
    });
  },
};
</script></head><body>realtimed browser test</body></html>`;

/**
 * Serves the test page and the socket.io-client bundle on 127.0.0.1 at a free port: an
 * origin of its own, different from realtimed's. Resolves with { origin, close }.
 */
export async function servePage() {
  if (!existsSync(BUNDLE)) throw new Error(`${BUNDLE} missing: run npm ci in e2e/`);
  const bundle = readFileSync(BUNDLE);
  const port = await freePort();
  const srv = http.createServer((req, res) => {
    if (req.url === "/socket.io.min.js") {
      res.writeHead(200, { "Content-Type": "text/javascript" });
      res.end(bundle);
    } else if (req.url === "/") {
      res.writeHead(200, { "Content-Type": "text/html; charset=utf-8" });
      res.end(PAGE);
    } else {
      res.writeHead(404);
      res.end();
    }
  });
  await new Promise((resolve, reject) => {
    srv.once("error", reject);
    srv.listen(port, "127.0.0.1", resolve);
  });
  return {
    origin: `http://127.0.0.1:${port}`,
    close: () => new Promise((resolve) => srv.close(resolve)),
  };
}
