// npm run mock-check: serve the UI against the fake engine (fixtures.ts),
// drive it with headless Chromium, screenshot every view in light and dark
// into $SHOTS (default /tmp/ui-shots) and run axe-core on each. Exits 1 on
// any axe violation or failed expectation.
//   CHROMIUM=/usr/bin/chromium SHOTS=/tmp/ui-shots npm run mock-check

import { mkdirSync, readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { fileURLToPath } from "node:url";
import { chromium } from "playwright-core";
import { createServer } from "vite";

const require = createRequire(import.meta.url);
const root = fileURLToPath(new URL("..", import.meta.url));
const shots = process.env.SHOTS ?? "/tmp/ui-shots";
mkdirSync(shots, { recursive: true });
const axeSource = readFileSync(require.resolve("axe-core/axe.min.js"), "utf8");

const server = await createServer({ root, logLevel: "error", server: { port: 5199, strictPort: false, host: "127.0.0.1" } });
await server.listen();
const base = server.resolvedUrls.local[0];

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM ?? "/usr/bin/chromium",
  args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update", "--disable-sync", "--no-first-run"],
});

let failures = 0;
const fail = (msg) => {
  failures++;
  console.log(`  FAIL ${msg}`);
};

async function axe(page, name) {
  await page.evaluate(axeSource);
  const res = await page.evaluate(async () => {
    // eslint-disable-next-line no-undef
    const r = await axe.run(document, { resultTypes: ["violations"] });
    return r.violations.map((v) => ({ id: v.id, impact: v.impact, help: v.help, nodes: v.nodes.slice(0, 4).map((n) => n.target.join(" ") + " :: " + n.failureSummary) }));
  });
  if (res.length === 0) console.log(`  axe ${name}: 0 violations`);
  for (const v of res) {
    fail(`axe ${name}: ${v.id} (${v.impact}) ${v.help}`);
    for (const n of v.nodes) console.log(`      ${n}`);
  }
}

async function shot(page, name) {
  await page.evaluate(() => document.querySelector(".toast")?.setAttribute("hidden", ""));
  await page.screenshot({ path: `${shots}/${name}.png`, fullPage: true });
}

const tid = (id) => `[data-testid="${id}"]`;

