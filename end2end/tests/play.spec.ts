import AxeBuilder from '@axe-core/playwright';
import { test, expect, ADMIN, hydrated, signIn } from './fixtures';

// The product engineer's first minute, with no receiver of their own: one
// click on the empty Endpoints page registers an endpoint pointing at a play
// inbox and sends it a test event, which shows up verified, live.
for (const size of [{ width: 1280, height: 800 }, { width: 390, height: 844 }]) {
  test.describe(`${size.width} px`, () => {
    test.use({ viewport: size });

    test('a product engineer registers an endpoint and sees a test event succeed with a verified signature, in one action', async ({ page, request }) => {
      await page.goto('/endpoints');
      await signIn(page, ADMIN.email, ADMIN.password);
      await expect(page.getByText('No endpoints yet.')).toBeVisible();
      await hydrated(page);

      let actions = 0;
      const act = async (step: () => Promise<void>) => {
        actions++;
        await step();
      };
      // 1. The one click.
      await act(() => page.getByRole('button', { name: 'Try it with a play inbox' }).click());
      // Its page, under its name rather than its URL.
      await expect(page.getByRole('heading', { level: 1, name: 'Play inbox' })).toBeVisible();
      await expect(page.getByRole('heading', { name: 'Received by the play inbox' })).toBeVisible();
      const requests = page.getByRole('list', { name: 'Requests received' });
      const first = requests.getByRole('listitem').first();
      await expect(first).toContainText('Signature verified');
      await expect(first).toContainText('herald.test');
      await expect(first).toContainText("Signature verified with the endpoint's secret.");
      await expect(first).toContainText('from Herald');
      expect(actions).toBeLessThanOrEqual(4);

      // The page fits the screen and passes axe-core with the inbox open.
      await hydrated(page);
      const widths = await page.evaluate(() => ({ doc: document.documentElement.scrollWidth, screen: window.innerWidth }));
      expect(widths.doc).toBeLessThanOrEqual(widths.screen);
      const bad = (await new AxeBuilder({ page }).analyze()).violations.filter(
        (v) => v.impact === 'serious' || v.impact === 'critical',
      );
      expect(bad.map((v) => v.id)).toEqual([]);

      // Live: a second test event and a request from outside appear without
      // a reload; the outside one is not signed, and says so.
      await page.getByRole('button', { name: 'Send test event' }).click();
      await expect(page.locator('#test-result')).toContainText('Delivered: HTTP 200');
      await expect(requests.getByRole('listitem')).toHaveCount(2);
      const url = await page.locator('section.play code.wrap').innerText();
      const res = await request.post(url, { data: { hello: 'from curl' } });
      expect(res.status()).toBe(200);
      await expect(requests.getByRole('listitem')).toHaveCount(3);
      await expect(requests.getByRole('listitem').first()).toContainText('Signature not verified');
      await expect(requests.getByRole('listitem').first()).toContainText('over HTTP');
      await expect(page.locator('#play-count')).toHaveText('3 requests received, newest first.');

      // The list names it too, with its URL under the name.
      await page.goto('/endpoints');
      const row = page.getByRole('table', { name: 'Endpoints' }).getByRole('row').nth(1);
      await expect(row.getByRole('link', { name: 'Play inbox' })).toBeVisible();
      await expect(row).toContainText(url);
    });
  });
}
