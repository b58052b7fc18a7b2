// End-to-end check of Restricted Mode in a real VS Code (code-server), through headless Chromium.
// Started by `OFFPILOT_E2E_RESTRICTED=1 .ci/e2e-vscode`, which opens an untrusted copy of the demo
// project holding a malicious `.venv/bin/offpilot` (it writes $CANARY when run) and a
// `.vscode/settings.json` that names a model file and a server command inside the workspace.
// 1. No server is configured, so the only `offpilot` is the workspace's: nothing starts, the
//    canary stays absent, a notification offers "Manage Workspace Trust".
// 2. The user settings then name the real server (outside the workspace): it starts, is told
//    `workspaceTrusted: false`, and does not get the workspace's model setting.
// 3. Trust is granted: the server restarts with the workspace's configuration.
import { createRequire } from 'module';
import fs from 'fs';
import path from 'path';

const require = createRequire(path.join(process.env.PLAYWRIGHT, 'node_modules', 'x.js'));
const { chromium } = require('playwright-core');

const { WORKSPACE: workspace, ARTIFACTS: artifacts, CANARY: canary, EXPECTED_SERVER: expectedServer } = process.env;
const t0 = Date.now();
const log = (...a) => console.log(`[e2e-restricted +${((Date.now() - t0) / 1000).toFixed(1)}s]`, ...a);
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

function offpilotLog() {
  const found = [];
  const walk = (dir) => {
    for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
      const p = path.join(dir, e.name);
      if (e.isDirectory()) walk(p);
      else if (/Offpilot\.log$/.test(e.name)) found.push(p);
    }
  };
  try { walk(process.env.LOGS_DIR); } catch { /* not there yet */ }
  return found.map((f) => fs.readFileSync(f, 'utf8')).join('\n');
}

async function waitFor(what, fn, timeoutMs, everyMs = 500) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs / 1000}s waiting for ${what}`);
    await sleep(everyMs);
  }
}

const ctx = await chromium.launchPersistentContext(path.join(artifacts, 'chrome-profile'), {
  executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
  headless: true,
  viewport: { width: 1500, height: 950 },
  args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
    '--disable-background-networking', '--disable-component-update', '--disable-sync', '--disable-dev-shm-usage'],
});
const page = ctx.pages()[0] || (await ctx.newPage());
const statusItems = () => page.evaluate(() =>
  [...document.querySelectorAll('.statusbar-item')].map((e) => e.getAttribute('aria-label') || e.textContent || ''));

let failure;
try {
  await page.goto(process.env.CS_URL, { waitUntil: 'domcontentloaded' });
  await page.waitForSelector('.monaco-workbench', { timeout: 60000 });
  await page.waitForSelector('.explorer-folders-view .monaco-list-row[aria-label*="shop"]', { timeout: 60000 });
  log('workbench up');
  const restricted = await waitFor('the Restricted Mode indicator', async () =>
    (await statusItems()).find((t) => /Restricted Mode/i.test(t)), 30000);
  log('status bar:', JSON.stringify(restricted));
  const refused = await waitFor('the refusal in the Offpilot output', async () =>
    offpilotLog().match(/the server was not started: .*/)?.[0], 60000);
  log(refused);
  const notice = await waitFor('the notification offering Manage Workspace Trust', async () =>
    page.evaluate(() => [...document.querySelectorAll('.notification-toast')].map((e) => e.textContent || '')
      .find((t) => t.includes('Offpilot: the server was not started') && t.includes('Manage Workspace Trust'))), 30000);
  log('notification:', JSON.stringify(notice.slice(0, 160)));
  if (fs.existsSync(canary)) throw new Error('the workspace .venv/bin/offpilot ran: the canary exists');

  // 2. the user names the real server: it starts, and is told the workspace is not trusted
  const userSettings = JSON.parse(fs.readFileSync(process.env.USER_SETTINGS, 'utf8'));
  userSettings['offpilot.server.command'] = [expectedServer, 'serve'];
  fs.writeFileSync(process.env.USER_SETTINGS, JSON.stringify(userSettings, null, 2));
  await page.reload({ waitUntil: 'domcontentloaded' });  // (code-server does not notice the file change)
  await page.waitForSelector('.monaco-workbench', { timeout: 60000 });
  const status = await waitFor('the Offpilot server to be ready', async () =>
    (await statusItems()).find((t) => t.startsWith('Offpilot status:') && /ready|indexing/.test(t)), 120000);
  log('status bar:', JSON.stringify(status));
  const text = offpilotLog();
  const started = text.match(/starting the server: (.*) \(from ([\w:.-]+)\)/);
  if (!started) throw new Error('no "starting the server" line in the Offpilot output');
  log('started:', started[0]);
  if (started[1] !== `${expectedServer} serve` || started[2] !== 'setting:server.command') {
    throw new Error(`expected ${expectedServer} serve from the user setting, got ${started[0]}`);
  }
  if (!/"workspaceTrusted": false/.test(text)) throw new Error('the server was not told workspaceTrusted: false');
  if (/evil\.gguf/.test(text)) throw new Error('the workspace\'s offpilot.model reached the server');
  if (fs.existsSync(canary)) throw new Error('the workspace .venv/bin/offpilot ran: the canary exists');
  log('canary absent; the server was told the workspace is not trusted');

  // 3. grant trust: the server restarts with the workspace's full configuration (its model
  //    setting now reaches the server)
  await page.keyboard.press('F1');
  await page.waitForSelector('.quick-input-widget input', { state: 'visible', timeout: 10000 });
  await page.keyboard.type('Manage Workspace Trust', { delay: 15 });
  await page.waitForSelector('.quick-input-list .monaco-list-row:has-text("Manage Workspace Trust")', { timeout: 15000 });
  await page.keyboard.press('Enter');
  const trust = page.locator('.workspace-trust-editor .monaco-button', { hasText: /^Trust$/ }).first();
  await trust.waitFor({ timeout: 20000 });
  await trust.click();
  const restarted = await waitFor('the restart after trust is granted', async () =>
    /the workspace is now trusted; restarting the server/.test(offpilotLog()) && /evil\.gguf/.test(offpilotLog()), 60000);
  log('trust granted: the server restarted and got the workspace settings', restarted);
} catch (e) {
  failure = e;
  console.error('E2E RESTRICTED FAILED:', e && e.message ? e.message : e);
  try { await page.screenshot({ path: path.join(artifacts, 'restricted-failure.png') }); } catch { /* closed */ }
} finally {
  await ctx.close();
}
log(failure ? 'FAIL' : 'PASS');
process.exit(failure ? 1 : 0);
