import { HashpubError } from '../errors.js';

/** Public channel names: what clients and API callers may use. */
const CHANNEL_RE = /^[A-Za-z0-9_.:@=,;-]{1,160}$/;
/** User ids (token `sub`, REST paths): same alphabet as channels. */
const USER_RE = /^[A-Za-z0-9_.:@=,;-]{1,160}$/;

export const isChannelName = (s: unknown): s is string => typeof s === 'string' && CHANNEL_RE.test(s);
export const isUserId = (s: unknown): s is string => typeof s === 'string' && USER_RE.test(s);
/** A cluster node id: its hyperswarm public key, 64 lowercase hex digits (what peers list in member sets). */
export const isNodeId = (s: unknown): s is string => typeof s === 'string' && /^[0-9a-f]{64}$/.test(s);

/** System channel that every connection of `user` is subscribed to. */
export const userChannel = (user: string): string => `$user:${user}`;
export const isSystemChannel = (c: string): boolean => c.startsWith('$');

/** Throws `bad_request` unless `s` is a public channel name. */
export function checkChannel(s: unknown): string {
  if (!isChannelName(s)) {
    throw new HashpubError('bad_request', 'invalid channel name: use 1-160 of [A-Za-z0-9_.:@=,;-]');
  }
  return s;
}

export function checkUser(s: unknown): string {
  if (!isUserId(s)) throw new HashpubError('bad_request', 'invalid user id: use 1-160 of [A-Za-z0-9_.:@=,;-]');
  return s;
}
