import { test, expect, ADMIN, hydrated, signIn } from './fixtures';

test('an unauthenticated visit to a console page redirects to sign-in, then back', async ({ page }) => {
  await page.goto('/events');
  await expect(page).toHaveURL(/\/login\?next=\/events$/);
  await expect(page.getByRole('button', { name: 'Sign in' })).toBeVisible();

  await signIn(page, ADMIN.email, ADMIN.password);
  await expect(page).toHaveURL(/\/events$/);
  await expect(page.getByRole('heading', { name: 'Events' })).toBeVisible();
});

test('the first-run admin signs in, uses the console shell and signs out', async ({ page }) => {
  await page.goto('/');
  await expect(page).toHaveURL(/\/login$/);
  await signIn(page, ADMIN.email, ADMIN.password);

  await expect(page.getByRole('heading', { name: 'Dashboard' })).toBeVisible();
  await expect(page.getByText(`Signed in as ${ADMIN.email}`)).toBeVisible();
  const nav = page.getByRole('navigation', { name: 'Sections' });
  for (const section of ['Dashboard', 'Endpoints', 'Events', 'DLQ', 'Replays', 'Settings']) {
    await expect(nav.getByRole('link', { name: section })).toBeVisible();
  }

  await nav.getByRole('link', { name: 'DLQ' }).click();
  await expect(page.getByRole('heading', { name: 'Dead-letter queue' })).toBeVisible();
  await expect(page.getByText('The dead-letter queue is empty for these filters.')).toBeVisible();

  // The account menu opens only through client-side code: it proves the wasm
  // loaded and hydrated the page.
  await hydrated(page);
  const menuButton = page.getByRole('button', { name: /account menu/ });
  await expect(menuButton).toHaveAttribute('aria-expanded', 'false');
  await expect(page.getByRole('button', { name: 'Sign out' })).toBeHidden();
  await menuButton.click();
  await expect(menuButton).toHaveAttribute('aria-expanded', 'true');
  await page.getByRole('button', { name: 'Sign out' }).click();

  await expect(page).toHaveURL(/\/login$/);
  // The session is gone on the server too, not just hidden.
  await page.goto('/settings');
  await expect(page).toHaveURL(/\/login\?next=\/settings$/);
});

test('a wrong password shows an error and does not sign in', async ({ page }) => {
  await page.goto('/login');
  await signIn(page, ADMIN.email, 'not-the-password');
  await expect(page.getByRole('alert')).toHaveText('Wrong email or password.');
  await expect(page).toHaveURL(/\/login/);

  await page.goto('/');
  await expect(page).toHaveURL(/\/login$/);
});

test('a viewer is told that user management is for admins; the admin sees the users', async ({ page, herald }) => {
  await herald.cli(['user', 'create', '--email', 'viewer@herald.test', '--role', 'viewer', '--password', 'viewer-password']);

  await page.goto('/login?next=/settings');
  await signIn(page, 'viewer@herald.test', 'viewer-password');
  await expect(page.getByRole('heading', { name: 'Settings' })).toBeVisible();
  await expect(page.getByText('Only admins can see and manage console users.')).toBeVisible();
  await expect(page.getByRole('table')).toHaveCount(0);

  await page.context().clearCookies();
  await page.goto('/login?next=/settings');
  await signIn(page, ADMIN.email, ADMIN.password);
  const table = page.getByRole('table', { name: 'Users' });
  const viewerRow = table.getByRole('row').filter({ hasText: 'viewer@herald.test' });
  await expect(viewerRow.getByRole('combobox', { name: 'Role' })).toHaveValue('viewer');
  const adminRow = table.getByRole('row').filter({ hasText: ADMIN.email });
  await expect(adminRow.getByRole('combobox', { name: 'Role' })).toHaveValue('admin');
});

