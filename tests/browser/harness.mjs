// Shared by the browser tests: start a server binary on an ephemeral port, launch Debian's
// Chromium headless, and count checks into the summary line CI reads.

import { chromium } from "playwright-core";
import { spawn } from "node:child_process";

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/// Starts `bin` with `args` (plus an ephemeral address); resolves with its base URL and process.
export async function startServer(bin, args) {
  const server = spawn(bin, ["--http-addr", "127.0.0.1:0", "--log-filter", "warn", ...args], { stdio: ["ignore", "pipe", "inherit"] });
  const url = await new Promise((res, rej) => {
    let out = "";
    server.stdout.on("data", (d) => {
      out += d;
      const m = out.match(/listening on (http:\/\/[0-9.:]+)/);
      if (m) res(m[1]);
    });
    server.on("exit", (code) => rej(new Error(`server exited ${code}`)));
    setTimeout(() => rej(new Error("server did not start")), 30000);
  });
  return { url, server };
}

/// Headless Chromium with the flags this machine needs.
export function launchBrowser() {
  return chromium.launch({
    executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
    args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-quic", "--no-first-run"],
  });
}

/// Counts checks and prints `browser: N passed, M failed` at the end.
export class Checks {
  passed = 0;
  failed = 0;
  check(name, ok, detail) {
    if (ok) { this.passed++; console.log(`ok   ${name}`); } else { this.failed++; console.log(`FAIL ${name}: ${detail}`); }
  }
  fail(e) {
    this.failed++;
    console.log(`FAIL ${e.stack || e}`);
  }
  finish() {
    console.log(`browser: ${this.passed} passed, ${this.failed} failed`);
    process.exit(this.failed === 0 ? 0 : 1);
  }
}