for (const scheme of ["light", "dark"]) {
  for (const scenario of ["busy", "trouble", "empty"]) {
    const page = await browser.newPage({ colorScheme: scheme, viewport: { width: 1000, height: 720 } });
    page.on("pageerror", (e) => fail(`page error: ${e.message}`));
    page.on("console", (m) => m.type() === "error" && fail(`console: ${m.text()}`));
    await page.goto(`${base}mock/index.html?scenario=${scenario}`);
    await page.waitForSelector(tid("app-state"));
    const tag = `${scenario}-${scheme}`;
    console.log(`== ${tag}`);

    // Status
    await page.click(tid("smtp-password-reveal"));
    const pw = await page.textContent(tid("smtp-password"));
    if (pw !== "vq7-Kd2p-9xLm-T4ze") fail(`revealed password: ${pw}`);
    await page.click(tid("smtp-password-reveal"));
    if (scenario === "busy") {
      await page.click(tid("pause-toggle"));
      await page.waitForSelector(`${tid("app-state")}[data-state="paused"]`);
      if ((await page.textContent(tid("pause-toggle"))) !== "Resume sending") fail("pause toggle text");
    }
    if (scenario === "trouble") {
      await page.click(tid("use-port-smtp"));
      await page.waitForTimeout(300);
      if (await page.isVisible(tid("status-error"))) fail("use-port save failed");
    }
    // keyboard: arrows move along the nav
    await page.focus(tid("nav-status"));
    await page.keyboard.press("ArrowDown");
    const next = await page.evaluate(() => document.activeElement?.getAttribute("data-testid"));
    if (next !== "nav-recipients") fail(`arrow key in nav went to ${next}`);
    await page.click("details.guide summary");
    // an engine event re-reads the view, keeping what was opened
    await page.evaluate(() => window.__mockEmit({ kind: "status" }));
    await page.waitForTimeout(400);
    if (!(await page.$("details.guide[open]"))) fail("opened guide closed by an event");
    await shot(page, `status-${tag}`);
    await axe(page, `status ${tag}`);

    // Recipients
    await page.click(tid("nav-recipients"));
    await page.fill(tid("recipient-input"), "alice@ecdsa.test, mallory@bogus.test\ncarol@insecure.test");
    await page.click(tid("recipient-check"));
    await page.waitForSelector(`${tid("verdict")}[data-address="alice@ecdsa.test"]`);
    const cert = await page.textContent(`${tid("verdict")}[data-address="alice@ecdsa.test"] ${tid("cert-sha256")}`);
    if (!/^[0-9a-f]{64}$/.test(cert ?? "")) fail(`cert-sha256 text: ${cert}`);
    const bogus = await page.getAttribute(`${tid("verdict")}[data-address="mallory@bogus.test"]`, "data-smimea-status");
    if (bogus !== "bogus") fail(`bogus status ${bogus}`);
    await page.click(`${tid("verdict")}[data-address="alice@ecdsa.test"] details.tech summary`);
    await shot(page, `recipients-${tag}`);
    await axe(page, `recipients ${tag}`);

    // Activity
    await page.click(tid("nav-activity"));
    await page.waitForSelector(scenario === "empty" ? tid("activity-empty") : tid("activity-row"));
    if (scenario !== "empty") {
      await page.click(tid("activity-delete"));
      await page.waitForSelector(tid("activity-delete-confirm"));
      // an engine event must not close the open question
      await page.evaluate(() => window.__mockEmit({ kind: "delivered", id: "q-20250301-0007", recipient: "bob@slow.example" }));
      await page.waitForTimeout(400);
      if (!(await page.$(tid("activity-delete-confirm")))) fail("delete confirm lost on event");
    }
    await shot(page, `activity-${tag}`);
    await axe(page, `activity ${tag}`);

    // Keys
    await page.click(tid("nav-keys"));
    await page.waitForSelector(scenario === "empty" ? tid("keys-empty") : tid("key-row"));
    if (scenario === "empty") {
      await page.fill(tid("key-email"), "new@example.org");
      await page.click(tid("key-generate"));
      await page.waitForSelector(`${tid("key-row")}[data-address="new@example.org"]`);
    }
    await page.waitForSelector(tid("record-text"));
    await page.click(tid("record-check"));
    await page.waitForSelector(tid("record-status"));
    await shot(page, `keys-${tag}`);
    await axe(page, `keys ${tag}`);

    // Settings
    await page.click(tid("nav-settings"));
    await page.waitForSelector(tid("settings-save"));
    await page.fill(tid("setting-smtp-port"), "99999");
    await page.click(tid("settings-save"));
    await page.waitForSelector(tid("settings-error"), { state: "visible" });
    const inv = await page.getAttribute(tid("setting-smtp-port"), "aria-invalid");
    if (inv !== "true") fail("smtp-port not marked invalid");
    const focused = await page.evaluate(() => document.activeElement?.getAttribute("data-testid"));
    if (focused !== "setting-smtp-port") fail(`focus after error: ${focused}`);
    await page.click("details.advanced summary");
    await shot(page, `settings-error-${tag}`);
    await axe(page, `settings ${tag}`);
    await page.fill(tid("setting-smtp-port"), "1587");
    await page.click(tid("settings-save"));
    await page.waitForSelector(tid("settings-saved"), { state: "visible" });
    // Incoming mail: no TLS only for a loopback host, refused on its field.
    await page.check(tid("setting-inbound-enabled"));
    await page.fill(tid("setting-inbound-host"), "imap.example.net");
    await page.selectOption(tid("setting-inbound-security"), "none");
    await page.click(tid("settings-save"));
    await page.waitForSelector(tid("settings-error"), { state: "visible" });
    if ((await page.getAttribute(tid("setting-inbound-security"), "aria-invalid")) !== "true") fail("inbound-security not marked invalid");
    await page.selectOption(tid("setting-inbound-security"), "tls");
    await page.fill(tid("setting-inbound-password"), "imap-secret");
    await page.click(tid("settings-save"));
    await page.waitForSelector(tid("settings-saved"), { state: "visible" });
    if ((await page.inputValue(tid("setting-inbound-password"))) !== "") fail("inbound password echoed back");
    if (!/A password is stored/.test((await page.textContent(tid("setting-inbound-password-state"))) ?? "")) fail("inbound password state");
    await page.close();
  }

  // First run
  const page = await browser.newPage({ colorScheme: scheme, viewport: { width: 1000, height: 720 } });
  page.on("pageerror", (e) => fail(`page error: ${e.message}`));
  await page.goto(`${base}mock/index.html?scenario=firstrun`);
  await page.waitForSelector(tid("firstrun-upstream-host"));
  console.log(`== firstrun-${scheme}`);
  await shot(page, `firstrun-1-${scheme}`);
  await axe(page, `firstrun 1 ${scheme}`);
  await page.fill(tid("firstrun-upstream-host"), "smtp.example.net");
  await page.fill(tid("firstrun-upstream-port"), "587");
  await page.click(tid("firstrun-save"));
  await page.waitForSelector(tid("key-email"));
  await shot(page, `firstrun-2-${scheme}`);
  await axe(page, `firstrun 2 ${scheme}`);
  await page.fill(tid("key-email"), "me@example.org");
  await page.click(tid("key-generate"));
  await page.waitForSelector(tid("record-text"));
  await page.click(tid("record-check"));
  await page.waitForSelector(tid("record-status"));
  await shot(page, `firstrun-3-${scheme}`);
  await axe(page, `firstrun 3 ${scheme}`);
  await page.click(tid("firstrun-next"));
  await page.waitForSelector(tid("firstrun-done"));
  await shot(page, `firstrun-4-${scheme}`);
  await axe(page, `firstrun 4 ${scheme}`);
  await page.click(tid("firstrun-done"));
  await page.waitForSelector(tid("app-state"));
  await page.close();
}

await browser.close();
await server.close();
console.log(failures ? `${failures} failure(s); screenshots in ${shots}` : `all good; screenshots in ${shots}`);
process.exit(failures ? 1 : 0);
