// What a browser transfers and how long it waits the first time it opens the
// console, and again with its cache warm. Starts the herald binary in
// HERALD_BIN (a release build: `make bench-console`) on a fresh data
// directory, opens the sign-in page in Chromium with an empty cache, signs in
// and lands on the dashboard, then opens the dashboard once more.
//
// "Interactive" is when the page has hydrated (the app sets
// `data-hydrated` on <body> from its first effect): from then on every control
// works. Bytes are what went over the wire (compressed, headers included),
// from Chromium's own network log. Prints figures; asserts nothing.
import { chromium } from '@playwright/test';
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';

const bin = process.env.HERALD_BIN;
if (!bin) {
  console.error('HERALD_BIN is not set (make bench-console sets it)');
  process.exit(2);
}
const ADMIN = { email: 'admin@herald.test', password: 'measure-admin-password' };
const dataDir = mkdtempSync(path.join(tmpdir(), 'herald-measure-'));
const server = spawn(bin, ['serve'], {
  env: {
    ...process.env,
    HERALD_DATA_DIR: dataDir,
    HERALD_LISTEN: '127.0.0.1:0',
    HERALD_ADMIN_EMAIL: ADMIN.email,
    HERALD_ADMIN_PASSWORD: ADMIN.password,
    HERALD_LOG: 'warn',
  },
  stdio: ['ignore', 'pipe', 'pipe'],
});
const base = await new Promise((resolve, reject) => {
  let out = '';
  const timer = setTimeout(() => reject(new Error(`herald did not start:\n${out}`)), 30_000);
  server.stdout.on('data', (chunk) => {
    out += chunk;
    const m = out.match(/Herald console: (http:\/\/\S+)/);
    if (m) {
      clearTimeout(timer);
      resolve(m[1]);
    }
  });
  server.stderr.on('data', (chunk) => (out += chunk));
  server.on('exit', (code) => reject(new Error(`herald exited with ${code}:\n${out}`)));
});

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM_PATH ?? '/usr/bin/chromium',
  args: ['--headless=new', '--no-sandbox', '--disable-gpu', '--disable-background-networking'],
});
const context = await browser.newContext({ viewport: { width: 1280, height: 800 } });
const page = await context.newPage();
const cdp = await context.newCDPSession(page);
await cdp.send('Network.enable');
const requests = new Map();
let log = [];
cdp.on('Network.responseReceived', (e) => {
  requests.set(e.requestId, {
    url: e.response.url,
    encoding: e.response.headers['content-encoding'] ?? e.response.headers['Content-Encoding'] ?? '',
    fromCache: e.response.fromDiskCache || e.response.fromMemoryCache,
  });
});
cdp.on('Network.loadingFinished', (e) => {
  const r = requests.get(e.requestId);
  if (r && r.url.startsWith('http')) log.push({ ...r, bytes: e.encodedDataLength });
  requests.delete(e.requestId);
});

async function visit(label, go) {
  log = [];
  const started = performance.now();
  await go();
  await page.waitForSelector('body[data-hydrated="true"]', { timeout: 60_000 });
  const interactive = performance.now() - started;
  // Let late requests (none expected) finish before counting.
  await page.waitForTimeout(300);
  const total = log.reduce((n, r) => n + r.bytes, 0);
  console.log(`${label}: ${(total / 1024).toFixed(1)} KiB transferred in ${log.length} requests, interactive after ${interactive.toFixed(0)} ms`);
  for (const r of log) {
    const name = new URL(r.url).pathname;
    console.log(`  ${name.padEnd(44)} ${(r.bytes / 1024).toFixed(1).padStart(8)} KiB ${r.encoding || 'identity'}${r.fromCache ? ' (cache)' : ''}`);
  }
  return { total, interactive };
}

const first = await visit('first load, empty cache (sign-in page)', () => page.goto(`${base}/login`));
await visit('signing in (to the dashboard)', async () => {
  await page.getByLabel('Email').fill(ADMIN.email);
  await page.getByLabel('Password').fill(ADMIN.password);
  await Promise.all([page.waitForURL(`${base}/`), page.getByRole('button', { name: 'Sign in' }).click()]);
});
await visit('dashboard again, warm cache (a reload)', () => page.reload());
console.log(
  `summary: first load ${(first.total / 1024 / 1024).toFixed(2)} MiB transferred, interactive after ${first.interactive.toFixed(0)} ms`,
);

await browser.close();
server.kill('SIGTERM');
await new Promise((resolve) => server.on('exit', resolve));
rmSync(dataDir, { recursive: true, force: true });
