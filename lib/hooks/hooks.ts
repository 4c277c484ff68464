import type { ChannelConfig, Claims, UserId } from '../protocol/types.js';

/*
 * App hooks: one event type and one reply type per event, shared by in-process modules
 * (module-hooks.ts) and webhooks (webhook-hooks.ts). Every member is optional for the app.
 */

/** A change the app asks for in a reply. */
export type HookAction =
  /** Remove `user` from `channel`; with `ban` seconds they cannot resubscribe until it ends. */
  | { type: 'kick'; channel: string; user: string; ban?: number; reason?: string }
  /** Change some settings of `channel` (same fields as PUT /v1/channels/{c}/config). */
  | { type: 'config'; channel: string; set: Partial<ChannelConfig> }
  /** Close every connection of `user`. */
  | { type: 'disconnect'; user: string; reason?: string };

/** A client connects (before `connected` is sent). */
export interface ConnectEvent {
  /** User id from the token's `sub`, or null for an anonymous connection. */
  user: UserId;
  /** Verified token claims ({} when anonymous). */
  claims: Claims;
  /** Remote address of the socket. */
  ip: string;
  /** The `Origin` request header, if any. */
  origin: string | null;
}
export interface ConnectReply {
  /** false refuses the connection. */
  allow: boolean;
  /** Replaces the user id for this connection. */
  user?: string;
  /** Kept with the connection and passed to `deliver` (e.g. `{lang: "es"}`). */
  info?: Record<string, unknown>;
  /** Sent to the client when refused. */
  reason?: string;
}

/** A client asks to subscribe (after the node's own checks: name, private, ban). */
export interface SubscribeEvent {
  user: UserId;
  claims: Claims;
  channel: string;
}
export interface SubscribeReply {
  allow: boolean;
  reason?: string;
  actions?: HookAction[];
}

/** A message is about to be published; runs once per message at the channel owner, before the offset. */
export interface PublishEvent {
  /** Publishing user, null for server (API key) publishes and anonymous clients. */
  user: UserId;
  claims: Claims;
  channel: string;
  data: unknown;
}
export interface PublishReply {
  allow: boolean;
  /** Replaces the message data. */
  data?: unknown;
  reason?: string;
  actions?: HookAction[];
}

/** One recipient of a `deliver` batch. */
export interface Recipient {
  user: UserId;
  /** `info` from the connect reply ({} if none). */
  info: Record<string, unknown>;
}
/** A message reaches a push node on a channel with `deliverHook: true`; one call per message per push node. */
export interface DeliverEvent {
  channel: string;
  data: unknown;
  recipients: Recipient[];
}
/** One result per recipient, same order: new data, skip, or {} = unchanged. */
export interface DeliverReply {
  results: Array<{ data?: unknown; skip?: boolean }>;
}

/** A subscription ended (notification; fires exactly once per subscription). */
export interface UnsubscribeEvent {
  user: UserId;
  channel: string;
  /**
   * Why: `unsubscribe`, `goodbye` (the client closed its connection or session), `away` (its connection dropped
   * and did not come back within the presence grace; a resume subscribes again), `kicked`, `disconnect`,
   * `expired`, `refused`, `node_lost`.
   */
  reason: string;
}
/** A connection closed (notification; once per connection). */
export interface DisconnectEvent {
  user: UserId;
  session: string;
  /** Why: `goodbye` (a WebSocket close frame, DELETE of an SSE/long-poll session), `closed` (dropped), `replaced`, `disconnect`, `shutdown`, ... */
  reason: string;
}

/** What an app implements. A missing member means "allow" / "unchanged". */
export interface Hooks {
  connect?(ev: ConnectEvent): Promise<ConnectReply> | ConnectReply;
  subscribe?(ev: SubscribeEvent): Promise<SubscribeReply> | SubscribeReply;
  publish?(ev: PublishEvent): Promise<PublishReply> | PublishReply;
  deliver?(ev: DeliverEvent): Promise<DeliverReply> | DeliverReply;
  unsubscribe?(ev: UnsubscribeEvent): Promise<void> | void;
  disconnect?(ev: DisconnectEvent): Promise<void> | void;
}
