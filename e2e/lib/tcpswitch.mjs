// A switchable TCP proxy for end-to-end tests: clients connect to it, it forwards to one
// realtimed node, and the test can point it at another node or cut every connection (a load
// balancer in front of a node that fails). lib/proxy.mjs is the other kind: first backend up.
import net from "node:net";

/** Starts a proxy on a free port forwarding to 127.0.0.1:targetPort. */
export async function startSwitch(targetPort) {
  let target = targetPort;
  const pairs = new Set();
  const server = net.createServer((client) => {
    const upstream = net.connect(target, "127.0.0.1");
    const pair = { client, upstream };
    pairs.add(pair);
    const close = () => {
      pairs.delete(pair);
      client.destroy();
      upstream.destroy();
    };
    for (const s of [client, upstream]) {
      s.on("error", close);
      s.on("close", close);
    }
    client.pipe(upstream);
    upstream.pipe(client);
  });
  await new Promise((resolve, reject) => {
    server.once("error", reject);
    server.listen(0, "127.0.0.1", resolve);
  });
  const { port } = server.address();
  return {
    port,
    url: `http://127.0.0.1:${port}`,
    /** New connections go to targetPort from now on. */
    setTarget(p) {
      target = p;
    },
    /** Closes every forwarded connection. */
    cut() {
      for (const { client, upstream } of pairs) {
        client.destroy();
        upstream.destroy();
      }
      pairs.clear();
    },
    get connections() {
      return pairs.size;
    },
    async close() {
      this.cut();
      await new Promise((resolve) => server.close(resolve));
    },
  };
}

/**
 * startSwitch on a thread of its own (a worker), for tests whose own thread is busy with
 * thousands of clients: the switch then forwards bytes while the clients' event loop works.
 * Same methods, asynchronous (no connections count).
 */
export async function startSwitchThread(targetPort) {
  const { Worker } = await import("node:worker_threads");
  const worker = new Worker(new URL(import.meta.url), { workerData: { targetPort } });
  const replies = [];
  worker.on("message", (m) => replies.shift()?.(m));
  const ask = (m) => new Promise((resolve) => {
    replies.push(resolve);
    worker.postMessage(m);
  });
  const { port } = await new Promise((resolve, reject) => {
    replies.push(resolve);
    worker.once("error", reject);
  });
  return {
    port,
    url: `http://127.0.0.1:${port}`,
    setTarget: (p) => ask({ op: "setTarget", port: p }),
    cut: () => ask({ op: "cut" }),
    async close() {
      await ask({ op: "close" });
      await worker.terminate();
    },
  };
}

// In the worker of startSwitchThread: run the switch and answer its owner's requests.
const { isMainThread, parentPort, workerData } = await import("node:worker_threads");
if (!isMainThread && workerData?.targetPort) {
  const sw = await startSwitch(workerData.targetPort);
  parentPort.on("message", async (m) => {
    if (m.op === "setTarget") sw.setTarget(m.port);
    if (m.op === "cut") sw.cut();
    if (m.op === "close") await sw.close();
    parentPort.postMessage({ ok: true });
  });
  parentPort.postMessage({ port: sw.port });
}
