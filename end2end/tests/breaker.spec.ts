import { test, expect, ADMIN, hydrated, signIn } from './fixtures';
import { TestReceiver } from './receiver';

test('an operator sees a failing endpoint\'s circuit breaker open on the dashboard and on its page, and nothing sent while it is open', async ({ page, herald, request }) => {
  const failing = await TestReceiver.start(503);
  try {
    const key = await herald.apiKey();
    const api = (path: string, data: unknown) =>
      request.post(`${herald.url}${path}`, { headers: { authorization: `Bearer ${key}` }, data });
    const created = await api('/api/v1/endpoints', {
      url: failing.url,
      event_types: ['order.*'],
      retry_policy: { backoff: { kind: 'schedule', delays_secs: [1] }, max_attempts: 20, jitter: 0 },
      circuit_breaker: { min_attempts: 5, window_secs: 60, cooldown_secs: 600 },
    });
    expect(created.status()).toBe(201);
    const id = (await created.json()).id as string;
    for (let n = 1; n <= 5; n++) {
      expect((await api('/api/v1/events', { event_type: 'order.created', payload: { n } })).status()).toBe(202);
    }
    // Five failures of five attempts open it; its retries then wait.
    await expect
      .poll(async () => {
        const res = await request.get(`${herald.url}/api/v1/endpoints/${id}`, { headers: { authorization: `Bearer ${key}` } });
        return (await res.json()).breaker.state;
      }, { timeout: 15_000 })
      .toBe('open');
    const sent = failing.received.length;

    await page.goto('/');
    await signIn(page, ADMIN.email, ADMIN.password);
    await expect(page.getByRole('heading', { name: 'Dashboard' })).toBeVisible();
    await hydrated(page);
    const worst = page.getByRole('table', { name: 'Endpoints failing most' });
    await expect(worst.getByRole('row', { name: new RegExp(failing.url) }).locator('[data-circuit]')).toHaveText('open');

    await page.goto(`/endpoints/${id}`);
    await expect(page.getByText(/^Circuit open: next probe at/)).toBeVisible();
    await expect(page.locator('dt:has-text("Circuit breaker") + dd')).toContainText('open since');
    await expect(page.locator('dt:has-text("Circuit breaker") + dd')).toContainText('deliveries wait until the probe');
    // Its history: the transition that opened it, and why.
    const history = page.getByRole('region', { name: 'Circuit breaker history' });
    await expect(history.locator('[data-transition="endpoint.circuit_opened"]')).toHaveCount(1);
    await expect(history.locator('[data-transition="endpoint.circuit_opened"]')).toContainText(/\d+ of \d+ attempts failed/);
    // Well past the retries' one-second delay: nothing more went out.
    await page.waitForTimeout(2_000);
    expect(failing.received.length).toBe(sent);
  } finally {
    await failing.stop();
  }
});
