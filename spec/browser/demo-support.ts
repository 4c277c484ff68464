// Helpers of the demo page suites: the demo app started in this process, and logging in on a demo page.
// (Tests read page state with page.evaluate(function): the pages' Content-Security-Policy forbids eval, so
// playwright's string predicates fail there.)
import type { Page } from 'playwright-core';
import { startDemo, type Demo } from '../../lib/demo/demo-app.js';

export async function demo(nodes: number): Promise<Demo> {
  return startDemo({ nodes, port: 0, host: '127.0.0.1', logLevel: 'silent' });
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
