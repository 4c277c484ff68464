// Helpers of the demo page suites: the demo app started in this process, and waits on page state through
// function predicates (the pages' Content-Security-Policy forbids the string form, which evals).
import type { Page } from 'playwright-core';
import { startDemo, type Demo } from '../../lib/demo/demo-app.js';

export async function demo(nodes: number): Promise<Demo> {
  return startDemo({ nodes, port: 0, host: '127.0.0.1', logLevel: 'silent' });
}

/** Waits until `fn(arg)`, run in the page, is truthy; returns its value. */
export async function inPage<A, T>(page: Page, fn: (arg: A) => T, arg: A, ms = 15_000): Promise<T> {
  const handle = await page.waitForFunction(fn as never, arg, { timeout: ms, polling: 50 });
  return (await handle.jsonValue()) as T;
}

/** Logs in on a demo page: fills the login form and waits for the app to show. */
export async function login(page: Page, fields: Record<string, string>, shown: string): Promise<void> {
  for (const [id, value] of Object.entries(fields)) {
    if (id === 'name') await page.fill('#name', value);
    else await page.selectOption(`#${id}`, value);
  }
  await page.click('#login button');
  await page.waitForSelector(`${shown}:not([hidden])`, { timeout: 15_000 });
}
