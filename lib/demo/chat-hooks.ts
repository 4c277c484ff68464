import type { DeliverReply, Hooks } from '../hooks/hooks.js';
import { isDemoLanguage, translate, type DemoLanguage } from './dictionary.js';

/*
 * Chat demo hooks (`hashpub start --hooks dist/lib/demo/chat-hooks.js`): moderation and translation.
 * - connect: keeps the token's `lang` (default "en") and `role` as connection info.
 * - publish: trims text, refuses empty messages; "/kick <user> [seconds]" (default 60 s) and "/ban <user> <seconds>"
 *   from a moderator remove the user from the channel and ban them for that long, through the reply's `kick`
 *   action (the command itself is not published); from anyone else they are refused.
 * - deliver (channels with deliverHook: true): readers whose lang is "es" or "fr" get `{text, lang}` translated
 *   word by word; everyone else gets the message unchanged.
 */

/** Ban length of a /kick without seconds. */
export const DEFAULT_BAN_SECONDS = 60;
/** Longest ban a /kick may ask for (one week). */
export const MAX_BAN_SECONDS = 7 * 24 * 3600;

const KICK_RE = /^\/(kick|ban)(?:\s|$)/;
const KICK_ARGS_RE = /^\/kick\s+([A-Za-z0-9_.:@=,;-]{1,160})(?:\s+(\d{1,7}))?$/;
const BAN_ARGS_RE = /^\/ban\s+([A-Za-z0-9_.:@=,;-]{1,160})\s+(\d{1,7})$/;
const LANG_RE = /^[a-z]{2}$/;

const hooks: Hooks = {
  connect({ claims }) {
    const lang = typeof claims.lang === 'string' && LANG_RE.test(claims.lang) ? claims.lang : 'en';
    const role = typeof claims.role === 'string' ? claims.role : 'user';
    return { allow: true, info: { lang, role } };
  },

  publish({ user, claims, channel, data }) {
    const text = textOf(data);
    if (text === null) return { allow: true };
    const trimmed = text.trim();
    if (trimmed === '') return { allow: false, reason: 'empty_message' };
    const command = KICK_RE.exec(trimmed)?.[1];
    if (command) {
      if (claims.role !== 'moderator') return { allow: false, reason: 'not_moderator' };
      const m = (command === 'kick' ? KICK_ARGS_RE : BAN_ARGS_RE).exec(trimmed);
      const seconds = m?.[2] === undefined ? DEFAULT_BAN_SECONDS : Number(m[2]);
      if (!m || seconds < 1 || seconds > MAX_BAN_SECONDS) {
        return { allow: false, reason: command === 'kick' ? 'usage: /kick <user> [seconds]' : 'usage: /ban <user> <seconds>' };
      }
      return {
        allow: false,
        reason: `${command === 'kick' ? 'kicked' : 'banned'} ${m[1]}`,
        actions: [{ type: 'kick', channel, user: m[1]!, ban: seconds, reason: `kicked by ${user ?? 'server'}` }],
      };
    }
    if (trimmed === text) return { allow: true };
    return { allow: true, data: { ...(data as object), text: trimmed } };
  },

  deliver({ data, recipients }) {
    const text = textOf(data);
    const translated = new Map<DemoLanguage, unknown>(); // once per language per message, not per reader
    const results: DeliverReply['results'] = recipients.map(({ info }) => {
      if (text === null || !isDemoLanguage(info.lang)) return {};
      const lang = info.lang;
      if (!translated.has(lang)) translated.set(lang, { ...(data as object), text: translate(text, lang), lang });
      return { data: translated.get(lang) };
    });
    return { results };
  },
};

/** The `text` of a `{text: string}` message, or null for any other data. */
function textOf(data: unknown): string | null {
  if (typeof data !== 'object' || data === null || Array.isArray(data)) return null;
  const text = (data as { text?: unknown }).text;
  return typeof text === 'string' ? text : null;
}

export default hooks;
