import { test, expect, ADMIN, hydrated, signIn } from './fixtures';
import { TestReceiver } from './receiver';

test('a product team registers an endpoint, sends a test event and sees it delivered', async ({ page, herald }) => {
  const receiver = await TestReceiver.start(200);
  try {
    await page.goto('/endpoints');
    await signIn(page, ADMIN.email, ADMIN.password);
    await expect(page.getByRole('heading', { name: 'Endpoints' })).toBeVisible();
    await expect(page.getByText('No endpoints yet.')).toBeVisible();
    await hydrated(page);

    await page.getByRole('link', { name: 'New endpoint' }).click();
    await expect(page.getByRole('heading', { name: 'New endpoint' })).toBeVisible();
    await hydrated(page);

    // A bad URL is refused beside the field, and nothing is created.
    await page.getByLabel('URL').fill('ftp://example.com/hook');
    await page.getByLabel('Event types').fill('order.*');
    await page.getByRole('button', { name: 'Create endpoint' }).click();
    await expect(page.locator('#url-error')).toContainText('http');
    await expect(page.getByLabel('URL')).toHaveAttribute('aria-invalid', 'true');

    // So is a concurrency above what an endpoint may have.
    await page.getByLabel('URL').fill(receiver.url);
    await page.getByLabel('In flight at once').fill('300');
    await page.getByRole('button', { name: 'Create endpoint' }).click();
    await expect(page.locator('#in-flight-error')).toContainText('256');
    await expect(page.getByLabel('In flight at once')).toHaveAttribute('aria-invalid', 'true');

    await page.getByLabel('Event types').fill('order.*, user.created');
    await page.getByLabel('Description').fill('Orders service');
    await page.getByLabel('In flight at once').fill('16');
    await page.getByRole('button', { name: 'Create endpoint' }).click();

    // The secret is shown once, right after creation.
    await expect(page.getByText('Endpoint created.')).toBeVisible();
    await expect(page.getByLabel('Signing secret', { exact: true })).toHaveText(/^whsec_/);
    await page.getByRole('link', { name: 'Go to the endpoint' }).click();

    await expect(page.getByRole('heading', { name: receiver.url })).toBeVisible();
    await expect(page.getByText('Healthy')).toBeVisible();
    await expect(page.locator('dt:has-text("In flight at once") + dd')).toHaveText('16');
    await expect(page.getByLabel('In flight at once')).toHaveValue('16');
    await hydrated(page);
    await page.getByRole('button', { name: 'Send test event' }).click();
    await expect(page.getByText(/Delivered: HTTP 200 in \d+ ms\./)).toBeVisible();
    // The outcome shows where the button is, on screen, and takes the focus.
    await expect(page.locator('#test-result')).toBeInViewport();
    await expect(page.locator('#test-result')).toBeFocused();
    expect(receiver.received).toHaveLength(1);
    expect(receiver.received[0].headers['webhook-signature']).toMatch(/^v1,/);

    await page.getByRole('link', { name: 'View the event and its receipts' }).click();
    await expect(page.getByRole('heading', { name: 'herald.test' })).toBeVisible();
    const delivery = page.getByRole('article', { name: `Delivery to ${receiver.url}` });
    await expect(delivery.getByText('succeeded')).toBeVisible();
    await expect(delivery.getByRole('list', { name: 'Attempts' }).getByText('HTTP 200')).toBeVisible();
    await expect(page.getByLabel('Payload')).toContainText('"test": true');

    // The endpoint list shows it, healthy.
    await page.getByRole('navigation', { name: 'Sections' }).getByRole('link', { name: 'Endpoints' }).click();
    const row = page.getByRole('row', { name: new RegExp(receiver.url) });
    await expect(row.getByText('Healthy')).toBeVisible();
    await expect(row.getByText('order.*, user.created')).toBeVisible();
  } finally {
    await receiver.stop();
  }
});

