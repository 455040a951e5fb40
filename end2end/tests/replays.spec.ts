import { test, expect, ADMIN, hydrated, signIn } from './fixtures';
import { TestReceiver } from './receiver';

/** "N of M events dispatched …" → N */
function dispatched(text: string | null): number {
  const m = /^(\d+) of \d+ events dispatched/.exec(text ?? '');
  if (!m) throw new Error(`no progress in '${text}'`);
  return Number(m[1]);
}

test('an operator previews a replay, starts it and pauses, resumes and cancels it while progress moves live', async ({ page, herald, request }) => {
  const receiver = await TestReceiver.start(200);
  try {
    const key = await herald.apiKey();
    const api = (path: string, data: unknown) =>
      request.post(`${herald.url}${path}`, { headers: { authorization: `Bearer ${key}` }, data });
    // The events come before the endpoint: only a replay delivers them.
    const events = Array.from({ length: 1000 }, (_, n) => ({ event_type: 'order.created', payload: { n } }));
    expect((await api('/api/v1/events/batch', { events })).status()).toBe(202);
    expect((await api('/api/v1/endpoints', { url: receiver.url, event_types: ['order.*'] })).status()).toBe(201);

    await page.goto('/replays');
    await signIn(page, ADMIN.email, ADMIN.password);
    await expect(page.getByRole('heading', { name: 'Replays', exact: true })).toBeVisible();
    await expect(page.getByText('No replays yet.')).toBeVisible();
    await hydrated(page);
    await expect(page.getByText('Live: progress updates as it happens.')).toBeVisible();

    // A bad rate is refused beside the field, and nothing starts.
    await page.getByLabel('Rate (events/s)').fill('0');
    await page.getByRole('button', { name: 'Start replay' }).click();
    await expect(page.locator('#rate_per_second-error')).toContainText('more than 0');
    await expect(page.getByText('No replays yet.')).toBeVisible();

    await page.getByLabel('Event types').fill('order.created');
    await page.getByLabel('Rate (events/s)').fill('40');
    await page.getByLabel('Reason').fill('backfill the new receiver');
    await page.getByRole('button', { name: 'Preview' }).click();
    const preview = page.getByRole('status', { name: 'Preview' });
    await expect(preview.getByText('1000 events')).toBeVisible();
    await expect(preview.getByRole('row')).toHaveCount(11); // header + a sample of 10
    expect(receiver.received).toHaveLength(0);

    // A marker on the window shows that nothing below reloads the page.
    await page.evaluate(() => { (window as unknown as { heraldMarker: number }).heraldMarker = 42; });
    await page.getByRole('button', { name: 'Start replay' }).click();
    const job = page.getByRole('article', { name: /^Replay rpl_/ });
    await expect(job.getByLabel('State')).toHaveText('running');
    const counts = job.getByLabel('Counts');
    await expect.poll(async () => dispatched(await counts.textContent()), { timeout: 10_000 }).toBeGreaterThan(0);
    const early = dispatched(await counts.textContent());
    await expect.poll(async () => dispatched(await counts.textContent()), { timeout: 10_000 }).toBeGreaterThan(early);
    await expect(job.getByLabel('Progress')).not.toHaveAttribute('value', '0');

    // The job just started is highlighted and has the focus.
    await expect(job).toHaveClass(/started/);
    await expect(job).toBeFocused();

    await job.getByRole('button', { name: 'Pause' }).click();
    await expect(job.getByLabel('State')).toHaveText('paused');
    // A paused job is not on its way: no ETA.
    await expect(job).not.toContainText('ETA');
    await page.waitForTimeout(300);
    const paused = dispatched(await counts.textContent());
    await page.waitForTimeout(1000);
    expect(dispatched(await counts.textContent())).toBe(paused);

    await job.getByRole('button', { name: 'Resume' }).click();
    await expect(job.getByLabel('State')).toHaveText('running');
    await expect.poll(async () => dispatched(await counts.textContent()), { timeout: 10_000 }).toBeGreaterThan(paused);

    await job.getByRole('button', { name: 'Cancel' }).click();
    const cancel = page.getByRole('dialog', { name: 'Cancel this replay?' });
    await expect(cancel).toContainText('cannot be resumed');
    await cancel.getByRole('button', { name: 'Cancel the replay' }).click();
    await expect(job.getByLabel('State')).toHaveText('cancelled');
    await expect(job.getByRole('button', { name: 'Resume' })).toHaveCount(0);
    const final = dispatched(await counts.textContent());
    expect(final).toBeLessThan(1000);
    expect(await page.evaluate(() => (window as unknown as { heraldMarker?: number }).heraldMarker)).toBe(42);

    // The receiver got the replayed events, each marked as a replay.
    await expect.poll(() => receiver.received.length, { timeout: 10_000 }).toBeGreaterThan(0);
    expect(receiver.received.every((r) => r.headers['herald-replay'] === 'backfill the new receiver')).toBe(true);
  } finally {
    await receiver.stop();
  }
});

