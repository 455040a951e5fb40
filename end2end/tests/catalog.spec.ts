import { test, expect, ADMIN, hydrated, signIn } from './fixtures';

// What an operator sees of the event catalog on an event's page: the schema
// version that checked it, and under warn mode what that schema found.
for (const size of [{ width: 1280, height: 800 }, { width: 390, height: 844 }]) {
  test.describe(`${size.width} px`, () => {
    test.use({ viewport: size });

    test('an event accepted under warn mode shows what its schema found', async ({ page, herald, request }) => {
      const key = await herald.apiKey();
      const headers = { authorization: `Bearer ${key}` };
      const created = await request.post(`${herald.url}/api/v1/event-types`, {
        headers,
        data: {
          name: 'order.created',
          schema: {
            type: 'object',
            required: ['order_id'],
            properties: { amount: { type: 'number', minimum: 0 } },
          },
        },
      });
      expect(created.status()).toBe(201);
      expect((await request.patch(`${herald.url}/api/v1/tenant`, { headers, data: { schema_mode: 'warn' } })).status()).toBe(200);
      const bad = await request.post(`${herald.url}/api/v1/events`, {
        headers,
        data: { event_type: 'order.created', payload: { amount: -5 } },
      });
      expect(bad.status()).toBe(202);
      const good = await request.post(`${herald.url}/api/v1/events`, {
        headers,
        data: { event_type: 'order.created', payload: { order_id: 'ord_1', amount: 5 } },
      });
      expect(good.status()).toBe(202);

      await page.goto(`/events/${(await bad.json()).id}`);
      await signIn(page, ADMIN.email, ADMIN.password);
      await expect(page.getByRole('heading', { name: 'order.created' })).toBeVisible();
      await hydrated(page);
      await expect(page.getByText('Failed version 1: accepted with a warning')).toBeVisible();
      const found = page.getByRole('note', { name: 'What its schema found' });
      await expect(found.getByRole('listitem')).toHaveCount(2);
      await expect(found).toContainText('(the payload) required');
      await expect(found).toContainText('/amount minimum');
      expect(await page.evaluate(() => document.documentElement.scrollWidth)).toBeLessThanOrEqual(size.width);

      await page.goto(`/events/${(await good.json()).id}`);
      await expect(page.getByText('Passed version 1')).toBeVisible();
      await expect(page.getByRole('note', { name: 'What its schema found' })).toHaveCount(0);
    });
  });
}