test('an operator filters events to a failed one and reads its receipts', async ({ page, herald, request }) => {
  const failing = await TestReceiver.start(500);
  const healthy = await TestReceiver.start(200);
  try {
    const key = await herald.apiKey();
    const api = (path: string, data: unknown) =>
      request.post(`${herald.url}${path}`, { headers: { authorization: `Bearer ${key}` }, data });
    const fast = { backoff: { kind: 'schedule', delays_secs: [1] }, max_attempts: 2, jitter: 0 };
    expect((await api('/api/v1/endpoints', { url: failing.url, event_types: ['payment.*'], retry_policy: fast })).status()).toBe(201);
    expect((await api('/api/v1/endpoints', { url: healthy.url, event_types: ['*'] })).status()).toBe(201);
    for (const [type, n] of [['order.created', 1], ['order.created', 2], ['payment.failed', 3]] as const) {
      const res = await api('/api/v1/events', { event_type: type, payload: { n }, correlation_id: `corr-${n}` });
      expect(res.status()).toBe(202);
    }
    // Wait until the failing endpoint has had both of its attempts.
    await expect.poll(() => failing.received.length, { timeout: 15_000 }).toBe(2);

    await page.goto('/events');
    await signIn(page, ADMIN.email, ADMIN.password);
    await expect(page.getByRole('heading', { name: 'Events' })).toBeVisible();
    const rows = page.getByRole('table', { name: 'Events' }).getByRole('row');
    await expect(rows).toHaveCount(4); // header + three events
    await hydrated(page);

    await page.getByLabel('Delivery state').selectOption('dead');
    await page.getByRole('button', { name: 'Apply filters' }).click();
    // Only the filter that is set is in the URL.
    await expect(page).toHaveURL(/\/events\?state=dead$/);
    await expect(rows).toHaveCount(2);
    await expect(rows.nth(1).getByText('payment.failed')).toBeVisible();
    await expect(rows.nth(1).getByText('1 dead')).toBeVisible();

    // The filter is in the URL: reloading shows the same view.
    await page.reload();
    await expect(rows).toHaveCount(2);

    await rows.nth(1).getByRole('link').click();
    await expect(page.getByRole('heading', { name: 'payment.failed' })).toBeVisible();
    await expect(page.getByRole('definition').filter({ hasText: /^corr-3$/ })).toBeVisible();
    const dead = page.getByRole('article', { name: `Delivery to ${failing.url}` });
    await expect(dead.getByText('dead', { exact: true })).toBeVisible();
    const attempts = dead.getByRole('list', { name: 'Attempts' }).getByRole('listitem');
    await expect(attempts).toHaveCount(2);
    await expect(attempts.nth(0).getByText('HTTP 500')).toBeVisible();
    await expect(attempts.nth(0).getByText('http_status')).toHaveCount(0); // words, not the enum
    await attempts.nth(1).getByText('Response body').click();
    await expect(attempts.nth(1).getByText('receiver answered 500', { exact: true })).toBeVisible();
    const ok = page.getByRole('article', { name: `Delivery to ${healthy.url}` });
    await expect(ok.getByText('succeeded')).toBeVisible();
  } finally {
    await failing.stop();
    await healthy.stop();
  }
});

test('a product team defines a retry policy and sees its schedule before saving', async ({ page }) => {
  await page.goto('/retry-policies');
  await signIn(page, ADMIN.email, ADMIN.password);
  await expect(page.getByRole('heading', { name: 'Retry policies' })).toBeVisible();
  await hydrated(page);

  const form = page.getByRole('form', { name: 'Retry policy' });
  await form.getByLabel('Name').fill('quick');
  await form.getByLabel('Delays between attempts').fill('10s, 1m');
  await form.getByLabel('Attempts in all').fill('4');
  await form.getByLabel('Jitter (%)').fill('0');
  // The preview is computed in the browser as the fields change.
  await expect(page.getByTestId('schedule-preview')).toHaveText('4 attempts at 0s → 10s → 1m 10s → 2m 10s');
  await form.getByLabel('Attempts in all').fill('0');
  await expect(page.getByText('max_attempts: must be from 1 to 100')).toBeVisible();
  await form.getByLabel('Attempts in all').fill('4');
  await form.getByRole('button', { name: 'Create policy' }).click();

  const row = page.getByRole('row', { name: /quick/ });
  await expect(row.getByText('0s → 10s → 1m 10s → 2m 10s')).toBeVisible();

  // A second policy with the same name is refused with the reason.
  await form.getByLabel('Name').fill('quick');
  await form.getByRole('button', { name: 'Create policy' }).click();
  await expect(page.getByRole('alert')).toContainText("a retry policy named 'quick' already exists");
});
