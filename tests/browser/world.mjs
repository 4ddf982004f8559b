// Browser test of examples/world-demo: headless Chromium loads the page, receives keyframes
// and terrain for its interest ring, sees NPCs, walks east across a zone edge, and gets the
// new zones' keyframes and terrain.
//
//   WORLD_DEMO_BIN=target/debug/world-demo node tests/browser/world.mjs

import { Checks, launchBrowser, sleep, startServer } from "./harness.mjs";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";

const root = resolve(new URL("../..", import.meta.url).pathname);
const bin = process.env.WORLD_DEMO_BIN || join(root, "target/debug/world-demo");
const checks = new Checks();
const check = (name, ok, detail) => checks.check(name, ok, detail);

const work = mkdtempSync(join(tmpdir(), "asobi-world-"));
const { url, server } = await startServer(bin, ["--database-url", `sqlite://${join(work, "asobi.db")}`]);

const browser = await launchBrowser();
try {
  const page = await browser.newPage();
  await page.goto(url + "/");
  await page.waitForFunction(() => window.demo?.myEntity() && Object.keys(window.demo.chunks).length > 0, null, { timeout: 15000 });
  const state = () => page.evaluate(() => {
    const me = window.demo.myEntity();
    let npcs = 0;
    for (const z of Object.values(window.demo.zones)) for (const e of Object.values(z.table)) if (e.type === "npc") npcs++;
    return { x: me.x, y: me.y, chunks: Object.keys(window.demo.chunks).sort(), keyframes: window.demo.keyframes, npcs, resyncs: window.demo.resyncs };
  });
  await page.waitForFunction(() => Object.values(window.demo.zones).some((z) => Object.values(z.table).some((e) => e.type === "npc")), null, { timeout: 10000 }).catch(() => {});
  const start = await state();
  check("terrain arrives for the whole ring", start.chunks.length === 9, JSON.stringify(start.chunks));
  check("NPCs are visible", start.npcs > 0, `npcs ${start.npcs}`);
  const zoneX = (x) => Math.floor(x / 256);

  await page.click("canvas");
  await page.keyboard.down("d");
  // A crossing needs the hysteresis margin (0.15 × 256 units) past the zone edge.
  const past = (zoneX(start.x) + 1) * 256 + 48;
  await page.waitForFunction((x) => window.demo.myEntity().x >= x, past, { timeout: 15000 }).catch(() => {});
  await page.keyboard.up("d");
  await sleep(500);
  const end = await state();
  console.log(`walked from (${start.x}, ${start.y}) to (${end.x}, ${end.y}); chunks ${start.chunks.length} → ${end.chunks.length}, keyframes ${start.keyframes} → ${end.keyframes}`);
  check("the player walked east", end.x > start.x, `${start.x} → ${end.x}`);
  check("crossed into the next zone", zoneX(end.x) > zoneX(start.x), `zone ${zoneX(start.x)} → ${zoneX(end.x)}`);
  check("new zones sent keyframes", end.keyframes > start.keyframes, `${start.keyframes} → ${end.keyframes}`);
  check("new zones sent terrain", end.chunks.some((c) => !start.chunks.includes(c)), JSON.stringify(end.chunks));
} catch (e) {
  checks.fail(e);
} finally {
  await browser.close();
  server.kill("SIGTERM");
}
checks.finish();
