import { badRequest } from '../errors.js';
import { checkChannel } from '../protocol/names.js';
import type { StreamPosition } from '../protocol/types.js';
import type { Session } from '../session/session.js';

/** Most channels one SSE or long-poll request may name. */
export const MAX_STREAM_CHANNELS = 64;

/** The `channel` query parameters of an SSE/long-poll request, validated. */
export function channelsOf(url: URL): string[] {
  const channels = url.searchParams.getAll('channel');
  if (channels.length === 0) throw badRequest('name at least one channel: ?channel=NAME');
  if (channels.length > MAX_STREAM_CHANNELS) throw badRequest(`at most ${MAX_STREAM_CHANNELS} channels per request`);
  if (new Set(channels).size !== channels.length) throw badRequest('a channel is named twice');
  return channels.map(checkChannel);
}

/**
 * Positions of `channels` in request order as `epoch:offset` joined by commas (`-` = none yet).
 * Epochs are hex and offsets digits, so a cursor is safe in an SSE `id:` line and in a URL.
 */
export function encodePositions(s: Session, channels: string[]): string {
  let out = '';
  for (let i = 0; i < channels.length; i++) {
    const sub = s.subs.get(channels[i]!);
    out += (i ? ',' : '') + (sub && !sub.pending ? `${sub.epoch}:${sub.offset}` : '-');
  }
  return out;
}

/** Parses what encodePositions wrote; anything unreadable or of the wrong length means "from now". */
export function decodePositions(text: string | undefined | null, count: number): Array<StreamPosition | undefined> {
  const out: Array<StreamPosition | undefined> = new Array(count).fill(undefined);
  if (!text) return out;
  const parts = text.split(',');
  if (parts.length !== count) return out;
  parts.forEach((p, i) => {
    const m = /^([0-9a-f]{1,32}):(\d{1,15})$/.exec(p);
    if (m) out[i] = { epoch: m[1]!, offset: Number(m[2]) };
  });
  return out;
}
