import { badRequest } from '../errors.js';
import { checkChannel } from '../protocol/names.js';
import type { StreamPosition } from '../protocol/types.js';
import type { Session } from '../session/session.js';

/** Most channels one SSE or long-poll request may name. */
export const MAX_STREAM_CHANNELS = 64;

/**
 * The `channel` query parameters of an SSE/long-poll request, validated. None is allowed only with a
 * token (`withUser`): the stream then carries the messages sent to that user.
 */
export function channelsOf(url: URL, withUser: boolean): string[] {
  const channels = url.searchParams.getAll('channel');
  if (channels.length === 0 && !withUser) throw badRequest('name at least one channel (?channel=NAME), or send a token to receive messages to your user');
  if (channels.length > MAX_STREAM_CHANNELS) throw badRequest(`at most ${MAX_STREAM_CHANNELS} channels per request`);
  if (new Set(channels).size !== channels.length) throw badRequest('a channel is named twice');
  return channels.map(checkChannel);
}

/*
 * Cursor grammar (spec/protocol.md):  cursor = [session "."] positions
 *   positions = position *("," position)      position = "-" | epoch ":" offset
 *   session = 1*64 [A-Za-z0-9_-]   epoch = 1*32 hex digit   offset = 1*15 digit
 * Epochs are hex and offsets digits, so a cursor is safe in an SSE `id:` line and in a URL.
 */
const SESSION = /^[A-Za-z0-9_-]{1,64}$/;
const POSITION = /^(?:-|([0-9a-f]{1,32}):(\d{1,15}))$/;

/** A parsed cursor: the session it names (if any) and one position per channel, in request order. */
export interface Cursor {
  session?: string;
  positions: Array<StreamPosition | undefined>;
}

/** Parses a cursor; throws bad_request naming what is wrong. An empty string is "no cursor". */
export function parseCursor(text: string | null | undefined): Cursor {
  if (!text) return { positions: [] };
  if (text.length > 64 + 1 + MAX_STREAM_CHANNELS * 50) throw badRequest('malformed cursor: too long');
  const dot = text.indexOf('.');
  const session = dot < 0 ? undefined : text.slice(0, dot);
  if (session !== undefined && !SESSION.test(session)) throw badRequest('malformed cursor: bad session id (use a cursor this node returned)');
  const positions = text.slice(dot + 1).split(',').map((p) => {
    const m = POSITION.exec(p);
    if (!m) throw badRequest(`malformed cursor: "${p.slice(0, 40)}" is not "-" or EPOCH:OFFSET (use a cursor this node returned)`);
    return m[1] === undefined ? undefined : { epoch: m[1], offset: Number(m[2]) };
  });
  return session === undefined ? { positions } : { session, positions };
}

/** The session id of a cursor, without checking the rest (DELETE names a session; positions do not matter). */
export function splitCursor(text: string): { session?: string } {
  const dot = text.indexOf('.');
  const session = dot < 0 ? '' : text.slice(0, dot);
  if (!SESSION.test(session)) throw badRequest('malformed cursor: it names no session (use a cursor this node returned)');
  return { session };
}

/**
 * The cursor of `s` for `channels` in request order: `<session>.<positions>` with `epoch:offset` per
 * channel (`-` = none yet).
 */
export function encodeCursor(s: Session, channels: string[]): string {
  let out = `${s.id}.`;
  for (let i = 0; i < channels.length; i++) {
    const sub = s.subs.get(channels[i]!);
    out += (i ? ',' : '') + (sub && !sub.pending ? `${sub.epoch}:${sub.offset}` : '-');
  }
  return channels.length === 0 ? out + '-' : out;
}
