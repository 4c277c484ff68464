import { badRequest } from '../errors.js';
import type { ChannelConfig } from './types.js';

/** Largest history a channel may keep. */
export const MAX_HISTORY_SIZE = 10_000;

/**
 * Validates a partial channel config (PUT /v1/channels/{c}/config, `config` hook actions) and returns
 * `base` with it applied. Unknown keys and wrong types are `bad_request`.
 */
export function applyConfigPatch(base: ChannelConfig, patch: unknown): ChannelConfig {
  if (typeof patch !== 'object' || patch === null || Array.isArray(patch)) throw badRequest('config must be a JSON object');
  const out: ChannelConfig = { ...base, history: { ...base.history } };
  for (const [key, value] of Object.entries(patch)) {
    switch (key) {
      case 'presence':
        if (typeof value !== 'boolean' && value !== 'count') throw badRequest('config.presence must be true, false or "count"');
        out.presence = value;
        break;
      case 'private': case 'clientPublish': case 'presenceEvents': case 'deliverHook':
        if (typeof value !== 'boolean') throw badRequest(`config.${key} must be true or false`);
        out[key] = value;
        break;
      case 'maxSubscribers':
        if (!Number.isInteger(value) || (value as number) < 0) throw badRequest('config.maxSubscribers must be an integer >= 0');
        out.maxSubscribers = value as number;
        break;
      case 'history': {
        if (typeof value !== 'object' || value === null) throw badRequest('config.history must be an object');
        for (const [hk, hv] of Object.entries(value)) {
          if (hk === 'size') {
            if (!Number.isInteger(hv) || (hv as number) < 0 || (hv as number) > MAX_HISTORY_SIZE) {
              throw badRequest(`config.history.size must be an integer 0-${MAX_HISTORY_SIZE}`);
            }
            out.history.size = hv as number;
          } else if (hk === 'ttlSeconds') {
            if (typeof hv !== 'number' || !(hv > 0)) throw badRequest('config.history.ttlSeconds must be a number > 0');
            out.history.ttlSeconds = hv;
          } else throw badRequest(`unknown config field history.${hk}`);
        }
        break;
      }
      default:
        throw badRequest(`unknown config field ${key}`);
    }
  }
  return out;
}

/** Reads a string-list claim (`channels`, `publish`); anything else is an empty list. */
export function claimList(value: unknown): string[] {
  return Array.isArray(value) ? value.filter((v): v is string => typeof v === 'string') : [];
}
