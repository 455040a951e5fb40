import { test, expect, ADMIN, hydrated, signIn } from './fixtures';
import { TestReceiver } from './receiver';

test('support staff inspect the DLQ, discard one entry and reprocess the rest once the receiver is fixed', async ({ page, herald, request }) => {
  const receiver = await TestReceiver.start(500);
  try {
    const key = await herald.apiKey();
    const api = (path: string, data: unknown) =>
      request.post(`${herald.url}${path}`, { headers: { authorization: `Bearer ${key}` }, data });
    const once = { backoff: { kind: 'schedule', delays_secs: [1] }, max_attempts: 1, jitter: 0 };
    expect((await api('/api/v1/endpoints', { url: receiver.url, event_types: ['invoice.*'], retry_policy: once })).status()).toBe(201);
    for (const n of [1, 2, 3, 4]) {
      expect((await api('/api/v1/events', { event_type: 'invoice.paid', payload: { n } })).status()).toBe(202);
    }
    await expect.poll(() => receiver.received.length, { timeout: 15_000 }).toBe(4);

    await page.goto('/dlq');
    await signIn(page, ADMIN.email, ADMIN.password);
    await expect(page.getByRole('heading', { name: 'Dead-letter queue' })).toBeVisible();
    const rows = page.getByRole('table', { name: 'Dead-letter queue' }).getByRole('row');
    await expect(rows).toHaveCount(5); // header + four entries
    await hydrated(page);

    // Filtering by error class keeps them all (HTTP 500s); another class shows none.
    await page.getByLabel('Error class').selectOption('timeout');
    await page.getByRole('button', { name: 'Apply filters' }).click();
    await expect(page.getByText('The dead-letter queue is empty for these filters.')).toBeVisible();
    await page.getByLabel('Error class').selectOption('http_status');
    await page.getByRole('button', { name: 'Apply filters' }).click();
    await expect(rows).toHaveCount(5);

    // Inspect one: its payload and the failed attempt; discard it with a reason.
    await rows.nth(1).getByRole('link').click();
    await expect(page.getByRole('heading', { name: /invoice\.paid to/ })).toBeVisible();
    await expect(page.getByRole('list', { name: 'Attempts' }).getByText('HTTP 500')).toBeVisible();
    await hydrated(page);
    await page.getByRole('button', { name: 'Discard' }).click();
    await expect(page.getByRole('alert')).toContainText('reason');
    await page.getByLabel('Reason').fill('customer cancelled the invoice');
    await page.getByRole('button', { name: 'Discard' }).click();
    await expect(page.getByRole('heading', { name: 'Dead-letter queue' })).toBeVisible();
    await expect(rows).toHaveCount(4);
    await hydrated(page);

    // The receiver is fixed: select two, reprocess them, then all that is left.
    receiver.status = 200;
    await page.getByLabel('Reason').fill('receiver fixed');
    const boxes = page.getByRole('table', { name: 'Dead-letter queue' }).getByRole('checkbox', { name: /^Select dlq_/ });
    await boxes.nth(0).check();
    await boxes.nth(1).check();
    await page.getByRole('button', { name: 'Reprocess selected (2)' }).click();
    await expect(page.getByRole('status').filter({ hasText: '2 reprocessed.' })).toBeVisible();
    await expect(rows).toHaveCount(2);
    await page.getByRole('button', { name: 'Reprocess all matching (1)' }).click();
    await expect(page.getByRole('status').filter({ hasText: '1 reprocessed.' })).toBeVisible();
    await expect(page.getByText('The dead-letter queue is empty for these filters.')).toBeVisible();

    // Three deliveries arrive again, each with its original webhook-id.
    await expect.poll(() => receiver.received.length, { timeout: 15_000 }).toBe(7);
    const first = new Set(receiver.received.slice(0, 4).map((r) => r.headers['webhook-id']));
    for (const r of receiver.received.slice(4)) expect(first.has(r.headers['webhook-id'])).toBe(true);
  } finally {
    await receiver.stop();
  }
});