test('a viewer is not offered the actions their role lacks; an admin is', async ({ page, herald, request }) => {
  await herald.cli(['user', 'create', '--email', 'looker@herald.test', '--role', 'viewer', '--password', 'looker-password']);

  await page.goto('/login?next=/endpoints');
  await signIn(page, 'looker@herald.test', 'looker-password');
  await expect(page.getByRole('heading', { name: 'Endpoints' })).toBeVisible();
  await expect(page.getByText('No endpoints yet.')).toBeVisible();
  await expect(page.getByRole('link', { name: 'New endpoint' })).toHaveCount(0);
  await page.goto('/retry-policies');
  await expect(page.getByRole('heading', { name: 'Retry policies' })).toBeVisible();
  await expect(page.getByRole('form', { name: 'Retry policy' })).toHaveCount(0);
  await page.goto('/api-keys');
  await expect(page.getByRole('heading', { name: 'API keys' })).toBeVisible();
  await expect(page.getByText('does not allow this')).toBeVisible();
  await expect(page.getByRole('heading', { name: 'Create a key' })).toHaveCount(0);

  // An endpoint nobody answers at, and one event for it that dies at once.
  const key = await herald.apiKey();
  const api = (path: string, data: unknown) =>
    request.post(`${herald.url}${path}`, { headers: { authorization: `Bearer ${key}` }, data });
  const once = { backoff: { kind: 'schedule', delays_secs: [1] }, max_attempts: 1, jitter: 0 };
  const created = await api('/api/v1/endpoints', { url: 'http://127.0.0.1:9/gone', event_types: ['*'], retry_policy: once });
  expect(created.status()).toBe(201);
  const endpoint = (await created.json()).id as string;
  expect((await api('/api/v1/events', { event_type: 'invoice.paid', payload: { n: 1 } })).status()).toBe(202);

  const viewerSees = async (offered: boolean) => {
    const count = offered ? 1 : 0;
    await page.goto(`/endpoints/${endpoint}`);
    await expect(page.getByRole('heading', { name: 'Delivery statistics' })).toBeVisible();
    await expect(page.getByRole('button', { name: 'Send test event' })).toHaveCount(count);
    await expect(page.getByRole('button', { name: 'Rotate secret' })).toHaveCount(count);
    await expect(page.getByRole('button', { name: 'Pause endpoint' })).toHaveCount(count);
    await expect(page.getByRole('button', { name: 'Save changes' })).toHaveCount(count);
    await page.goto('/replays');
    await expect(page.getByRole('heading', { name: 'Jobs' })).toBeVisible();
    await expect(page.getByRole('heading', { name: 'New replay' })).toHaveCount(count);
    await expect.poll(async () => {
      await page.goto('/dlq');
      return page.getByRole('table').getByRole('link').count();
    }, { timeout: 15_000 }).toBeGreaterThan(0);
    await page.getByRole('table').getByRole('link').first().click();
    await expect(page.getByRole('heading', { name: 'Attempts' })).toBeVisible();
    await expect(page.getByRole('button', { name: 'Reprocess' })).toHaveCount(count);
    await expect(page.getByRole('button', { name: 'Discard' })).toHaveCount(count);
  };
  await viewerSees(false);

  await page.context().clearCookies();
  await page.goto('/login?next=/endpoints');
  await signIn(page, ADMIN.email, ADMIN.password);
  await expect(page.getByRole('link', { name: 'New endpoint' })).toBeVisible();
  await page.goto('/retry-policies');
  await expect(page.getByRole('form', { name: 'Retry policy' })).toBeVisible();
  await page.goto('/api-keys');
  await expect(page.getByRole('heading', { name: 'Create a key' })).toBeVisible();
  await viewerSees(true);
});

test.describe('on a phone', () => {
  test.use({ viewport: { width: 390, height: 844 } });

  test('the navigation opens from the menu button', async ({ page }) => {
    await page.goto('/login');
    await signIn(page, ADMIN.email, ADMIN.password);
    await expect(page.getByRole('heading', { name: 'Dashboard' })).toBeVisible();
    await hydrated(page);

    const nav = page.getByRole('navigation', { name: 'Sections' });
    await expect(nav).toBeHidden();
    await page.getByRole('button', { name: 'Navigation' }).click();
    await expect(nav).toBeVisible();
    await nav.getByRole('link', { name: 'Replays' }).click();
    await expect(page.getByRole('heading', { name: 'Replays' })).toBeVisible();
    await expect(nav).toBeHidden();
  });
});
