// Headless Chromium for browser tests: Debian's chromium (scripts/deps.sh chromium installs
// it) driven by npm's playwright-core. A missing browser fails the test; it never skips.
import fs from "node:fs";
import path from "node:path";
import { chromium } from "playwright-core";
import { repoRoot } from "./harness.mjs";

export const CHROMIUM = process.env.CHROMIUM_PATH || "/usr/bin/chromium";

export async function launchBrowser() {
  if (!fs.existsSync(CHROMIUM)) {
    throw new Error(`${CHROMIUM} not found: run scripts/deps.sh chromium (make test does)`);
  }
  return chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: [
      "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
      "--disable-background-networking", "--disable-component-update", "--disable-sync",
    ],
  });
}

/** Where tests keep screenshots (gitignored). */
export function artifactPath(name) {
  const dir = path.join(repoRoot, "e2e", "artifacts");
  fs.mkdirSync(dir, { recursive: true });
  return path.join(dir, name);
}
