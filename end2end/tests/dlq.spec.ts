import type { APIRequestContext } from '@playwright/test';
import { test, expect, ADMIN, hydrated, signIn, type Herald } from './fixtures';
import { TestReceiver } from './receiver';

const ONCE = { backoff: { kind: 'schedule', delays_secs: [1] }, max_attempts: 1, jitter: 0 };

/** Two failing endpoints: `billing` gets `count` invoices, `shipping` two
 * orders; every delivery dies at its first attempt. */
async function seed(herald: Herald, request: APIRequestContext, billing: TestReceiver, shipping: TestReceiver, count: number) {
  const key = await herald.apiKey();
  const api = (path: string, data: unknown) =>
    request.post(`${herald.url}${path}`, { headers: { authorization: `Bearer ${key}` }, data });
  expect((await api('/api/v1/endpoints', { url: billing.url, event_types: ['invoice.*'], retry_policy: ONCE })).status()).toBe(201);
  expect((await api('/api/v1/endpoints', { url: shipping.url, event_types: ['order.*'], retry_policy: ONCE })).status()).toBe(201);
  for (let n = 1; n <= count; n++) {
    expect((await api('/api/v1/events', { event_type: 'invoice.paid', payload: { n } })).status()).toBe(202);
  }
  for (const n of [1, 2]) expect((await api('/api/v1/events', { event_type: 'order.created', payload: { n } })).status()).toBe(202);
  await expect.poll(() => billing.received.length + shipping.received.length, { timeout: 15_000 }).toBe(count + 2);
}

test('support staff inspect the DLQ, discard one entry and reprocess the rest once the receiver is fixed', async ({ page, herald, request }) => {
  const billing = await TestReceiver.start(500);
  const shipping = await TestReceiver.start(500);
  try {
    await seed(herald, request, billing, shipping, 4);

    await page.goto('/dlq');
    await signIn(page, ADMIN.email, ADMIN.password);
    await expect(page.getByRole('heading', { name: 'Dead-letter queue' })).toBeVisible();
    const rows = page.getByRole('table', { name: 'Dead-letter queue' }).getByRole('row');
    await expect(rows).toHaveCount(7); // header + six entries
    // What failed, in words: the receiver's status, not an enum.
    await expect(rows.nth(1).getByRole('cell').nth(4)).toHaveText('HTTP 500');
    await hydrated(page);

    // Filter to the billing endpoint's invoices; another error class shows none.
    await page.getByLabel('Endpoint').selectOption({ label: billing.url });
    await page.getByLabel('Event type').selectOption('invoice.paid');
    await page.getByLabel('Error class').selectOption('timeout');
    await page.getByRole('button', { name: 'Apply filters' }).click();
    await expect(page.getByText('The dead-letter queue is empty for these filters.')).toBeVisible();
    await page.getByLabel('Error class').selectOption('http_status');
    await page.getByRole('button', { name: 'Apply filters' }).click();
    await expect(rows).toHaveCount(5);
    await expect(page).toHaveURL(/\/dlq\?endpoint_id=ep_\w+&event_type=invoice\.paid&error_class=http_status$/);
    const filtered = page.url();

    // Inspect one: the last attempt's answer is open; discard it, which needs a reason.
    await rows.nth(1).getByRole('link').click();
    await expect(page.getByRole('heading', { name: /invoice\.paid to/ })).toBeVisible();
    await expect(page.getByRole('list', { name: 'Attempts' }).getByText('receiver answered 500', { exact: true })).toBeVisible();
    await hydrated(page);
    await page.getByRole('button', { name: 'Discard' }).click();
    const dialog = page.getByRole('dialog', { name: 'Discard this entry?' });
    await expect(dialog).toBeVisible();
    await expect(dialog).toContainText('cannot be undone');
    await dialog.getByRole('button', { name: 'Discard' }).click();
    await expect(dialog.getByRole('alert')).toContainText('reason');
    await dialog.getByLabel('Reason').fill('customer cancelled the invoice');
    await dialog.getByRole('button', { name: 'Discard' }).click();

    // Back on the list with its filters, told what happened.
    await expect(page.getByRole('heading', { name: 'Dead-letter queue' })).toBeVisible();
    expect(page.url()).toBe(filtered);
    await expect(page.getByRole('status').filter({ hasText: 'Discarded' })).toBeVisible();
    await expect(rows).toHaveCount(4);
    await hydrated(page);

    // The receiver is fixed: reprocess two selected, confirming with a reason.
    billing.status = 200;
    const boxes = page.getByRole('table', { name: 'Dead-letter queue' }).getByRole('checkbox', { name: /^Select dlq_/ });
    await boxes.nth(0).check();
    await boxes.nth(1).check();
    await page.getByRole('button', { name: 'Reprocess selected (2)' }).click();
    const confirm = page.getByRole('dialog', { name: 'Reprocess the selected entries?' });
    await expect(confirm).toContainText('the 2 entries you selected');
    // Cancel changes nothing.
    await confirm.getByRole('button', { name: 'Cancel' }).click();
    await expect(confirm).toBeHidden();
    await expect(rows).toHaveCount(4);
    await page.getByRole('button', { name: 'Reprocess selected (2)' }).click();
    await confirm.getByLabel('Reason').fill('receiver fixed');
    await confirm.getByRole('button', { name: 'Reprocess 2 entries' }).click();
    await expect(page.getByRole('status').filter({ hasText: '2 reprocessed.' })).toBeVisible();
    await expect(rows).toHaveCount(2);

    // All that is left for these filters (the shipping endpoint's entries stay).
    await page.getByRole('button', { name: 'Reprocess all matching (1)' }).click();
    const every = page.getByRole('dialog', { name: 'Reprocess every matching entry?' });
    await expect(every).toContainText('all 1 entry matching endpoint');
    await expect(every).toContainText('event type invoice.paid');
    await every.getByLabel('Reason').fill('receiver fixed');
    await every.getByRole('button', { name: 'Reprocess 1 entry' }).click();
    await expect(page.getByRole('status').filter({ hasText: '1 reprocessed.' })).toBeVisible();
    await expect(page.getByText('The dead-letter queue is empty for these filters.')).toBeVisible();

    // Three deliveries arrive again, each with its original webhook-id.
    await expect.poll(() => billing.received.length, { timeout: 15_000 }).toBe(7);
    const first = new Set(billing.received.slice(0, 4).map((r) => r.headers['webhook-id']));
    for (const r of billing.received.slice(4)) expect(first.has(r.headers['webhook-id'])).toBe(true);
    await page.goto('/dlq');
    await expect(rows).toHaveCount(3); // the two orders, untouched
  } finally {
    await billing.stop();
    await shipping.stop();
  }
});

