import { Webhook } from 'standardwebhooks';
import { test, expect, ADMIN, hydrated, signIn } from './fixtures';
import { TestReceiver } from './receiver';

/** An acknowledgement of `id`, signed by the official Standard Webhooks library with `secret`. */
function signedAck(secret: string, id: string) {
  const body = JSON.stringify({ processed: true });
  const at = new Date();
  return {
    headers: {
      'content-type': 'application/json',
      'webhook-id': id,
      'webhook-timestamp': String(Math.floor(at.getTime() / 1000)),
      'webhook-signature': new Webhook(secret).sign(id, at, body),
    },
    data: body,
  };
}

test('a product engineer orders an endpoint by key, limits its rate and asks for acknowledgements; the operator sees a delivery wait for its acknowledgement and counted once acknowledged', async ({ page, herald, request }) => {
  const receiver = await TestReceiver.start(200);
  try {
    await page.goto('/endpoints/new');
    await signIn(page, ADMIN.email, ADMIN.password);
    await expect(page.getByRole('heading', { name: 'New endpoint' })).toBeVisible();
    await hydrated(page);
    await page.getByLabel('URL').fill(receiver.url);
    await page.getByLabel('Event types').fill('order.*');
    await page.getByRole('combobox', { name: /^Order\b/ }).selectOption('key');
    await page.getByLabel('Rate limit').fill('50/s');
    // The acknowledgement's timeout is asked for only when it applies.
    await expect(page.getByLabel('Acknowledgement timeout (seconds)')).toHaveCount(0);
    await page.getByRole('combobox', { name: /^Delivery\b/ }).selectOption('effectively_once');
    await page.getByLabel('Acknowledgement timeout (seconds)').fill('2');
    await page.getByRole('button', { name: 'Create endpoint' }).click();
    await expect(page.locator('#ack-timeout-error')).toContainText('from 5 to 604800');
    await page.getByLabel('Acknowledgement timeout (seconds)').fill('120');
    await page.getByRole('button', { name: 'Create endpoint' }).click();
    await expect(page.getByText('Endpoint created.')).toBeVisible();
    const secret = (await page.getByLabel('Signing secret', { exact: true }).textContent())!.trim();
    expect(secret).toMatch(/^whsec_/);
    await page.getByRole('link', { name: 'Go to the endpoint' }).click();
    await expect(page.getByRole('heading', { name: receiver.url })).toBeVisible();
    await expect(page.locator('dt:has-text("Delivery") + dd')).toContainText('acknowledges each delivery within 120 s');
    await expect(page.locator('dt:has-text("Order") + dd')).toContainText('in order per ordering key');
    await expect(page.locator('dt:has-text("Rate limit") + dd')).toHaveText('50/s');

    // A service publishes; the receiver answers 200 and has not acknowledged yet.
    const key = await herald.apiKey();
    const res = await request.post(`${herald.url}/api/v1/events`, {
      headers: { authorization: `Bearer ${key}` },
      data: { event_type: 'order.created', ordering_key: 'order-7', payload: { n: 1 } },
    });
    expect(res.status()).toBe(202);
    const eventId = (await res.json()).id as string;
    await expect.poll(() => receiver.received.length, { timeout: 15_000 }).toBe(1);
    const got = receiver.received[0];
    // The receiver verifies Herald's request with the same library.
    new Webhook(secret).verify(got.body, got.headers as Record<string, string>);
    const id = String(got.headers['webhook-id']);
    // The receiver has the request before Herald has stored its answer (the
    // receipt is written after the response): the page shows what is stored.
    await expect
      .poll(
        async () => {
          const detail = await request.get(`${herald.url}/api/v1/events/${eventId}`, {
            headers: { authorization: `Bearer ${key}` },
          });
          return (await detail.json()).deliveries?.[0]?.state;
        },
        { timeout: 15_000 },
      )
      .toBe('awaiting_ack');
    await page.goto(`/events/${eventId}`);
    const delivery = page.getByRole('article', { name: /Delivery to/ });
    await expect(delivery.getByText('awaiting ack')).toBeVisible();
    await expect(delivery.getByText(/Awaiting the receiver's acknowledgement until/)).toBeVisible();

    // Signed with another secret: refused, and nothing changes.
    const forged = await request.post(`${herald.url}/api/v1/acks`, signedAck(`whsec_${Buffer.alloc(32, 7).toString('base64')}`, id));
    expect(forged.status()).toBe(401);
    await page.reload();
    await expect(delivery.getByText('awaiting ack')).toBeVisible();

    // Signed by the official library with the endpoint's secret: taken.
    const ack = await request.post(`${herald.url}/api/v1/acks`, signedAck(secret, id));
    expect(ack.status()).toBe(200);
    expect(await ack.json()).toEqual({ webhook_id: id, first: true });
    await page.reload();
    await expect(delivery.getByText('succeeded')).toBeVisible();
    await expect(delivery.getByText(/Acknowledged by the receiver at/)).toBeVisible();

    // The dashboard counts it.
    await page.goto('/');
    await expect(page.getByRole('heading', { name: 'Dashboard' })).toBeVisible();
    await expect(page.locator('[data-kpi="acked"]')).toHaveText('1 (0 not in time)');
    expect(receiver.received).toHaveLength(1);
  } finally {
    await receiver.stop();
  }
});
