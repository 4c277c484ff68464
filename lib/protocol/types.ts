/** Shared data shapes of the public contract (see spec/protocol.md). */

/** Position in a channel's stream: `epoch` changes only when history is lost; offsets start at 1. */
export interface StreamPosition {
  epoch: string;
  offset: number;
}

/** A message as clients receive it. */
export interface Message {
  channel: string;
  epoch: string;
  offset: number;
  data: unknown;
  /** User id of a client publisher; absent for server (API key) publishes. */
  from?: string;
  /** Milliseconds since the epoch when the owner accepted it (used for history TTL). */
  time: number;
  /** Ownership term it was written in (internal: lets a replica's log be matched against the owner's). */
  term?: number;
}

/** Per-channel settings, changed at runtime through the API or hook actions. */
export interface ChannelConfig {
  /** Only tokens whose `channels` claim lists the channel may subscribe. */
  private: boolean;
  /** Most subscriptions at once; 0 = unlimited. Enforced atomically at the owner. */
  maxSubscribers: number;
  /** Clients (with a token or anonymous) may publish without a `publish` claim. */
  clientPublish: boolean;
  /** History kept for resume: at most `size` messages, none older than `ttlSeconds`. size 0 = none. */
  history: { size: number; ttlSeconds: number };
  /**
   * The owner keeps the member set (distinct users): true = names and counts (GET .../presence pages the names),
   * "count" = counts only (huge rooms where nobody needs the names), false = nothing.
   */
  presence: boolean | 'count';
  /** Subscribers get join/leave events: one batched diff per push node per interval, never a frame per join. */
  presenceEvents: boolean;
  /** Run the per-recipient `deliver` hook on each push node. */
  deliverHook: boolean;
}

export function defaultChannelConfig(): ChannelConfig {
  return {
    private: false,
    maxSubscribers: 0,
    clientPublish: false,
    history: { size: 100, ttlSeconds: 300 },
    presence: true,
    presenceEvents: false,
    deliverHook: false,
  };
}

/** The user id of a connection: a string, or null when anonymous. */
export type UserId = string | null;

/** Claims of a verified client token that hooks see; `sub` is the user id. */
export type Claims = Record<string, unknown>;
