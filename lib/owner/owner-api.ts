import type { ChannelConfig, Claims, Message, StreamPosition, UserId } from '../protocol/types.js';

/*
 * The two directions between the roles of a node (DESIGN.md "Roles"):
 *   push node / REST API --Owner--> channel owner      (this node's ChannelOwner, or a remote one in a cluster)
 *   channel owner --PushTarget--> push node            (this node's PushService, or a remote one)
 */

export interface SubscribeRequest {
  channel: string;
  /** Id of the push node that holds the connection. */
  pushNode: string;
  session: string;
  user: UserId;
  claims: Claims;
  /** Resume point: the client has everything up to and including it. */
  since?: StreamPosition;
  /** Set by the push node for its own `$user:U` subscriptions (clients cannot subscribe to `$` channels). */
  system?: boolean;
}

export interface SubscribeResult {
  epoch: string;
  /** Latest offset at registration; every later message is delivered live. */
  offset: number;
  /** True when `since` was given and every message after it is in `messages`. */
  recovered: boolean;
  /** Messages after `since` (same epoch), oldest first. */
  messages: Message[];
  /** The channel runs the per-recipient deliver hook (replayed messages go through it too). */
  deliverHook?: boolean;
  /** Ownership term of the answering owner. */
  term?: number;
  /** The channel sends presence events (the push node hands new subscribers a member snapshot). */
  presenceEvents?: boolean;
}

export interface PublishRequest {
  channel: string;
  data: unknown;
  user: UserId;
  claims: Claims;
  /** A client publish: rights, bans and clientPublish apply. Server (API key) publishes skip them. */
  client: boolean;
  /** Idempotency key: a retry with the same id answers the original offset. */
  id?: string;
}

export interface PublishResult {
  channel: string;
  epoch: string;
  offset: number;
  duplicate?: boolean;
  /** Subscriptions the message was fanned out to (absent for duplicates). */
  subscribers?: number;
}

export interface HistoryResult {
  epoch: string;
  offset: number;
  messages: Message[];
}

export interface PresenceResult {
  channel: string;
  /** Subscriptions (connections), anonymous ones included. */
  count: number;
  /** Distinct subscribed users. */
  members: number;
  /** One page of member names, sorted (absent with presence "count"). */
  users?: string[];
  /** Pass as `cursor` to get the next page; null on the last one. */
  cursor?: string | null;
  /** Subscriptions per push node (the dashboard shows where a channel's subscribers are). */
  nodes?: Record<string, number>;
}

/** A page of the member list. */
export interface PresencePage {
  /** Most names in the page (1-1000). @default 100 */
  limit?: number;
  /** Names after this one (a `cursor` from the previous page). */
  cursor?: string;
}

/** Batched join/leave events of one channel for one push node (presenceEvents). */
export interface PresenceDiff {
  joins: string[];
  leaves: string[];
  /** Members after the change. */
  count: number;
  /** The whole member list (the push node had none yet); joins/leaves are then empty. */
  members?: string[];
  /** Presence "count": no names, only the count. */
  countOnly?: boolean;
}

/** Where a channel lives (GET /v1/channels/{c}/owner), as its owner answers. */
export interface Placement {
  owner: string;
  /** The node holding the second copy (the one the owner actually uses when the channel is loaded). */
  replicas: string[];
  /** The owner holds the channel in memory now (else `replicas` is what routing computes). */
  loaded: boolean;
  term?: number;
  epoch?: string;
  /** Latest committed offset. */
  offset?: number;
  /** The second copy in use and whether it holds everything acknowledged; null with one copy. */
  replica: { node: string | null; caughtUp: boolean; lag: number } | null;
}

/** Operations on a channel, answered by its owner. */
export interface Owner {
  /** Registers a subscription (checks ban, private, capacity, subscribe hook); returns the resume data. */
  subscribe(req: SubscribeRequest): Promise<SubscribeResult>;
  /** Ends a subscription; fires the unsubscribe hook once. */
  unsubscribe(channel: string, pushNode: string, session: string, reason: string): Promise<void>;
  /** Runs the publish hook, assigns the next offset, stores durably, fans out; resolves when durable. */
  publish(req: PublishRequest): Promise<PublishResult>;
  /** Retained messages with offset > since (all retained when since is undefined), at most `limit`. */
  history(channel: string, since?: number, limit?: number): Promise<HistoryResult>;
  /** Members of the channel: counts and one page of names (anonymous connections count in `count` only). */
  presence(channel: string, page?: PresencePage): Promise<PresenceResult>;
  getConfig(channel: string): Promise<ChannelConfig>;
  /** Merges `patch` into the config, stores it, returns the full config. */
  setConfig(channel: string, patch: Partial<ChannelConfig>): Promise<ChannelConfig>;
  /** Removes every subscription of `user`; with `ban` seconds > 0 also bans. Returns subscriptions removed. */
  kick(channel: string, user: string, ban?: number, reason?: string): Promise<number>;
  /** Closes every connection of `user` (asks each push node holding `$user:U`). Returns connections closed. */
  disconnectUser(user: string, reason?: string): Promise<number>;
  /** Push nodes currently holding subscribers of `channel`. */
  pushNodesOf(channel: string): Promise<string[]>;
  /** Where the channel lives: owner, the replica in use and whether it is caught up. */
  placement(channel: string): Promise<Placement>;
}

/** How a message is delivered on push nodes. */
export interface DeliverOptions {
  /** Run the per-recipient deliver hook. */
  deliverHook: boolean;
  /** Ownership term of the sending owner: push nodes drop deliveries from an older term (a stale owner). */
  term: number;
}

/** What an owner tells a push node. */
export interface PushTarget {
  /** A message for every local subscriber of `channel`. */
  deliver(message: Message, opts: DeliverOptions): void;
  /** Batched presence events of `channel` for its local subscribers. */
  presence(channel: string, diff: PresenceDiff): void;
  /** The owner removed these sessions' subscriptions: tell the clients and forget them locally. */
  kicked(channel: string, sessions: string[], reason: string): void;
  /** Close every local connection of `user`; resolves to how many. */
  disconnectUser(user: string, reason: string): Promise<number>;
  /** A node took `channel` over under `term`: subscribers registered under an older term register again. */
  owned?(channel: string, term: number): void;
}

/** Finds the owner of a channel and the push nodes by id (single node: always itself). */
export interface Router {
  /** This node's id. */
  readonly self: string;
  owner(channel: string): Owner;
  push(nodeId: string): PushTarget | undefined;
}
