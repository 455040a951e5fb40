import { test, expect, ADMIN, hydrated, signIn } from './fixtures';
import { TestReceiver } from './receiver';

test('a product engineer orders an endpoint by key with a rate limit, and an operator resumes it once paused, with its backlog in order', async ({ page, herald, request }) => {
  const receiver = await TestReceiver.start(200);
  try {
    await page.goto('/endpoints/new');
    await signIn(page, ADMIN.email, ADMIN.password);
    await expect(page.getByRole('heading', { name: 'New endpoint' })).toBeVisible();
    await hydrated(page);
    await page.getByLabel('URL').fill(receiver.url);
    await page.getByLabel('Event types').fill('order.*');
    await page.getByRole('combobox', { name: /^Order\b/ }).selectOption('key');
    await page.getByLabel('When a delivery dies').selectOption('skip');
    // A rate limit written the way people say it; a malformed one is refused beside the field.
    await page.getByLabel('Rate limit').fill('fast');
    await page.getByRole('button', { name: 'Create endpoint' }).click();
    await expect(page.locator('#rate-limit-error')).toContainText('100/s');
    await page.getByLabel('Rate limit').fill('50/s');
    await page.getByRole('button', { name: 'Create endpoint' }).click();
    await expect(page.getByText('Endpoint created.')).toBeVisible();
    await page.getByRole('link', { name: 'Go to the endpoint' }).click();
    await expect(page.getByRole('heading', { name: receiver.url })).toBeVisible();
    await expect(page.locator('dt:has-text("Order") + dd')).toHaveText(
      'in order per ordering key; a dead delivery is skipped',
    );
    await expect(page.getByRole('combobox', { name: /^Order\b/ })).toHaveValue('key');
    await expect(page.locator('dt:has-text("Rate limit") + dd')).toHaveText('50/s');

    // The operator pauses it for a receiver migration.
    await hydrated(page);
    await page.getByRole('button', { name: 'Pause endpoint' }).click();
    const pause = page.getByRole('dialog', { name: 'Pause this endpoint?' });
    await pause.getByLabel('Reason').fill('receiver migration');
    await pause.getByRole('button', { name: 'Pause endpoint' }).click();
    await expect(page.getByText('Paused: receiver migration')).toBeVisible();

    // Events published meanwhile wait for it.
    const key = await herald.apiKey();
    for (const n of [1, 2, 3]) {
      const res = await request.post(`${herald.url}/api/v1/events`, {
        headers: { authorization: `Bearer ${key}` },
        data: { event_type: 'order.updated', ordering_key: 'order-7', payload: { n } },
      });
      expect(res.status()).toBe(202);
    }
    await page.reload();
    await expect(page.getByText('3 deliveries wait for it')).toBeVisible();
    expect(receiver.received).toHaveLength(0);

    await hydrated(page);
    await page.getByRole('button', { name: 'Resume endpoint' }).click();
    await expect.poll(() => receiver.received.length, { timeout: 15_000 }).toBe(3);
    expect(receiver.received.map((r) => JSON.parse(r.body).n)).toEqual([1, 2, 3]);
    await expect(page.getByRole('button', { name: 'Pause endpoint' })).toBeVisible();
  } finally {
    await receiver.stop();
  }
});
