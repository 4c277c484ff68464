/*
 * The official hashpub client's public types (`hashpub/client`, DESIGN.md "Browser use"). client.ts holds the
 * implementation; both are plain ES modules with no imports at run time, served to browsers as is.
 */

import type { Message as StoredMessage, StreamPosition } from '../protocol/types.js';

/** A position in a channel's stream: everything up to and including `offset` of `epoch` was received. */
export type { StreamPosition };

/** A message as a subscription handler receives it (`from`: the publishing user of a client publish). */
export type Message = Omit<StoredMessage, 'time'>;

/** What `publish()` resolves to: where the owner put the message. */
export interface PublishAck {
  channel: string;
  epoch: string;
  offset: number;
  /** A retry of a publish the owner had already applied (it is applied once). */
  duplicate?: boolean;
}

/** The three transports, tried in this order by default. */
export type TransportName = 'websocket' | 'sse' | 'poll';

/** connecting: an attempt is under way; connected; disconnected: waiting to retry; closed: for good. */
export type ClientState = 'connecting' | 'connected' | 'disconnected' | 'closed';

/** unsubscribed: not (or no longer) subscribed; subscribing: waiting for the server (also while reconnecting); subscribed. */
export type SubscriptionState = 'unsubscribed' | 'subscribing' | 'subscribed';

/** A client token, or a function that fetches a fresh one (called first, on 4401/401 and when the token has expired). */
export type TokenSource = string | (() => Promise<string>);

/** Full-jitter exponential backoff: the n-th retry waits random(0, min(capMs, baseMs * 2^n)), plus any Retry-After. */
export interface BackoffOptions {
  /** @default 500 */
  baseMs: number;
  /** @default 20000 */
  capMs: number;
}

/** The part of the WebSocket API the client uses (a browser's WebSocket, the `ws` package, Node 22's). */
export interface WebSocketLike {
  onopen: ((ev: unknown) => void) | null;
  onmessage: ((ev: { data: unknown }) => void) | null;
  onclose: ((ev: { code: number; reason: string }) => void) | null;
  onerror: ((ev: unknown) => void) | null;
  send(data: string): void;
  close(code?: number, reason?: string): void;
}

/** A WebSocket constructor. */
export type WebSocketConstructor = new (url: string) => WebSocketLike;

/** Options of connect(). */
export interface ConnectOptions {
  /** Client token (JWT) or a function that returns a fresh one. None = anonymous (the node must allow it). */
  token?: TokenSource;
  /** Transports to use, best first; a transport that cannot connect falls back to the next. @default ['websocket','sse','poll'] */
  transports?: TransportName[];
  /** Reconnect backoff. */
  backoff?: Partial<BackoffOptions>;
  /** WebSocket constructor where there is no global one (Node 20: `import WebSocket from 'ws'`). */
  WebSocket?: WebSocketConstructor;
  /** A connection attempt that has not succeeded after this long fails. @default 10000 */
  connectTimeoutMs?: number;
  /** A publish not acknowledged within this long (retries included) rejects with `timeout`. @default 15000 */
  publishTimeoutMs?: number;
  /** How long one long-poll request may wait on the server, seconds. @default 25 */
  pollSeconds?: number;
}

/** Details of a client state change. */
export interface StateInfo {
  transport?: TransportName;
  url?: string;
  /** Why the connection ended (an error code: unavailable, unauthorized, disconnected, closed, ...). */
  reason?: string;
  /** disconnected: how long until the next attempt. */
  delayMs?: number;
}

/** Details of a subscription state change. */
export interface SubscriptionStateInfo {
  /** unsubscribed: why (unsubscribe, kicked, forbidden, banned, ...). */
  reason?: string;
  /** subscribed: whether the server had every message since the subscription's position. */
  recovered?: boolean;
}

/** Messages were lost between `from` and `to` (the server answered recovered: false, e.g. history trimmed or a new epoch). */
export interface Gap {
  channel: string;
  /** The last position received before the gap (null when none). */
  from: StreamPosition | null;
  /** The position the stream goes on from. */
  to: StreamPosition;
}

/**
 * Who is on a channel (channels with `presenceEvents: true`): the whole list first (`members`), then batched
 * diffs (`joins`, `leaves`); `count` is the number of members after it (the only field with presence "count").
 */
export interface Presence {
  channel: string;
  count: number;
  members?: string[];
  joins?: string[];
  leaves?: string[];
}

/** An error with one of the server's stable codes (spec/protocol.md) or `timeout` / `closed` / `unsupported`. */
export interface ClientErrorShape extends Error {
  readonly code: string;
  /** Server's Retry-After (or close 1013), ms. */
  readonly retryAfterMs?: number;
  /** The channel a refusal is about. */
  readonly channel?: string;
}

/** Unsubscribes the listener. */
export type Off = () => void;

/** One channel subscription. */
export interface Subscription {
  readonly channel: string;
  readonly state: SubscriptionState;
  /** Last position received (where a resume starts). */
  readonly position: StreamPosition | null;
  on(event: 'state', fn: (state: SubscriptionState, info: SubscriptionStateInfo) => void): Off;
  on(event: 'gap', fn: (gap: Gap) => void): Off;
  on(event: 'presence', fn: (p: Presence) => void): Off;
  on(event: 'error', fn: (err: ClientErrorShape) => void): Off;
  /** Ends the subscription (the server is told; presence says leave). */
  unsubscribe(): void;
}

/** Options of subscribe(). */
export interface SubscribeOptions {
  /** Start after this position (resume from history); `gap` fires if the server no longer has what follows it. */
  since?: StreamPosition;
}

/** A connected (or connecting) client: one connection at a time, reconnecting until close(). */
export interface Client {
  readonly state: ClientState;
  /** Transport in use (or being tried). */
  readonly transport: TransportName | null;
  /** Node URL in use (or being tried). */
  readonly url: string | null;
  /** Session id on the node (resumed after a reconnect when the node still has it). */
  readonly session: string | null;
  subscribe(channel: string, handler: (message: Message) => void, opts?: SubscribeOptions): Subscription;
  /** Publishes; retried (applied once) across reconnects until acknowledged or publishTimeoutMs. */
  publish(channel: string, data: unknown): Promise<PublishAck>;
  on(event: 'state', fn: (state: ClientState, info: StateInfo) => void): Off;
  /** Messages sent to this client's user (`POST /v1/users/{user}/messages`). */
  on(event: 'message', fn: (message: Message) => void): Off;
  on(event: 'error', fn: (err: ClientErrorShape) => void): Off;
  /** Says goodbye (the session ends at once) and stops for good. */
  close(): void;
}