for (const size of [{ width: 1280, height: 800 }, { width: 390, height: 844 }]) {
  test.describe(`${size.width} px`, () => {
    test.use({ viewport: size });

    test('an operator starts a previewed replay of one published type and sees it progress live, in three actions from the Replays page', async ({ page, herald, request }) => {
      const receiver = await TestReceiver.start(200);
      try {
        const key = await herald.apiKey();
        const api = (path: string, data: unknown) =>
          request.post(`${herald.url}${path}`, { headers: { authorization: `Bearer ${key}` }, data });
        const orders = Array.from({ length: 600 }, (_, n) => ({ event_type: 'order.created', payload: { n } }));
        const invoices = Array.from({ length: 50 }, (_, n) => ({ event_type: 'invoice.paid', payload: { n } }));
        expect((await api('/api/v1/events/batch', { events: orders })).status()).toBe(202);
        expect((await api('/api/v1/events/batch', { events: invoices })).status()).toBe(202);
        expect((await api('/api/v1/endpoints', { url: receiver.url, event_types: ['*'] })).status()).toBe(201);

        await page.goto('/replays');
        await signIn(page, ADMIN.email, ADMIN.password);
        await expect(page.getByRole('heading', { name: 'Replays', exact: true })).toBeVisible();
        await hydrated(page);

        let actions = 0;
        const act = async (step: () => Promise<void>) => {
          actions++;
          await step();
        };
        // 1. Pick the type from those published.
        await act(() => page.getByRole('group', { name: 'Published types' }).getByRole('checkbox', { name: 'order.created' }).check());
        await expect(page.getByLabel('Event types')).toHaveValue('order.created');
        // 2. Say why and preview.
        await act(async () => {
          await page.getByLabel('Reason').fill('backfill the new receiver');
          await page.getByRole('button', { name: 'Preview' }).click();
        });
        await expect(page.getByRole('status', { name: 'Preview' }).getByText('600 events')).toBeVisible();
        // 3. Start.
        await act(() => page.getByRole('button', { name: 'Start replay' }).click());

        const job = page.locator('article.started');
        await expect(job).toBeFocused();
        const counts = job.getByLabel('Counts');
        await expect.poll(async () => dispatched(await counts.textContent()), { timeout: 10_000 }).toBeGreaterThan(0);
        const early = dispatched(await counts.textContent());
        await expect.poll(async () => dispatched(await counts.textContent()), { timeout: 10_000 }).toBeGreaterThan(early);
        expect(actions).toBeLessThanOrEqual(4);
        await expect.poll(() => receiver.received.length, { timeout: 10_000 }).toBeGreaterThan(0);
        expect(receiver.received.every((r) => r.headers['herald-event-type'] === 'order.created')).toBe(true);
      } finally {
        await receiver.stop();
      }
    });
  });
}

test('an operator watches attempts arrive live on the dashboard', async ({ page, herald, request }) => {
  const receiver = await TestReceiver.start(200);
  try {
    const key = await herald.apiKey();
    const api = (path: string, data: unknown) =>
      request.post(`${herald.url}${path}`, { headers: { authorization: `Bearer ${key}` }, data });
    expect((await api('/api/v1/endpoints', { url: receiver.url, event_types: ['*'] })).status()).toBe(201);

    // The first live connection is cut by the test after a moment; the page
    // must reconnect by itself.
    let connections = 0;
    await page.routeWebSocket(/\/api\/v1\/live/, (ws) => {
      connections += 1;
      ws.connectToServer();
      if (connections === 1) setTimeout(() => ws.close({ code: 1001, reason: 'test drops it' }), 1500);
    });
    await page.goto('/');
    await signIn(page, ADMIN.email, ADMIN.password);
    await expect(page.getByRole('heading', { name: 'Live deliveries' })).toBeVisible();
    await expect(page.getByText('No attempts since this page opened.')).toBeVisible();
    await hydrated(page);
    await expect(page.getByText('Live: each attempt appears as it finishes.')).toBeVisible();
    await expect.poll(() => connections, { timeout: 10_000 }).toBeGreaterThanOrEqual(2);
    await expect(page.getByText('Live: each attempt appears as it finishes.')).toBeVisible();

    expect((await api('/api/v1/events', { event_type: 'invoice.paid', payload: { n: 1 } })).status()).toBe(202);
    const row = page.getByRole('table', { name: 'Live deliveries' }).getByRole('row', { name: /invoice\.paid/ });
    await expect(row).toBeVisible();
    await expect(row.getByText(/HTTP 200 · \d+ ms/)).toBeVisible();
    await expect(row.getByText('succeeded')).toBeVisible();
  } finally {
    await receiver.stop();
  }
});
