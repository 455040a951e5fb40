import { test, expect, ADMIN, hydrated, signIn } from './fixtures';
import { TestReceiver } from './receiver';

// The dashboard's charts read back what was delivered: succeeded and failed
// side by side (not stacked), exact values in a bucket's tooltip and in the
// table of values, round ticks, and latency percentiles within a few per
// cent of the receipts'. At a laptop's and a phone's width.

for (const size of [{ width: 1280, height: 800 }, { width: 390, height: 844 }]) {
  test.describe(`${size.width} px`, () => {
    test.use({ viewport: size });

    test('the deliveries chart shows the seeded succeeded and failed counts exactly', async ({ page, herald, request }) => {
      const healthy = await TestReceiver.start(200);
      const failing = await TestReceiver.start(500);
      try {
        const key = await herald.apiKey();
        const api = (path: string, data: unknown) =>
          request.post(`${herald.url}${path}`, { headers: { authorization: `Bearer ${key}` }, data });
        const once = { backoff: { kind: 'schedule', delays_secs: [1] }, max_attempts: 1, jitter: 0 };
        expect((await api('/api/v1/endpoints', { url: healthy.url, event_types: ['order.*', 'invoice.*'] })).status()).toBe(201);
        expect((await api('/api/v1/endpoints', { url: failing.url, event_types: ['order.*'], retry_policy: once })).status()).toBe(201);
        // 3 orders reach both endpoints, 4 invoices only the healthy one:
        // 7 succeeded and 3 failed attempts, all in this hour's bucket.
        for (let n = 1; n <= 3; n++) expect((await api('/api/v1/events', { event_type: 'order.created', payload: { n } })).status()).toBe(202);
        for (let n = 1; n <= 4; n++) expect((await api('/api/v1/events', { event_type: 'invoice.paid', payload: { n } })).status()).toBe(202);
        await expect.poll(() => healthy.received.length + failing.received.length, { timeout: 15_000 }).toBe(10);

        await page.goto('/');
        await signIn(page, ADMIN.email, ADMIN.password);
        await hydrated(page);
        await expect(page.locator('[data-kpi="succeeded"]')).toHaveText('7');
        await expect(page.locator('[data-kpi="failed"]')).toHaveText('3');

        const chart = page.getByRole('figure', { name: /Deliveries/ });
        // The value axis: round whole numbers from 0 past the highest bar.
        await expect(chart.locator('.y-ticks span')).toHaveText(['0', '2', '4', '6', '8']);
        // Side by side: each bar stands on the axis with its own height, failed 3/7 of succeeded.
        const ok = chart.locator('rect.s-ok');
        const bad = chart.locator('rect.s-bad');
        await expect(ok).toHaveCount(1);
        await expect(bad).toHaveCount(1);
        const height = async (r: typeof ok) => Number(await r.getAttribute('height'));
        const bottom = async (r: typeof ok) => Number(await r.getAttribute('y')) + (await height(r));
        expect(await bottom(ok)).toBeCloseTo(200, 1);
        expect(await bottom(bad)).toBeCloseTo(200, 1);
        expect((await height(bad)) / (await height(ok))).toBeCloseTo(3 / 7, 3);

        // The current hour's tooltip gives the exact counts.
        const bucket = chart.locator('.bucket').last();
        await bucket.hover();
        const tip = bucket.locator('.tip');
        await expect(tip).toBeVisible();
        await expect(tip).toContainText('Succeeded: 7');
        await expect(tip).toContainText('Failed: 3');
        await expect(tip).toContainText('UTC');

        // The text alternative: the same numbers in the table of values.
        await chart.getByText('Table of values').click();
        const rows = chart.getByRole('table').getByRole('row');
        await expect(rows).toHaveCount(2);
        await expect(rows.nth(1).getByRole('cell')).toHaveText(['7', '3']);

        // A live attempt updates the same bucket's tooltip without a reload.
        expect((await api('/api/v1/events', { event_type: 'invoice.paid', payload: { n: 5 } })).status()).toBe(202);
        await expect(page.locator('[data-kpi="succeeded"]')).toHaveText('8');
        await chart.locator('.bucket').last().hover();
        await expect(chart.locator('.bucket').last().locator('.tip')).toContainText('Succeeded: 8');
      } finally {
        await healthy.stop();
        await failing.stop();
      }
    });

    test('the latency percentiles read back the receipts within a few per cent', async ({ page, herald, request }) => {
      const slow = await TestReceiver.start(200);
      slow.delayMs = 260;
      try {
        const key = await herald.apiKey();
        const headers = { authorization: `Bearer ${key}` };
        expect((await request.post(`${herald.url}/api/v1/endpoints`, { headers, data: { url: slow.url, event_types: ['order.*'] } })).status()).toBe(201);
        const ids: string[] = [];
        for (let n = 1; n <= 6; n++) {
          const res = await request.post(`${herald.url}/api/v1/events`, { headers, data: { event_type: 'order.created', payload: { n } } });
          expect(res.status()).toBe(202);
          ids.push((await res.json()).id);
        }
        // Each attempt's latency, from its receipt.
        const latencies: number[] = [];
        for (const id of ids) {
          await expect.poll(async () => {
            const detail = await (await request.get(`${herald.url}/api/v1/events/${id}`, { headers })).json();
            return detail.deliveries[0]?.state;
          }, { timeout: 15_000 }).toBe('succeeded');
          const detail = await (await request.get(`${herald.url}/api/v1/events/${id}`, { headers })).json();
          latencies.push(detail.deliveries[0].attempt_log[0].latency_ms);
        }
        latencies.sort((a, b) => a - b);
        const exact = (q: number) => latencies[Math.min(latencies.length, Math.max(1, Math.ceil(q * latencies.length))) - 1];

        await page.goto('/');
        await signIn(page, ADMIN.email, ADMIN.password);
        await hydrated(page);
        const kpi = page.locator('[data-kpi="latency"]');
        await expect(kpi).toHaveText(/^\d+ ms \/ \d+ ms \/ \d+ ms$/);
        const shown = ((await kpi.textContent()) ?? '').match(/\d+/g)!.map(Number);
        [0.5, 0.95, 0.99].forEach((q, i) => {
          expect(Math.abs(shown[i] - exact(q)) * 32, `p${q * 100}: ${shown[i]} ms shown, ${exact(q)} ms measured`).toBeLessThanOrEqual(exact(q));
        });
        // The chart's table of values says the same for the bucket.
        const chart = page.getByRole('figure', { name: /Latency/ });
        await chart.getByText('Table of values').click();
        const last = chart.getByRole('table').getByRole('row').last().getByRole('cell');
        await expect(last).toHaveText(shown.map((v) => `${v.toLocaleString('en-US')} ms`));
      } finally {
        await slow.stop();
      }
    });
  });
}
