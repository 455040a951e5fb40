import { test as base, expect, type Page } from '@playwright/test';
import { spawn, execFile } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { once } from 'node:events';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';

export const ADMIN = { email: 'admin@herald.test', password: 'e2e-admin-password' };

export type Herald = {
  url: string;
  dataDir: string;
  /** Runs a `herald` subcommand against this server's data directory. */
  cli: (args: string[]) => Promise<string>;
  /** A new API key of scope `all`, for seeding data as a publishing service would. */
  apiKey: (name?: string) => Promise<string>;
};

function heraldBin(): string {
  const bin = process.env.HERALD_BIN;
  if (!bin) throw new Error('HERALD_BIN is not set: run the browser tests through `make test` (or `make e2e`)');
  return bin;
}

/**
 * Every test gets its own Herald: a fresh data directory (so a fresh SQLite
 * database), a free port, and a known first-run admin.
 */
export const test = base.extend<{ herald: Herald }>({
  herald: async ({}, use) => {
    const bin = heraldBin();
    const dataDir = mkdtempSync(path.join(tmpdir(), 'herald-e2e-'));
    const env = {
      ...process.env,
      HERALD_DATA_DIR: dataDir,
      HERALD_LISTEN: '127.0.0.1:0',
      HERALD_ADMIN_EMAIL: ADMIN.email,
      HERALD_ADMIN_PASSWORD: ADMIN.password,
      HERALD_LOG: process.env.HERALD_LOG ?? 'warn',
      // The test receivers listen on loopback, which the destination guard refuses by default.
      HERALD_OUTBOUND_ALLOW_CIDRS: '127.0.0.0/8,::1/128',
      // Every test signs in from 127.0.0.1.
      HERALD_LOGIN_RATE_LIMIT: '0',
    };
    const child = spawn(bin, ['serve'], { env, stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    const url = await new Promise<string>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`herald did not start within 30 s:\n${output}`)), 30_000);
      const onData = (chunk: Buffer) => {
        output += chunk.toString();
        const m = output.match(/Herald console: (http:\/\/\S+)/);
        if (m) {
          clearTimeout(timer);
          resolve(m[1]);
        }
      };
      child.stdout.on('data', onData);
      child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
      child.on('exit', (code) => {
        clearTimeout(timer);
        reject(new Error(`herald exited with ${code} before listening:\n${output}`));
      });
    });
    const cli = async (args: string[]) => {
      const { stdout } = await promisify(execFile)(bin, args, { env });
      return stdout;
    };

    const apiKey = async (name = 'e2e') => {
      const out = await cli(['api-key', 'create', '--name', name]);
      const line = out.split('\n').find((l) => l.startsWith('Key (shown only once): '));
      if (!line) throw new Error(`no key in:\n${out}`);
      return line.replace('Key (shown only once): ', '').trim();
    };

    await use({ url, dataDir, cli, apiKey });

    child.kill('SIGTERM');
    if (child.exitCode === null) await once(child, 'exit');
    rmSync(dataDir, { recursive: true, force: true });
  },
  baseURL: async ({ herald }, use) => {
    await use(herald.url);
  },
});

export { expect };

/** Resolves once the page's wasm has loaded and hydrated the server-rendered HTML. */
export async function hydrated(page: Page) {
  await expect(page.locator('body')).toHaveAttribute('data-hydrated', 'true');
}

export async function signIn(page: Page, email: string, password: string) {
  await hydrated(page);
  await page.getByLabel('Email').fill(email);
  await page.getByLabel('Password').fill(password);
  await page.getByRole('button', { name: 'Sign in' }).click();
}
