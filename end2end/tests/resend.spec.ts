import { test, expect, ADMIN, hydrated, signIn } from './fixtures';
import { TestReceiver } from './receiver';

for (const size of [{ width: 1280, height: 800 }, { width: 390, height: 844 }]) {
  test.describe(`${size.width} px`, () => {
    test.use({ viewport: size });

    test('an operator resends one event to a chosen endpoint, with a reason, in four actions', async ({ page, herald, request }) => {
      const crm = await TestReceiver.start(200);
      const billing = await TestReceiver.start(200);
      try {
        const key = await herald.apiKey();
        const api = (path: string, data: unknown) =>
          request.post(`${herald.url}${path}`, { headers: { authorization: `Bearer ${key}` }, data });
        expect((await api('/api/v1/endpoints', { url: crm.url, event_types: ['customer.*'] })).status()).toBe(201);
        expect((await api('/api/v1/endpoints', { url: billing.url, event_types: ['customer.*'] })).status()).toBe(201);
        expect((await api('/api/v1/events', { event_type: 'customer.updated', payload: { id: 'cus_1' } })).status()).toBe(202);
        await expect.poll(() => crm.received.length + billing.received.length, { timeout: 15_000 }).toBe(2);

        await page.goto('/events');
        await signIn(page, ADMIN.email, ADMIN.password);
        await expect(page.getByRole('heading', { name: 'Events' })).toBeVisible();
        await hydrated(page);

        let actions = 0;
        const act = async (step: () => Promise<void>) => {
          actions++;
          await step();
        };
        // 1. Open the event.
        await act(() => page.getByRole('table', { name: 'Events' }).getByRole('link').first().click());
        await expect(page.getByRole('heading', { name: 'customer.updated' })).toBeVisible();
        await hydrated(page);
        // 2. Resend…
        await act(() => page.getByRole('button', { name: 'Resend…' }).click());
        const dialog = page.getByRole('dialog', { name: 'Resend this event?' });
        await expect(dialog).toContainText('to 2 of the 2 endpoints');
        // 3. Only the CRM: untick billing.
        await act(() => dialog.getByRole('checkbox', { name: billing.url }).uncheck());
        // 4. Say why and confirm.
        await act(async () => {
          await dialog.getByLabel('Reason').fill('CRM restored from a backup');
          await dialog.getByRole('button', { name: 'Resend to 1 endpoint' }).click();
        });

        await expect(page.getByRole('status').filter({ hasText: 'Sent again to 1 endpoint.' })).toBeVisible();
        await expect(page.locator('#resend-result')).toBeFocused();
        expect(actions).toBeLessThanOrEqual(4);
        // The CRM gets it again, with the same webhook-id; billing does not.
        await expect.poll(() => crm.received.length, { timeout: 15_000 }).toBe(2);
        expect(crm.received[1].headers['webhook-id']).toBe(crm.received[0].headers['webhook-id']);
        expect(crm.received[1].headers['herald-replay']).toBe('CRM restored from a backup');
        expect(billing.received.length).toBe(1);
        // The event page shows the new attempt, and the reason is recorded.
        await page.reload();
        const delivery = page.getByRole('article', { name: `Delivery to ${crm.url}` });
        await expect(delivery.getByRole('list', { name: 'Attempts' }).getByRole('listitem')).toHaveCount(2);
        await expect(delivery.getByRole('list', { name: 'Actions' })).toContainText('CRM restored from a backup');
      } finally {
        await crm.stop();
        await billing.stop();
      }
    });
  });
}