for (const size of [{ width: 1280, height: 800 }, { width: 390, height: 844 }]) {
  test.describe(`${size.width} px`, () => {
    test.use({ viewport: size });

    test('support reprocesses a filtered DLQ selection with a reason in four actions from the dashboard', async ({ page, herald, request }) => {
      const billing = await TestReceiver.start(500);
      const shipping = await TestReceiver.start(500);
      try {
        await seed(herald, request, billing, shipping, 3);
        await page.goto('/');
        await signIn(page, ADMIN.email, ADMIN.password);
        await expect(page.getByRole('heading', { name: 'Dashboard' })).toBeVisible();
        await hydrated(page);
        billing.status = 200;

        let actions = 0;
        const act = async (step: () => Promise<void>) => {
          actions++;
          await step();
        };
        // 1. The failing endpoint's DLQ shortcut (the list filtered to it).
        const failing = page.getByRole('table', { name: 'Endpoints failing most' }).getByRole('row', { name: new RegExp(billing.url) });
        await act(() => failing.getByRole('link', { name: 'DLQ' }).click());
        await expect(page).toHaveURL(/\/dlq\?endpoint_id=ep_/);
        await hydrated(page);
        // 2. Select what is shown.
        await act(() => page.getByLabel('Select the 3 shown').check());
        // 3. Reprocess the selection.
        await act(() => page.getByRole('button', { name: 'Reprocess selected (3)' }).click());
        // 4. Say why and confirm.
        const dialog = page.getByRole('dialog', { name: 'Reprocess the selected entries?' });
        await act(async () => {
          await dialog.getByLabel('Reason').fill('billing receiver redeployed');
          await dialog.getByRole('button', { name: 'Reprocess 3 entries' }).click();
        });

        await expect(page.getByRole('status').filter({ hasText: '3 reprocessed.' })).toBeVisible();
        expect(actions).toBeLessThanOrEqual(4);
        await expect.poll(() => billing.received.length, { timeout: 15_000 }).toBe(6);
        // The reason is on record.
        await page.goto('/audit');
        await expect(page.getByRole('table', { name: 'Audit entries' })).toContainText('billing receiver redeployed');
      } finally {
        await billing.stop();
        await shipping.stop();
      }
    });

    test('the DLQ task by keyboard alone: few key presses, focus always visible and never lost', async ({ page, herald, request }) => {
      const billing = await TestReceiver.start(500);
      const shipping = await TestReceiver.start(500);
      try {
        await seed(herald, request, billing, shipping, 3);
        await page.goto('/dlq');
        await signIn(page, ADMIN.email, ADMIN.password);
        await expect(page.getByRole('heading', { name: 'Dead-letter queue' })).toBeVisible();
        await hydrated(page);

        let presses = 0;
        const focusNow = () =>
          page.evaluate(() => {
            const el = document.activeElement as HTMLElement | null;
            if (!el || el === document.body) return { lost: true, ring: false, control: false, tag: 'body' };
            const control = el.matches('a, button, input, select, textarea');
            const style = getComputedStyle(el);
            return { lost: false, ring: style.outlineStyle !== 'none' && parseFloat(style.outlineWidth) >= 2, control, tag: el.outerHTML.slice(0, 80) };
          });
        // Once what the key did has happened (a page update takes a moment),
        // focus is on something, and a control shows its ring.
        const focusOk = async (after: string) => {
          await expect.poll(async () => (await focusNow()).lost, { message: `focus lost to the body after ${after}`, timeout: 3_000 }).toBe(false);
          const focus = await focusNow();
          if (focus.control) expect(focus.ring, `no visible focus ring on ${focus.tag} after ${after}`).toBe(true);
        };
        const press = async (key: string) => {
          presses++;
          await page.keyboard.press(key);
          await focusOk(key);
        };
        // Typing a value into a field counts as one action.
        const type = async (text: string) => {
          presses++;
          await page.keyboard.type(text);
        };

        await press('Tab'); // "Skip to content"
        await expect(page.getByRole('link', { name: 'Skip to content' })).toBeFocused();
        await press('Enter');
        await press('Tab'); // Endpoint
        await expect(page.getByLabel('Endpoint')).toBeFocused();
        await press('ArrowDown'); // the first endpoint: billing
        await expect(page.getByLabel('Endpoint')).toHaveValue(/^ep_/);
        await press('Tab'); // Event type
        await press('Tab'); // Error class
        await press('Tab'); // Apply filters
        await press('Enter');
        await expect(page).toHaveURL(/endpoint_id=ep_/);
        const rows = page.getByRole('table', { name: 'Dead-letter queue' }).getByRole('row');
        await expect(rows).toHaveCount(4);
        // Focus moves to how many entries match.
        await expect(page.locator('#dlq-summary')).toBeFocused();
        await expect(page.locator('#dlq-summary')).toHaveText('3 entries match these filters.');
        await press('Tab'); // Select the 3 shown
        await expect(page.getByLabel('Select the 3 shown')).toBeFocused();
        await press('Space');
        await press('Tab'); // Reprocess selected (3)
        await press('Enter');
        const dialog = page.getByRole('dialog', { name: 'Reprocess the selected entries?' });
        await expect(dialog.getByLabel('Reason')).toBeFocused();
        await type('receiver fixed');
        await press('Enter');
        await expect(page.getByRole('status').filter({ hasText: '3 reprocessed.' })).toBeVisible();
        await focusOk('the reprocess');
        await expect(page.locator('#dlq-result')).toBeFocused();

        expect(presses).toBeLessThanOrEqual(25);
        test.info().annotations.push({ type: 'key presses', description: String(presses) });
      } finally {
        await billing.stop();
        await shipping.stop();
      }
    });
  });
}

