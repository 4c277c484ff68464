import type { IncomingMessage } from 'node:http';
import type { HashpubError } from '../errors.js';

/**
 * Limits: the one place the client edge asks whether a client may do something more (spec/protocol.md
 * "Limits"). Every check runs before the work it guards (before a handshake, a body or frame parse, a
 * subscribe round trip to the owner) and throws a `rate_limited` HashpubError, counted in
 * `hashpub_refusals_total{limit}`. Implemented by EdgeLimits (edge-limits.ts).
 */
export interface Limits {
  /** The source address a request counts against (the socket's peer; proxy-aware once trusted proxies exist). */
  clientAddress(req: IncomingMessage): string;
  /** A new connection attempt from `address` (WebSocket upgrade, SSE request, new long-poll session). */
  attempt(address: string): void;
  /** Counts an open connection of `address` (over the cap: throws); pair with closed(). */
  opened(address: string): void;
  /** The connection counted by opened(address) is gone. */
  closed(address: string): void;
  /** A session of `user` would be added to the `current` ones on this node. */
  userConnection(current: number): void;
  /** A subscription would be added to a connection's `current` ones (system channels not counted). */
  subscription(current: number): void;
  /** A client publish on `channel` (per node; checked before the body is read where the channel is known). */
  channelPublish(channel: string): void;
  /** A new per-connection command budget (WebSocket frames). */
  budget(): CommandBudget;
  /** Builds, and counts, a refusal of `limit`. */
  refusal(limit: LimitName, message: string, retryAfter?: number): HashpubError;
}

/** One connection's command budget: a token bucket plus its recent refusals. */
export interface CommandBudget {
  /** Takes one command; throws rate_limited (with retryAfter) when the bucket is empty. */
  take(): void;
  /** Notes a refusal sent to this connection; true when refusals within the abuse window reached the cap. */
  strike(): boolean;
  /** True when the bucket is full again and no refusal is within the abuse window: a new budget would be the same. */
  forgettable(): boolean;
}

/** The limits, as labels of `hashpub_refusals_total` (spec/protocol.md lists each with its default). */
export const LIMIT_NAMES = ['commands', 'subscriptions', 'connections_per_user', 'connections_per_address',
  'connection_attempts', 'channel_publishes'] as const;

export type LimitName = typeof LIMIT_NAMES[number];

/** The options that set the limits (fields of Options; 0 turns a limit off). */
export interface LimitOptions {
  maxCommandsPerSecond: number;
  commandBurst: number;
  maxSubscriptionsPerConnection: number;
  maxConnectionsPerUser: number;
  maxConnectionsPerAddress: number;
  maxConnectionAttemptsPerSecond: number;
  connectionAttemptBurst: number;
  maxChannelPublishesPerSecond: number;
  channelPublishBurst: number;
  abuseRefusals: number;
  abuseWindowSeconds: number;
  limitExemptAddresses: string[];
}
