import { test, expect, hydrated, signIn } from './fixtures';

const SCHEMA = {
  type: 'object',
  required: ['order_id', 'amount'],
  properties: {
    order_id: { type: 'string' },
    amount: { type: 'number', minimum: 0 },
  },
};

// A product engineer (role developer) puts their service's event in the
// catalog from the console, with a schema whose examples are checked as
// they are typed; the tenant enforces schemas, so when the service then
// publishes a bad event it is refused, and the type's page says why. The
// next version is compared with the first, tried on the stored events, and
// registered only when marked breaking; its diff is on the page.
test('a product engineer registers a schema, publishes a bad event and sees it refused', async ({ page, herald, request }) => {
  await herald.cli(['user', 'create', '--email', 'dev@herald.test', '--role', 'developer', '--password', 'dev-password']);
  const key = await herald.apiKey('shop');
  const headers = { authorization: `Bearer ${key}` };
  expect((await request.patch(`${herald.url}/api/v1/tenant`, { headers, data: { schema_mode: 'enforce' } })).status()).toBe(200);

  await page.goto('/event-types');
  await signIn(page, 'dev@herald.test', 'dev-password');
  await expect(page.getByRole('heading', { name: 'Event types', level: 1 })).toBeVisible();
  await hydrated(page);
  await expect(page.getByTestId('schema-mode')).toContainText('enforce');

  const form = page.getByRole('form', { name: 'Register an event type' });
  await form.getByLabel('Name', { exact: true }).fill('order.created');
  await form.getByLabel('Description').fill('An order was placed.');
  const schema = form.getByRole('textbox', { name: /^Schema/ });
  const examples = form.getByRole('textbox', { name: /^Examples/ });
  const check = form.locator('#schema-check');

  // Checked as typed: JSON that is not yet a schema, then a schema whose
  // example it refuses, then one it accepts.
  await schema.fill('{"type": "object", "required": ');
  await expect(form.locator('#schema-check')).toContainText('not JSON');
  await schema.fill(JSON.stringify(SCHEMA, null, 2));
  await examples.fill('[{"order_id": "ord_1", "amount": -1}]');
  await expect(check).toContainText('The schema compiles.');
  await expect(check).toContainText('Example 1: refused: /amount: minimum');
  await examples.fill('[{"order_id": "ord_1", "amount": 12.5}]');
  await expect(check).toContainText('Example 1: passes');
  await form.getByRole('button', { name: 'Register' }).click();

  await expect(page).toHaveURL(/\/event-types\/order\.created$/);
  await expect(page.getByRole('heading', { name: 'order.created', level: 1 })).toBeVisible();
  await expect(page.locator('dt:has-text("Schema") + dd')).toHaveText('Version 1');
  await expect(page.getByRole('heading', { name: 'Recent validation failures' })).toBeVisible();
  await expect(page.getByText('None: every recent event of this type passed its schema.')).toBeVisible();

  // The service publishes: a bad event is refused, naming each problem;
  // a good one is accepted.
  const bad = await request.post(`${herald.url}/api/v1/events`, {
    headers,
    data: { event_type: 'order.created', source: 'shop', payload: { order_id: 'ord_2', amount: -3 } },
  });
  expect(bad.status()).toBe(422);
  expect((await bad.json()).error.message).toContain('/amount: minimum');
  const good = await request.post(`${herald.url}/api/v1/events`, {
    headers,
    data: { event_type: 'order.created', source: 'shop', payload: { order_id: 'ord_3', amount: 3 } },
  });
  expect(good.status()).toBe(202);

  await page.reload();
  await hydrated(page);
  await expect(page.getByTestId('events-published')).toHaveText('1');
  const refused = page.getByTestId('refused');
  await expect(refused.getByRole('listitem')).toHaveCount(1);
  await expect(refused).toContainText('version 1 · from shop');
  await expect(refused).toContainText('/amount: minimum');

  // A second version that requires a currency: named as incompatible as it
  // is typed, tried on the stored event, refused unless marked breaking.
  const next = page.getByRole('form', { name: 'New schema version' });
  const draft = { ...SCHEMA, required: [...SCHEMA.required, 'currency'], properties: { ...SCHEMA.properties, currency: { type: 'string' } } };
  await next.getByRole('textbox', { name: /^Schema/ }).fill(JSON.stringify(draft, null, 2));
  await next.getByRole('textbox', { name: /^Examples/ }).fill('[{"order_id": "ord_1", "amount": 1, "currency": "EUR"}]');
  await expect(next.locator('#schema-check')).toContainText('Could refuse events version 1 accepts: /required: required');
  await next.getByRole('button', { name: 'Dry run on recent events' }).click();
  await expect(next.locator('#version-result')).toContainText('Dry run: of the 1 most recent events, 1 would be refused.');
  await expect(next.locator('#version-result')).toContainText("(the payload): required");
  await next.getByRole('button', { name: 'Register version' }).click();
  await expect(next.getByRole('alert')).toContainText('"breaking": true');
  await next.getByLabel(/^Breaking/).check();
  await next.getByRole('button', { name: 'Register version' }).click();
  await expect(page.locator('dt:has-text("Schema") + dd')).toHaveText('Version 2');
  const latest = page.locator('details.version').first();
  await expect(latest.locator('summary')).toContainText('Version 2');
  await expect(latest.locator('summary')).toContainText('breaking');
  await expect(latest.locator('.add').first()).toContainText('currency');
  await expect(latest).toContainText('Could refuse events version 1 accepted');

  // The catalog, published for endpoint owners.
  await page.goto('/event-types');
  const link = page.getByRole('link', { name: 'Download the AsyncAPI 3.0 document' });
  await expect(link).toHaveAttribute('href', '/fn/asyncapi_document');
  const [download] = await Promise.all([page.waitForEvent('download'), link.click()]);
  expect(download.suggestedFilename()).toBe('asyncapi.json');
  const doc = await page.request.get('/fn/asyncapi_document');
  expect(doc.status()).toBe(200);
  const asyncapi = await doc.json();
  expect(asyncapi.asyncapi).toBe('3.0.0');
  expect(JSON.stringify(asyncapi.channels)).toContain('order.created');
  expect(JSON.stringify(asyncapi.channels)).toContain('currency');

  // Moving publishers off it: deprecated, then archived out of the catalog
  // (and its AsyncAPI document), then restored.
  await page.getByRole('link', { name: 'order.created' }).click();
  const about = page.getByRole('form', { name: 'About this type' });
  await about.getByLabel(/^Deprecated/).check();
  await about.getByRole('button', { name: 'Save' }).click();
  await expect(page.locator('.page-head .badge')).toHaveText('Deprecated');
  await page.getByRole('form', { name: 'About this type' }).getByRole('button', { name: 'Archive' }).click();
  await page.getByRole('dialog').getByRole('button', { name: 'Archive' }).click();
  await expect(page.locator('.page-head')).toContainText('Archived');
  expect(JSON.stringify((await (await page.request.get('/fn/asyncapi_document')).json()).channels)).not.toContain('order.created');
  await page.getByRole('button', { name: 'Restore to the catalog' }).click();
  await expect(page.locator('.page-head')).not.toContainText('Archived');
  expect(JSON.stringify((await (await page.request.get('/fn/asyncapi_document')).json()).channels)).toContain('order.created');
});
