// Screenshots of the console for the README, the same views as the console
// review's: the dashboard's charts, an endpoint page, the replay form with a
// preview and a running job, the DLQ and the audit log at a laptop's width
// (1280 px; the dashboard and the endpoint page in the dark theme too), and
// the lists at a phone's (390 px). Starts the herald binary in HERALD_BIN on
// a fresh data directory, publishes a few hundred events to a receiver that
// answers 200 and one that answers 500 (so there are failures and DLQ
// entries), reprocesses three of them (for the audit log), starts a slow
// replay, then writes docs/screenshots/<view>-<width>[-dark].png.
//   HERALD_BIN=~/.cache/herald/target/debug/herald node end2end/measure/screenshots.mjs
import { chromium } from '@playwright/test';
import { spawn, execFileSync } from 'node:child_process';
import { createServer } from 'node:http';
import { mkdtempSync, mkdirSync, rmSync } from 'node:fs';
import { once } from 'node:events';
import { tmpdir } from 'node:os';
import path from 'node:path';

const bin = process.env.HERALD_BIN;
if (!bin) {
  console.error('HERALD_BIN is not set');
  process.exit(2);
}
const out = process.env.OUT_DIR ?? path.resolve('docs/screenshots');
mkdirSync(out, { recursive: true });

async function receiver(status) {
  const server = createServer((req, res) => {
    req.resume();
    req.on('end', () => setTimeout(() => {
      res.writeHead(status, { 'content-type': 'text/plain' });
      res.end(status < 300 ? 'thanks' : `receiver answered ${status}`);
    }, 5 + Math.random() * 60));
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return { server, url: `http://127.0.0.1:${server.address().port}/webhooks` };
}

const ADMIN = { email: 'admin@example.com', password: 'screenshots-password' };
const dataDir = mkdtempSync(path.join(tmpdir(), 'herald-shots-'));
const env = {
  ...process.env,
  HERALD_DATA_DIR: dataDir,
  HERALD_LISTEN: '127.0.0.1:0',
  HERALD_ADMIN_EMAIL: ADMIN.email,
  HERALD_ADMIN_PASSWORD: ADMIN.password,
  HERALD_LOG: 'warn',
  HERALD_OUTBOUND_ALLOW_CIDRS: '127.0.0.0/8',
  HERALD_LOGIN_RATE_LIMIT: '0',
};
const herald = spawn(bin, ['serve'], { env, stdio: ['ignore', 'pipe', 'pipe'] });
const base = await new Promise((resolve, reject) => {
  let text = '';
  const timer = setTimeout(() => reject(new Error(`herald did not start:\n${text}`)), 30_000);
  herald.stdout.on('data', (chunk) => {
    text += chunk;
    const m = text.match(/Herald console: (http:\/\/\S+)/);
    if (m) {
      clearTimeout(timer);
      resolve(m[1]);
    }
  });
  herald.stderr.on('data', (chunk) => (text += chunk));
});
const keyLine = execFileSync(bin, ['api-key', 'create', '--name', 'orders-service'], { env }).toString();
const key = keyLine.split('\n').find((l) => l.startsWith('Key (shown only once): ')).replace('Key (shown only once): ', '').trim();
const api = async (p, body) => {
  const res = await fetch(`${base}${p}`, {
    method: body === undefined ? 'GET' : 'POST',
    headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  if (res.status >= 300) throw new Error(`${p}: ${res.status} ${await res.text()}`);
  return res.json();
};

const ok = await receiver(200);
const failing = await receiver(500);
const once3 = { backoff: { kind: 'schedule', delays_secs: [1, 2] }, max_attempts: 3, jitter: 0 };
// Herald before endpoints had names and circuit breakers (SHOTS_BEFORE=1, for
// "before" pictures) takes the same words as a description.
const named = (name) => (process.env.SHOTS_BEFORE ? { description: name } : { name });
const noBreaker = process.env.SHOTS_BEFORE ? {} : { circuit_breaker: { enabled: false } };
const orders = await api('/api/v1/endpoints', { url: ok.url, event_types: ['order.*', 'invoice.*'], ...named('Orders service') });
await api('/api/v1/endpoints', { url: `${failing.url}/partner`, event_types: ['order.*'], retry_policy: once3, ...named('Fulfilment partner'), ...noBreaker });
const types = ['order.created', 'order.paid', 'invoice.paid'];
for (let n = 0; n < 300; n++) {
  await api('/api/v1/events', { event_type: types[n % 3], payload: { n, customer: `cus_${1000 + (n % 17)}` } });
}
// Let the retries run out, so the DLQ fills: every order to the partner.
for (let waited = 0; ; waited += 1) {
  const dlq = await api('/api/v1/dlq?limit=200');
  if (dlq.items.length >= 200) break;
  if (waited > 120) {
    const events = await api('/api/v1/events?limit=1&event_type=order.created');
    const detail = await api(`/api/v1/events/${events.items[0].id}`);
    throw new Error(`the DLQ holds only ${dlq.items.length} entries after 2 minutes; the newest event: ${JSON.stringify(detail).slice(0, 2000)}`);
  }
  await new Promise((r) => setTimeout(r, 1000));
}

// Three entries reprocessed together (the audit log names them), and a
// replay slow enough to be running when its page is shot.
const dead = await api('/api/v1/dlq?limit=3');
await api('/api/v1/dlq/reprocess', { ids: dead.items.slice(0, 3).map((e) => e.id), reason: 'partner deployed a fix' });
await api('/api/v1/replays', { filter: { event_types: ['order.created'] }, rate_per_second: 1, reason: 'partner outage 03:45 UTC' });

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM_PATH ?? '/usr/bin/chromium',
  args: ['--headless=new', '--no-sandbox', '--disable-gpu'],
});
// [file name, path, width, theme, what to do before the shot]
const preview = async (page) => {
  await page.getByLabel('Event types').fill('order.created');
  await page.getByLabel('Reason').fill('partner outage 03:45 UTC');
  await page.getByRole('button', { name: 'Preview' }).click();
  await page.getByRole('status', { name: 'Preview' }).waitFor();
};
const shots = [
  ['dashboard', '/', 1280, 'light'],
  ['dashboard', '/', 1280, 'dark'],
  ['endpoint', `/endpoints/${orders.id}`, 1280, 'light'],
  ['endpoint', `/endpoints/${orders.id}`, 1280, 'dark'],
  ['replays', '/replays', 1280, 'light', preview],
  ['dlq', '/dlq', 1280, 'light'],
  ['audit', '/audit', 1280, 'light'],
  ['dashboard', '/', 390, 'light'],
  ['endpoint', `/endpoints/${orders.id}`, 390, 'light'],
  ['endpoints', '/endpoints', 390, 'light'],
  ['events', '/events', 390, 'light'],
  ['dlq', '/dlq', 390, 'light'],
  ['replays', '/replays', 390, 'light'],
  ['endpoint', `/endpoints/${orders.id}`, 390, 'dark'],
];
for (const colorScheme of ['light', 'dark']) {
  for (const width of [1280, 390]) {
    const mine = shots.filter(([, , w, theme]) => w === width && theme === colorScheme);
    if (mine.length === 0) continue;
    const context = await browser.newContext({ viewport: { width, height: width > 500 ? 800 : 844 }, colorScheme });
    const page = await context.newPage();
    await page.goto(`${base}/login`);
    await page.waitForSelector('body[data-hydrated="true"]');
    await page.getByLabel('Email').fill(ADMIN.email);
    await page.getByLabel('Password').fill(ADMIN.password);
    await Promise.all([page.waitForURL(`${base}/`), page.getByRole('button', { name: 'Sign in' }).click()]);
    for (const [name, url, , , before] of mine) {
      await page.goto(`${base}${url}`);
      await page.waitForSelector('body[data-hydrated="true"]');
      if (before) await before(page);
      await page.waitForTimeout(500);
      const file = path.join(out, `${name}-${width}${colorScheme === 'dark' ? '-dark' : ''}.png`);
      await page.screenshot({ path: file, fullPage: width > 500 });
      console.log(file);
    }
    await context.close();
  }
}
await browser.close();
herald.kill('SIGTERM');
await once(herald, 'exit');
ok.server.close();
failing.server.close();
rmSync(dataDir, { recursive: true, force: true });
