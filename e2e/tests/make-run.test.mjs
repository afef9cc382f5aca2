// `make run` works as the README says: it prints a token per demo member and a psql command
// that makes task.created arrive for the first member.
import assert from "node:assert/strict";
import { spawn, execFile } from "node:child_process";
import { promisify } from "node:util";
import { test } from "node:test";
import { connect, eventually, freePort, repoRoot, waitForEvent } from "../lib/harness.mjs";

const run = promisify(execFile);

test("make run serves the demo family and the printed psql command delivers an event", async () => {
  const port = await freePort();
  const child = spawn("make", ["run"], {
    cwd: repoRoot,
    env: { ...process.env, DATABASE_URL: "", REALTIME_ADDR: `127.0.0.1:${port}` },
    stdio: ["ignore", "pipe", "pipe"],
    detached: true,
  });
  let out = "";
  child.stdout.on("data", (d) => (out += d));
  child.stderr.on("data", (d) => (out += d));
  try {
    await eventually(() => out.includes("realtimed serving"), 60000, "make run to serve");
    const tokens = [...out.matchAll(/^\s{4}(ey[\w-]+\.[\w-]+\.[\w-]+)$/gm)].map((m) => m[1]);
    assert.equal(tokens.length, 3, "one token per demo member:\n" + out);
    // The console URL is printed, and the page there runs in demo mode.
    const consoleURL = out.match(/^Console: (http:\/\/localhost:(\d+)\/)/m);
    assert.ok(consoleURL, "the console URL is printed:\n" + out);
    assert.equal(Number(consoleURL[2]), port);
    const base = `http://127.0.0.1:${port}`;
    assert.match(await (await fetch(base + "/")).text(), /realtimed console/);
    assert.equal((await (await fetch(base + "/console/api/settings")).json()).demo, true);
    assert.equal((await (await fetch(base + "/demo/family")).json()).members.length, 3);
    const psqlLine = out.split("\n").find((l) => l.trim().startsWith("psql "));
    assert.ok(psqlLine, "a psql command is printed:\n" + out);
    const socket = await connect({ url: `http://127.0.0.1:${port}` }, tokens[0]);
    try {
      const got = waitForEvent(socket, "task.created", 10000);
      await run("bash", ["-c", psqlLine.trim()]);
      const { payload } = await got;
      assert.equal(payload.task.name, "Take out the trash");
      // The printed command applies edited or new rules to the running server.
      const applyLine = out.split("\n").find((l) => l.trim().endsWith("bin/realtimed triggers apply") && l.includes("DATABASE_URL="));
      assert.ok(applyLine, "a triggers apply command is printed:\n" + out);
      const { stdout } = await run("bash", ["-c", applyLine.trim()], { cwd: repoRoot });
      assert.match(stdout, /^rules from the folder .*\/sql\/triggers, \d+ files:$/m);
      assert.match(stdout, /^  unchanged  tasks\.sql$/m);
      assert.match(stdout, /^rules applied: 0 applied, 0 replaced, \d+ unchanged$/m);
    } finally {
      socket.close();
    }
  } finally {
    process.kill(-child.pid, "SIGTERM");
    await new Promise((r) => child.on("exit", r));
  }
});
