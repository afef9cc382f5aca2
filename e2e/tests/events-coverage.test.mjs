// Every event of the catalogue (docs/events.md) has an end-to-end test here: some
// events-*.test.mjs expects it at a client (expectExactly … ["<event>"]).
import assert from "node:assert/strict";
import { readFileSync, readdirSync } from "node:fs";
import path from "node:path";
import { test } from "node:test";
import { repoRoot } from "../lib/harness.mjs";

test("every event of docs/events.md is expected by an end-to-end test", () => {
  const catalogue = readFileSync(path.join(repoRoot, "docs/events.md"), "utf8");
  const events = [...catalogue.matchAll(/^### `([^`]+)`\s*$/gm)].map((m) => m[1]);
  assert.ok(events.length >= 20, `found ${events.length} events in docs/events.md`);
  const dir = path.join(repoRoot, "e2e/tests");
  const tests = readdirSync(dir)
    .filter((f) => /^events-.*\.test\.mjs$/.test(f))
    .map((f) => readFileSync(path.join(dir, f), "utf8"))
    .join("\n");
  const untested = events.filter((e) => !new RegExp(`\\[[^\\]]*"${e.replace(".", "\\.")}"`).test(tests));
  assert.deepEqual(untested, [], "events of the catalogue without an end-to-end test");
});
