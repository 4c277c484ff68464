import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { OptionsError } from '../errors.js';
import type { Hooks } from './hooks.js';

/** Every hook event, in the order a connection meets them. */
export const HOOK_EVENTS = ['connect', 'subscribe', 'publish', 'deliver', 'unsubscribe', 'disconnect'] as const;

/** Name of one hook event (also the last path segment of its webhook URL). */
export type HookEvent = (typeof HOOK_EVENTS)[number];

/**
 * Loads an in-process hook module (`--hooks FILE`): `file` is resolved against the working directory and
 * imported; its default export (or, without one, its named exports) must be an object whose hook members are
 * functions. Throws an OptionsError naming the file otherwise.
 */
export async function loadHookModule(file: string): Promise<Hooks> {
  const path = resolve(process.cwd(), file);
  let mod: Record<string, unknown>;
  try {
    mod = await import(pathToFileURL(path).href) as Record<string, unknown>;
  } catch (err) {
    const e = new OptionsError('hooks', `cannot load hook module ${path}: ${(err as Error)?.message ?? String(err)}`);
    (e as { cause?: unknown }).cause = err;
    throw e;
  }
  const source = mod.default !== undefined ? mod.default : mod;
  return validateHooks(source, path);
}

/** Checks that `source` is an object of hook functions and returns them bound to it; `where` names it in errors. */
export function validateHooks(source: unknown, where: string): Hooks {
  if (typeof source !== 'object' || source === null || Array.isArray(source)) {
    throw new OptionsError('hooks', `${where}: the default export must be an object of hook functions (${HOOK_EVENTS.join(', ')})`);
  }
  const hooks: Record<string, unknown> = {};
  for (const event of HOOK_EVENTS) {
    const fn = (source as Record<string, unknown>)[event];
    if (fn === undefined || fn === null) continue;
    if (typeof fn !== 'function') throw new OptionsError('hooks', `${where}: "${event}" must be a function, got ${typeof fn}`);
    hooks[event] = (fn as (ev: unknown) => unknown).bind(source);
  }
  if (Object.keys(hooks).length === 0) {
    throw new OptionsError('hooks', `${where}: exports none of the hook functions ${HOOK_EVENTS.join(', ')}`);
  }
  return hooks as Hooks;
}
