import AxeBuilder from '@axe-core/playwright';
import type { Page } from '@playwright/test';
import { test, expect, ADMIN, hydrated, signIn } from './fixtures';
import { TestReceiver } from './receiver';

// Every page of the console, signed in, at a laptop's and a phone's width, in
// the light and the dark theme: no serious or critical axe-core violation, and
// no page wider than the screen (a phone's or a laptop's).

const SIZES = [
  { name: 'laptop', viewport: { width: 1280, height: 800 } },
  { name: 'phone', viewport: { width: 390, height: 844 } },
] as const;
const THEMES = ['light', 'dark'] as const;
// The page background of each theme (style/main.css, --bg).
const BACKGROUND = { light: 'rgb(246, 247, 249)', dark: 'rgb(15, 20, 25)' };

async function check(page: Page, path: string, theme: (typeof THEMES)[number]) {
  await hydrated(page);
  // The theme that was asked for is the one drawn.
  expect(await page.evaluate(() => getComputedStyle(document.documentElement).backgroundColor), `${path}: theme`).toBe(
    BACKGROUND[theme],
  );
  const results = await new AxeBuilder({ page }).analyze();
  const bad = results.violations
    .filter((v) => v.impact === 'serious' || v.impact === 'critical')
    .map((v) => `${v.id} (${v.impact}): ${v.nodes.map((n) => n.target.join(' ')).join(', ')}`);
  expect(bad, `${path}: axe-core violations`).toEqual([]);
  // No page scrolls sideways, on a phone or a laptop.
  const widths = await page.evaluate(() => ({ doc: document.documentElement.scrollWidth, screen: window.innerWidth }));
  expect(widths.doc, `${path}: the document is wider than the screen`).toBeLessThanOrEqual(widths.screen);
}

/** The first link in the page's first table: a detail page to check. */
async function firstRowLink(page: Page, path: string, table: string): Promise<string> {
  await page.goto(path);
  const href = await page.getByRole('table', { name: table }).getByRole('link').first().getAttribute('href');
  expect(href, `a link in ${path}`).toBeTruthy();
  return href!;
}

for (const theme of THEMES) {
  for (const size of SIZES) {
    test.describe(`${size.name}, ${theme} theme`, () => {
      test.use({ viewport: size.viewport, colorScheme: theme });

      test('every page passes axe-core and fits the screen', async ({ page, herald, request }) => {
        test.setTimeout(180_000);
        const ok = await TestReceiver.start(200);
        const failing = await TestReceiver.start(500);
        try {
          // Data on every page: two endpoints (one failing into the DLQ), events,
          // a replay job, an API key and the audit entries all of these leave.
          const key = await herald.apiKey('billing-service');
          const api = (path: string, data: unknown) =>
            request.post(`${herald.url}${path}`, { headers: { authorization: `Bearer ${key}` }, data });
          const once = { backoff: { kind: 'schedule', delays_secs: [1] }, max_attempts: 1, jitter: 0 };
          expect((await api('/api/v1/endpoints', { url: ok.url, event_types: ['order.*'], description: 'Orders service' })).status()).toBe(201);
          expect((await api('/api/v1/endpoints', { url: `${failing.url}/a-rather-long-path/for-a-partner-that-fails/every-time`, event_types: ['order.*'], retry_policy: once })).status()).toBe(201);
          // A catalog type with two versions, so its page shows a diff.
          const v1 = { type: 'object', required: ['n'], properties: { n: { type: 'integer' } } };
          expect((await api('/api/v1/event-types', { name: 'order.created', description: 'An order was placed.', schema: v1, examples: [{ n: 1 }] })).status()).toBe(201);
          const v2 = { ...v1, properties: { ...v1.properties, customer: { type: 'string' } } };
          expect((await api('/api/v1/event-types/order.created/versions', { schema: v2, examples: [{ n: 1, customer: 'cus_1' }] })).status()).toBe(201);
          for (let n = 1; n <= 3; n++) {
            expect((await api('/api/v1/events', { event_type: 'order.created', payload: { n, customer: 'cus_0123456789abcdefghij' } })).status()).toBe(202);
          }
          await expect.poll(() => failing.received.length, { timeout: 15_000 }).toBe(3);
          // More entries, reprocessed together: one audit entry whose target lists every id.
          for (let n = 4; n <= 9; n++) {
            expect((await api('/api/v1/events', { event_type: 'order.created', payload: { n } })).status()).toBe(202);
          }
          await expect.poll(() => failing.received.length, { timeout: 15_000 }).toBe(9);
          // The ninth entry is written after its receiver answered: wait for it.
          await expect.poll(async () => {
            const dlq = await request.get(`${herald.url}/api/v1/dlq`, { headers: { authorization: `Bearer ${key}` } });
            return (await dlq.json()).items.length;
          }, { timeout: 15_000 }).toBe(9);
          expect((await api('/api/v1/dlq/reprocess', { filter: {}, reason: 'many at once' })).status()).toBe(202);
          // The receiver still fails: they die again, back in the queue.
          await expect.poll(() => failing.received.length, { timeout: 15_000 }).toBe(18);
          expect((await api('/api/v1/replays', { filter: { event_types: ['order.created'] }, reason: 'receiver restored', rate_per_second: 10 })).status()).toBe(201);

          // Signed out: the sign-in page.
          await page.goto('/login');
          await check(page, '/login', theme);
          await signIn(page, ADMIN.email, ADMIN.password);
          await expect(page.getByRole('heading', { name: 'Dashboard' })).toBeVisible();

          const endpoint = await firstRowLink(page, '/endpoints', 'Endpoints');
          const event = await firstRowLink(page, '/events', 'Events');
          const entry = await firstRowLink(page, '/dlq', 'Dead-letter queue');
          // An endpoint with a play inbox, and what its test event left there.
          const play = await page.evaluate(async () => (await fetch('/fn/start_play', { method: 'POST' })).json());
          expect(play, 'a play endpoint').toMatch(/^ep_/);
          const pages = [
            '/',
            '/?range=1h',
            '/endpoints',
            '/endpoints/new',
            endpoint,
            `/endpoints/${play}`,
            '/retry-policies',
            '/events',
            event,
            '/event-types',
            '/event-types/order.created',
            '/dlq',
            entry,
            '/replays',
            '/api-keys',
            '/audit',
            '/settings',
            '/docs',
            '/no-such-page',
          ];
          for (const path of pages) {
            await page.goto(path);
            await check(page, path, theme);
          }
        } finally {
          await ok.stop();
          await failing.stop();
        }
      });
    });
  }
}
