import { test, expect, ADMIN, hydrated, signIn } from './fixtures';

test('a product engineer creates a pull inbox; the operator sees its depth and the consumers pulling from it', async ({ page, herald, request }) => {
  await page.goto('/endpoints/new');
  await signIn(page, ADMIN.email, ADMIN.password);
  await expect(page.getByRole('heading', { name: 'New endpoint' })).toBeVisible();
  await hydrated(page);
  // An inbox has no URL: the field goes away when it is chosen.
  await page.getByRole('combobox', { name: /^Kind\b/ }).selectOption('inbox');
  await expect(page.getByLabel('URL')).toHaveCount(0);
  await page.getByLabel('Event types').fill('job.*');
  await page.getByRole('button', { name: 'Create endpoint' }).click();
  await expect(page.getByText('Endpoint created.')).toBeVisible();
  await page.getByRole('link', { name: 'Go to the endpoint' }).click();
  const heading = page.getByRole('heading', { name: /^Inbox ep_/ });
  await expect(heading).toBeVisible();
  const id = (await heading.textContent())!.replace('Inbox ', '').trim();
  await expect(page.getByText('No consumer has pulled yet.')).toBeVisible();

  // A service publishes three jobs; a worker with a key bound to the inbox leases one.
  const admin = await herald.apiKey();
  for (let n = 1; n <= 3; n++) {
    const res = await request.post(`${herald.url}/api/v1/events`, {
      headers: { authorization: `Bearer ${admin}` },
      data: { event_type: 'job.created', payload: { n } },
    });
    expect(res.status()).toBe(202);
  }
  const created = await request.post(`${herald.url}/api/v1/api-keys`, {
    headers: { authorization: `Bearer ${admin}` },
    data: { name: 'billing worker', scope: 'consume', endpoint_id: id },
  });
  expect(created.status()).toBe(201);
  const worker = (await created.json()).key as string;
  const pulled = await request.get(`${herald.url}/api/v1/inbox/${id}?limit=1&visibility_secs=600&consumer=billing-worker`, {
    headers: { authorization: `Bearer ${worker}` },
  });
  expect(pulled.status()).toBe(200);
  expect((await pulled.json()).messages).toHaveLength(1);

  await page.reload();
  await expect(page.locator('[data-inbox-ready]')).toHaveText('2');
  await expect(page.locator('[data-inbox-leased]')).toHaveText('1');
  await expect(page.locator('dt:has-text("Oldest message") + dd')).toContainText('made');
  await expect(page.getByRole('table', { name: 'Consumers' }).getByRole('row', { name: /billing-worker/ })).toBeVisible();
});
