// Browser test of examples/hotreload-demo: open the page in headless Chromium, drive the cube
// with real key presses, change `speed` in the Lua file, and see the movement change on the
// same page load and the same socket.
//
//   ASOBI_SERVER_BIN=target/debug/asobi-server node tests/browser/hotreload.mjs
//
// Prints "browser: N passed, M failed" and exits non-zero on any failure.

import { Checks, launchBrowser, sleep, startServer } from "./harness.mjs";
import { cpSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";

const root = resolve(new URL("../..", import.meta.url).pathname);
const bin = process.env.ASOBI_SERVER_BIN || join(root, "target/debug/asobi-server");
const checks = new Checks();
const check = (name, ok, detail) => checks.check(name, ok, detail);

const work = mkdtempSync(join(tmpdir(), "asobi-browser-"));
cpSync(join(root, "examples/hotreload-demo/lua"), join(work, "lua"), { recursive: true });
const script = join(work, "lua/match.lua");

const { url, server } = await startServer(bin, [
  "--database-url", `sqlite://${join(work, "asobi.db")}`,
  "--game", join(work, "lua"),
  "--static-dir", join(root, "examples/hotreload-demo/public")
]);

const browser = await launchBrowser();
try {
  const page = await browser.newPage();
  await page.goto(url + "/");
  await page.waitForFunction(() => window.demo?.me && window.demo.state?.cubes?.[window.demo.me], null, { timeout: 15000 });
  const loadId = await page.evaluate(() => window.demo.loadId);
  const cubeX = () => page.evaluate(() => window.demo.state.cubes[window.demo.me].x);
  const speed = () => page.evaluate(() => window.demo.state.speed);

  // Drive right for a second at the original speed.
  await page.click("canvas");
  const drive = async () => {
    const x0 = await cubeX();
    await page.keyboard.down("d");
    await sleep(1000);
    await page.keyboard.up("d");
    await sleep(300);
    return (await cubeX()) - x0;
  };
  check("page shows the script's speed", (await speed()) === 4, `speed ${await speed()}`);
  const before = await drive();
  check("the cube moves on key presses", before > 0, `moved ${before}`);

  // Change the Lua file while the page stays open.
  writeFileSync(script, readFileSync(script, "utf8").replace("speed = 4", "speed = 16"));
  await page.waitForFunction(() => window.demo.state.speed === 16, null, { timeout: 5000 }).catch(() => {});
  check("the edit reaches the running match", (await speed()) === 16, `speed ${await speed()}`);
  const after = await drive();
  console.log(`moved ${before} units before the edit and ${after} after (same 1 s of key press)`);
  check("movement changed with the new code", after > 2.5 * before, `before ${before}, after ${after}`);
  check("same page load", (await page.evaluate(() => window.demo.loadId)) === loadId, "the page reloaded");
  check("same socket", (await page.evaluate(() => window.demo.socketsOpened)) === 1, "reconnected");

  // A broken edit keeps the last good code.
  writeFileSync(script, "match_size = 1\nfunction tick(state) return state end\nthis is not lua\n");
  await sleep(800);
  const still = await drive();
  check("a broken edit keeps the old code", still > 2.5 * before && (await speed()) === 16, `moved ${still}`);
} catch (e) {
  checks.fail(e);
} finally {
  await browser.close();
  server.kill("SIGTERM");
}
checks.finish();
