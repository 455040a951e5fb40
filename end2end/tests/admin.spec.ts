import { test, expect, ADMIN, hydrated, signIn } from './fixtures';

test('an admin manages API keys, users and tenants, and finds each change in the audit log', async ({ page, herald }) => {
  await herald.cli(['tenant', 'create', '--slug', 'acme', '--name', 'Acme']);
  await page.goto('/login?next=/api-keys');
  await signIn(page, ADMIN.email, ADMIN.password);
  await expect(page.getByRole('heading', { name: 'API keys' })).toBeVisible();
  await hydrated(page);

  // A key is shown once, then listed by name and prefix only.
  const form = page.getByRole('form', { name: 'Create a key' });
  await form.getByLabel('Name').fill('billing service');
  await form.getByLabel('Scope').selectOption('ingest');
  await form.getByRole('button', { name: 'Create key' }).click();
  const shown = page.getByTestId('new-key');
  await expect(shown).toContainText('billing service');
  const key = (await shown.locator('code').textContent())!.trim();
  expect(key).toMatch(/^hrld_/);
  const row = page.getByRole('table', { name: 'API keys' }).getByRole('row').filter({ hasText: 'billing service' });
  await expect(row).toContainText(key.slice(0, 13));
  await expect(row).not.toContainText(key);

  // The key publishes until it is revoked.
  const publish = () =>
    page.request.post('/api/v1/events', {
      headers: { authorization: `Bearer ${key}` },
      data: { event_type: 'order.created', payload: {} },
    });
  expect((await publish()).status()).toBe(202);
  await row.getByRole('button', { name: 'Revoke' }).click();
  await expect(page.getByText('No keys yet.')).toBeVisible();
  expect((await publish()).status()).toBe(401);

  // A user bound to the acme tenant.
  await page.goto('/settings');
  await hydrated(page);
  const add = page.getByRole('form', { name: 'Add a user' });
  await add.getByLabel('Email').fill('acme-ops@herald.test');
  await add.getByRole('combobox', { name: 'Role' }).selectOption('operator');
  await add.getByRole('combobox', { name: 'Tenant' }).selectOption('acme');
  await add.getByLabel('Initial password (at least 8 characters)').fill('acme-ops-password');
  await add.getByRole('button', { name: 'Add user' }).click();
  const users = page.getByRole('table', { name: 'Users' });
  const acmeRow = users.getByRole('row').filter({ hasText: 'acme-ops@herald.test' });
  await expect(acmeRow.getByRole('combobox', { name: 'Tenant' })).toHaveValue('acme');
  await expect(acmeRow.getByRole('combobox', { name: 'Role' })).toHaveValue('operator');

  // An admin cannot be bound to a tenant: the error says why.
  await acmeRow.getByRole('combobox', { name: 'Role' }).selectOption('admin');
  await acmeRow.getByRole('button', { name: 'Save' }).click();
  await expect(page.getByRole('alert').filter({ hasText: 'admins are global' })).toBeVisible();

  // The audit log has each change, naming the admin.
  await page.goto('/audit');
  await hydrated(page); // the filter's inputs take their value from the URL on hydration
  const audit = page.getByRole('table', { name: 'Audit entries' });
  for (const action of ['api_key.create', 'api_key.revoke', 'user.create', 'login.success']) {
    await expect(audit.getByRole('row').filter({ hasText: action }).first()).toContainText(`user ${ADMIN.email}`);
  }
  await page.getByLabel('Action').fill('api_key.');
  await page.getByRole('button', { name: 'Filter' }).click();
  await expect(page).toHaveURL(/action=api_key\./);
  await expect(audit.getByRole('row')).toHaveCount(3); // the header and two entries

  // The bound user sees only acme: its empty key list, not the default tenant's.
  await page.context().clearCookies();
  await page.goto('/login?next=/settings');
  await signIn(page, 'acme-ops@herald.test', 'acme-ops-password');
  await expect(page.getByText('You work in tenant')).toContainText('acme');
});

test('a global user switches the tenant the console shows', async ({ page, herald }) => {
  await herald.cli(['tenant', 'create', '--slug', 'acme', '--name', 'Acme']);
  await page.goto('/login?next=/settings');
  await signIn(page, ADMIN.email, ADMIN.password);
  await hydrated(page);
  const switcher = page.getByRole('form', { name: 'Switch tenant' });
  await expect(switcher.getByLabel('Working tenant')).toHaveValue('default');
  await switcher.getByLabel('Working tenant').selectOption('acme');
  await switcher.getByRole('button', { name: 'Switch' }).click();
  await expect(page).toHaveURL(/\/$/);
  await page.goto('/settings');
  await expect(page.getByRole('form', { name: 'Switch tenant' }).getByLabel('Working tenant')).toHaveValue('acme');
});
