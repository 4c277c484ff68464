import { badRequest } from '../errors.js';
import { checkChannel } from './names.js';
import type { StreamPosition } from './types.js';

/** Frames a client sends on the WebSocket (spec/protocol.md). */
export type ClientFrame =
  /** `ping`: the client wants the node's keepalive as {"type":"ping"} text frames (answered by `pong`), not WebSocket pings. */
  | { type: 'connect'; token?: string; session?: string; since?: Map<string, StreamPosition>; ping?: boolean }
  | { type: 'subscribe'; id: number; channel: string; since?: StreamPosition }
  | { type: 'unsubscribe'; id: number; channel: string }
  | { type: 'publish'; id: number; channel: string; data: unknown; key?: string }
  | { type: 'ping' }
  | { type: 'pong' };

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

/** Validates a `since` position; throws bad_request. */
export function checkSince(v: unknown): StreamPosition {
  if (!isObject(v) || typeof v.epoch !== 'string' || !Number.isInteger(v.offset) || (v.offset as number) < 0) {
    throw badRequest('since must be {"epoch": string, "offset": integer >= 0}');
  }
  return { epoch: v.epoch, offset: v.offset as number };
}

/** Most channels a `connect` frame's `since` may name. */
const MAX_SINCE_CHANNELS = 1024;

/** Validates the `since` map of a resuming `connect` ({channel: position}); throws bad_request. */
function checkSinceMap(v: unknown): Map<string, StreamPosition> | undefined {
  if (v === undefined) return undefined;
  if (!isObject(v)) throw badRequest('since must be an object {"channel": {"epoch", "offset"}}');
  const entries = Object.entries(v);
  if (entries.length > MAX_SINCE_CHANNELS) throw badRequest(`since names at most ${MAX_SINCE_CHANNELS} channels`);
  return new Map(entries.map(([channel, pos]) => [checkChannel(channel), checkSince(pos)]));
}

function requestId(v: Record<string, unknown>): number {
  if (!Number.isSafeInteger(v.id)) throw badRequest(`${String(v.type)} needs an integer "id"`);
  return v.id as number;
}

/** Checks a parsed frame's shape; throws bad_request naming what is wrong. */
export function checkClientFrame(v: unknown): ClientFrame {
  if (!isObject(v)) throw badRequest('a frame is one JSON object');
  switch (v.type) {
    case 'connect':
      if (v.token !== undefined && typeof v.token !== 'string') throw badRequest('token must be a string');
      if (v.session !== undefined && typeof v.session !== 'string') throw badRequest('session must be a string');
      if (v.ping !== undefined && typeof v.ping !== 'boolean') throw badRequest('ping must be a boolean');
      return { type: 'connect', token: v.token as string | undefined, session: v.session as string | undefined, since: checkSinceMap(v.since), ping: v.ping === true };
    case 'subscribe': {
      const id = requestId(v);
      const frame: ClientFrame = { type: 'subscribe', id, channel: checkChannel(v.channel) };
      if (v.since !== undefined) frame.since = checkSince(v.since);
      return frame;
    }
    case 'unsubscribe':
      return { type: 'unsubscribe', id: requestId(v), channel: checkChannel(v.channel) };
    case 'publish':
      if (!('data' in v)) throw badRequest('publish needs "data"');
      if (v.key !== undefined && (typeof v.key !== 'string' || v.key.length === 0 || v.key.length > 200)) throw badRequest('key must be a string of 1-200 characters');
      return { type: 'publish', id: requestId(v), channel: checkChannel(v.channel), data: v.data, key: v.key as string | undefined };
    case 'ping':
      return { type: 'ping' };
    case 'pong':
      return { type: 'pong' };
    default:
      throw badRequest(`unknown frame type ${JSON.stringify(v.type)}`);
  }
}
