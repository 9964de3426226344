#!/usr/bin/env node
// `npm run test:browser`: the console and /docs in a real Chromium (Debian's /usr/bin/chromium, driven by
// playwright-core) against a local server. Prints one line per test and a plain "N passed, N failed" line;
// exits non-zero on any failure. CHROMIUM overrides the browser's path.
import { existsSync, readdirSync, rmSync } from "node:fs";
import { chromium } from "playwright-core";
import { startServer } from "./server.mjs";
import { tests } from "./console.browser.mjs";

const executablePath = process.env.CHROMIUM ?? "/usr/bin/chromium";
// Without the background-networking flags Chromium keeps calling Google's hosts, which this closed network refuses.
const ARGS = ["--no-sandbox", "--headless", "--disable-gpu", "--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync"];
const TEST_MS = 60_000;

if (!existsSync(executablePath)) {
  console.error(`no Chromium at ${executablePath}: apt-get install -y chromium (or set CHROMIUM)`);
  console.log(`0 passed, ${tests.length} failed`);
  process.exit(1);
}

// Failure screenshots are of the last run only.
for (const file of readdirSync(".ci")) if (/^browser-failure-\d+\.png$/.test(file)) rmSync(`.ci/${file}`);

const only = process.argv[2];
const selected = only ? tests.filter((test) => test.name.includes(only)) : tests;
let server;
let browser;
let passed = 0;
let failed = 0;
try {
  server = await startServer();
  browser = await chromium.launch({ executablePath, args: ARGS });
  for (const test of selected) {
    const context = await browser.newContext({ viewport: test.viewport ?? { width: 1280, height: 860 } });
    const page = await context.newPage();
    page.setDefaultTimeout(15_000);
    // Every CSP violation or script error fails the test: the policy must hold. Chromium also logs each 4xx answer
    // as a console error; those are API answers the console shows (the sign-in probe's 403 among them), not faults.
    const problems = [];
    const answered = /^Failed to load resource: the server responded with a status of 4\d\d/;
    page.on("console", (message) => message.type() === "error" && !answered.test(message.text()) && problems.push(`console: ${message.text()}`));
    page.on("pageerror", (error) => problems.push(`page error: ${error.message}`));
    const started = Date.now();
    try {
      await Promise.race([
        test.run({ page, origin: server.origin, rootKey: server.rootKey }),
        new Promise((_, reject) => setTimeout(() => reject(new Error(`timed out after ${TEST_MS} ms`)), TEST_MS)),
      ]);
      if (problems.length > 0) throw new Error(problems.join("\n"));
      passed++;
      console.log(`  ✓ ${test.name} (${Date.now() - started} ms)`);
    } catch (error) {
      failed++;
      console.log(`  ✗ ${test.name}\n    ${String(error?.stack ?? error).split("\n").slice(0, 6).join("\n    ")}`);
      await page.screenshot({ path: `.ci/browser-failure-${selected.indexOf(test)}.png` }).catch(() => {});
    } finally {
      await context.close();
    }
  }
} catch (error) {
  console.log(`browser tests could not run: ${error?.message ?? error}`);
  failed += selected.length - passed - failed;
} finally {
  await browser?.close().catch(() => {});
  server?.stop();
}
console.log(`${passed} passed, ${failed} failed`);
process.exit(failed === 0 ? 0 : 1);
