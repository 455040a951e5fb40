import { test, expect, ADMIN, hydrated, signIn } from './fixtures';
import { TestReceiver } from './receiver';

/** A `datetime-local` value (UTC) `hours` before now. */
function hoursAgo(hours: number): string {
  return new Date(Date.now() - hours * 3_600_000).toISOString().slice(0, 16);
}

test('an operator watches the dashboard fill with deliveries, live, and changes the range', async ({ page, herald, request }) => {
  // A long walk: live updates, a reload, three ranges and the endpoint page.
  test.setTimeout(120_000);
  const healthy = await TestReceiver.start(200);
  const failing = await TestReceiver.start(500);
  try {
    const key = await herald.apiKey();
    const api = (path: string, data: unknown) =>
      request.post(`${herald.url}${path}`, { headers: { authorization: `Bearer ${key}` }, data });
    const once = { backoff: { kind: 'schedule', delays_secs: [1] }, max_attempts: 1, jitter: 0 };
    expect((await api('/api/v1/endpoints', { url: healthy.url, event_types: ['order.*'] })).status()).toBe(201);
    const created = await api('/api/v1/endpoints', { url: failing.url, event_types: ['order.*'], retry_policy: once });
    expect(created.status()).toBe(201);
    const failingId = (await created.json()).id as string;

    // Before any delivery: totals at zero and the charts' empty state.
    await page.goto('/');
    await signIn(page, ADMIN.email, ADMIN.password);
    await expect(page.getByRole('heading', { name: 'Dashboard' })).toBeVisible();
    await hydrated(page);
    await expect(page.locator('[data-kpi="attempts"]')).toHaveText('0');
    await expect(page.locator('#chart-deliveries').getByText('No data in this range.')).toBeVisible();
    await expect(page.getByRole('navigation', { name: 'Time range' }).getByRole('link', { name: 'Last 24 hours' })).toHaveAttribute('aria-current', 'true');
    await expect(page.getByRole('status', { name: 'Range shown' })).toContainText('live');

    // Five events, each delivered to both endpoints: the counters and the
    // charts follow the live feed without a reload.
    for (let n = 1; n <= 5; n++) {
      expect((await api('/api/v1/events', { event_type: 'order.created', payload: { n } })).status()).toBe(202);
    }
    await expect(page.locator('[data-kpi="attempts"]')).toHaveText('10');
    await expect(page.locator('[data-kpi="succeeded"]')).toHaveText('5');
    await expect(page.locator('[data-kpi="failed"]')).toHaveText('5');
    await expect(page.locator('[data-kpi="success-rate"]')).toHaveText('50.0 %');
    await expect(page.locator('[data-kpi="dlq"]')).toHaveText('5');

    const deliveries = page.getByRole('figure', { name: /Deliveries/ });
    await expect(deliveries.locator('svg').first()).toBeVisible();
    await expect(deliveries.locator('.legend').getByText('Succeeded')).toBeVisible();
    await expect(deliveries.locator('.legend').getByText('Failed')).toBeVisible();
    await expect(page.getByRole('figure', { name: /Success rate/ }).locator('svg').first()).toBeVisible();
    await expect(page.getByRole('figure', { name: /Latency/ }).locator('.legend').getByText('p95')).toBeVisible();
    await expect(page.getByRole('figure', { name: /Dead-letter queue/ }).locator('svg').first()).toBeVisible();

    // After a reload the server's rollups say the same, and name the failing endpoint.
    await page.reload();
    await hydrated(page);
    await expect(page.locator('[data-kpi="attempts"]')).toHaveText('10');
    const worst = page.getByRole('table', { name: 'Endpoints failing most' });
    await expect(worst.getByRole('row', { name: new RegExp(failing.url) })).toContainText('100.0 %');
    await expect(worst.getByRole('row', { name: new RegExp(failing.url) })).toContainText('HTTP error status');

    // The range picker: a week, by hour, still has them.
    await page.getByRole('link', { name: 'Last 7 days' }).click();
    await expect(page).toHaveURL(/range=7d/);
    await expect(page.getByRole('status', { name: 'Range shown' })).toContainText('one-hour buckets');
    await expect(page.locator('[data-kpi="attempts"]')).toHaveText('10');
    await expect(deliveries.locator('svg').first()).toBeVisible();

    // A custom range that ended a day ago shows nothing, and is not live.
    await hydrated(page);
    const custom = page.getByRole('form', { name: 'Custom range' });
    await custom.getByLabel('From (UTC)').fill(hoursAgo(48));
    await custom.getByLabel('To (UTC)').fill(hoursAgo(24));
    await custom.getByRole('button', { name: 'Show range' }).click();
    await expect(page).toHaveURL(/range=custom/);
    await expect(page.locator('[data-kpi="attempts"]')).toHaveText('0');
    await expect(page.locator('#chart-deliveries').getByText('No data in this range.')).toBeVisible();
    await expect(page.getByRole('status', { name: 'Range shown' })).not.toContainText('live');
    await expect(page.getByText('No failed attempts in this range.')).toBeVisible();
    // "In the DLQ now" is now, whatever the range; the range's end had none.
    await expect(page.locator('[data-kpi="dlq"]')).toHaveText('5');
    await expect(page.locator('[data-kpi="dlq-end"]')).toHaveText('0');

    // Back to the last hour, by minute.
    await page.getByRole('link', { name: 'Last hour' }).click();
    await expect(page.getByRole('status', { name: 'Range shown' })).toContainText('one-minute buckets');
    await expect(page.locator('[data-kpi="attempts"]')).toHaveText('10');

    // The failing endpoint's own page charts only its deliveries.
    await page.goto(`/endpoints/${failingId}`);
    await hydrated(page);
    const stats = page.getByRole('region', { name: 'Delivery statistics' });
    await expect(stats.locator('[data-kpi="attempts"]')).toHaveText('5');
    await expect(stats.locator('[data-kpi="failed"]')).toHaveText('5');
    await expect(stats.locator('[data-kpi="success-rate"]')).toHaveText('0.0 %');
    await expect(stats.getByRole('figure', { name: /Deliveries/ }).locator('svg').first()).toBeVisible();
  } finally {
    await healthy.stop();
    await failing.stop();
  }
});

test('a bad custom range is refused with a message naming the field', async ({ page }) => {
  await page.goto('/?range=custom&from=2026-11-02T00:00&to=2026-11-01T00:00');
  await signIn(page, ADMIN.email, ADMIN.password);
  await expect(page.getByText('to: must be later than from')).toBeVisible();
});

test('an integrator reads the API reference and tries a request with a key', async ({ page, herald }) => {
  const key = await herald.apiKey();
  // No sign-in: the reference is public.
  await page.goto('/docs');
  await expect(page.getByRole('heading', { name: /Herald API/ })).toBeVisible();
  const op = page.getByRole('article', { name: /GET \/api\/v1\/tenant/ });
  await expect(op.getByText("The calling key's tenant")).toBeVisible();
  await expect(op.getByText('401')).toBeVisible();
  await hydrated(page);

  await op.getByText('Try it').click();
  await op.getByRole('button', { name: 'Send GET' }).click();
  await expect(op.getByRole('status')).toContainText('HTTP 401');

  await page.getByRole('textbox', { name: 'API key' }).fill(key);
  await op.getByRole('button', { name: 'Send GET' }).click();
  await expect(op.getByRole('status')).toContainText('HTTP 200');
  await expect(op.getByRole('status')).toContainText('"slug": "default"');
});
