// The owner and push roles of other nodes, reached over Rpc, and the server side that answers them.
// Owner ops travel as request `owner.<method>` with {a: arguments, h: hops}; push ops as `push.<method>`
// (deliver, presence, kicked one-way; disconnectUser a request). Deliveries to one node handed over in one turn
// travel together: `push.deliver` {b: [{m, d, t}, ...]} (a single {m, d, t} is still understood).
import { HashpubError } from '../errors.js';
import type {
  DeliverOptions, HistoryResult, Owner, Placement, PresenceDiff, PresencePage, PresenceResult, PublishRequest, PublishResult, PushTarget, Router,
  SubscribeRequest, SubscribeResult,
} from '../owner/owner-api.js';
import { userChannel } from '../protocol/names.js';
import type { ChannelConfig, Message } from '../protocol/types.js';
import type { Membership } from './membership.js';
import { ownerOf } from './router.js';
import type { Rpc, RpcHandler } from './rpc.js';

/** A request whose owner moved is forwarded at most this many times, then fails with `unavailable`. */
export const MAX_HOPS = 2;

const OWNER_OPS = new Set<keyof Owner>([
  'subscribe', 'unsubscribe', 'publish', 'history', 'presence', 'getConfig', 'setConfig', 'kick', 'disconnectUser',
  'pushNodesOf', 'placement',
]);

/** The channel an owner op is about (its owner answers it). */
function channelOf(method: string, a: unknown[]): string {
  if (method === 'subscribe' || method === 'publish') return (a[0] as { channel: string }).channel;
  if (method === 'disconnectUser') return userChannel(a[0] as string);
  return a[0] as string;
}

/** The Owner of channels that another node owns: each method is one request to that node. */
export class RemoteOwner implements Owner {
  constructor(private readonly rpc: Rpc, readonly node: string) {}

  private call<T>(method: keyof Owner, ...a: unknown[]): Promise<T> {
    return this.rpc.request<T>(this.node, `owner.${method}`, { a, h: 0 });
  }

  subscribe(req: SubscribeRequest): Promise<SubscribeResult> {
    return this.call('subscribe', req);
  }

  async unsubscribe(channel: string, pushNode: string, session: string, reason: string): Promise<void> {
    await this.call('unsubscribe', channel, pushNode, session, reason);
  }

  publish(req: PublishRequest): Promise<PublishResult> {
    return this.call('publish', req);
  }

  history(channel: string, since?: number, limit?: number): Promise<HistoryResult> {
    return this.call('history', channel, since, limit);
  }

  presence(channel: string, page?: PresencePage): Promise<PresenceResult> {
    return this.call('presence', channel, page);
  }

  getConfig(channel: string): Promise<ChannelConfig> {
    return this.call('getConfig', channel);
  }

  setConfig(channel: string, patch: Partial<ChannelConfig>): Promise<ChannelConfig> {
    return this.call('setConfig', channel, patch);
  }

  kick(channel: string, user: string, ban?: number, reason?: string): Promise<number> {
    return this.call('kick', channel, user, ban, reason);
  }

  disconnectUser(user: string, reason?: string): Promise<number> {
    return this.call('disconnectUser', user, reason);
  }

  pushNodesOf(channel: string): Promise<string[]> {
    return this.call('pushNodesOf', channel);
  }

  placement(channel: string): Promise<Placement> {
    return this.call('placement', channel);
  }
}

/** Each delivery's JSON, encoded once however many push nodes it goes to. */
const encoded = new WeakMap<Message, { d: boolean; t: number; json: string }>();

function deliveryJson(m: Message, opts: DeliverOptions): string {
  const e = encoded.get(m);
  if (e && e.d === opts.deliverHook && e.t === opts.term) return e.json;
  const json = JSON.stringify({ m, d: opts.deliverHook, t: opts.term });
  encoded.set(m, { d: opts.deliverHook, t: opts.term, json });
  return json;
}

/**
 * The PushTarget of another node: deliver/presence/kicked are one-way messages, disconnectUser a request.
 * Deliveries handed over during one turn of the event loop leave together in the next (setImmediate), as one frame:
 * the push node then fans them out as one batch. Anything else sent to the node first sends what is waiting, so the
 * link keeps the order in which the owner spoke.
 */
export class RemotePush implements PushTarget {
  private outbox: string[] | null = null;

  constructor(private readonly rpc: Rpc, readonly node: string) {}

  deliver(message: Message, opts: DeliverOptions): void {
    if (!this.outbox) {
      this.outbox = [];
      setImmediate(this.flush);
    }
    this.outbox.push(deliveryJson(message, opts));
  }

  presence(channel: string, diff: PresenceDiff): void {
    this.flush();
    this.rpc.notify(this.node, 'push.presence', { c: channel, d: diff });
  }

  kicked(channel: string, sessions: string[], reason: string): void {
    this.flush();
    this.rpc.notify(this.node, 'push.kicked', { c: channel, s: sessions, r: reason });
  }

  disconnectUser(user: string, reason: string): Promise<number> {
    this.flush();
    return this.rpc.request<number>(this.node, 'push.disconnectUser', { u: user, r: reason });
  }

  private readonly flush = (): void => {
    const out = this.outbox;
    this.outbox = null;
    if (!out || out.length === 0) return;
    this.rpc.notifyJson(this.node, 'push.deliver', `{"b":[${out.join(',')}]}`);
  };
}

/** This node's own roles, as the cluster router hands them out. */
export interface LocalRoles {
  owner(): Owner;
  push(): PushTarget;
  /** Answers a `repl.*` request (replication between owners and replicas). */
  replication(from: string, op: string, args: any): Promise<unknown>;
  /** Takes a `cluster.*` message (a peer leaving, a peer's known members); as a request, answered when handled. */
  clusterMessage(from: string, op: string, args: any): Promise<void> | void;
  /** Answers a `stats.*` request (this node's figures for another node's GET /v1/stats). */
  stats(op: string, args: any): unknown;
}

/**
 * Routes by rendezvous hashing over the membership view: the local owner for channels this node wins,
 * a RemoteOwner otherwise; the local push service for itself, a RemotePush for admitted members.
 */
export class ClusterRouter implements Router {
  private membership: Membership | null = null;
  private rpc: Rpc | null = null;
  private readonly owners = new Map<string, RemoteOwner>();
  private readonly pushes = new Map<string, RemotePush>();

  constructor(readonly self: string, private readonly local: LocalRoles) {}

  /** Connects the router to the cluster and answers the peers' requests with the local roles. */
  attach(membership: Membership, rpc: Rpc): void {
    this.membership = membership;
    this.rpc = rpc;
    rpc.handle(new ClusterServer(this, rpc, this.local));
  }

  /** The current membership view (just this node before attach). */
  members(): string[] {
    return this.membership?.members() ?? [this.self];
  }

  /** The node that owns `channel` in this node's view. */
  ownerId(channel: string): string {
    return ownerOf(channel, this.members());
  }

  owner(channel: string): Owner {
    const id = this.ownerId(channel);
    if (id === this.self || !this.rpc) return this.local.owner();
    let o = this.owners.get(id);
    if (!o) this.owners.set(id, (o = new RemoteOwner(this.rpc, id)));
    return o;
  }

  push(nodeId: string): PushTarget | undefined {
    if (nodeId === this.self) return this.local.push();
    if (!this.rpc || this.membership?.urlOf(nodeId) === undefined) return undefined;
    let p = this.pushes.get(nodeId);
    if (!p) this.pushes.set(nodeId, (p = new RemotePush(this.rpc, nodeId)));
    return p;
  }

  /** Forgets the cached proxies of a node that left. */
  forget(nodeId: string): void {
    this.owners.delete(nodeId);
    this.pushes.delete(nodeId);
  }
}

/** Answers requests from peers with this node's owner and push roles; forwards ops for channels it does not own. */
class ClusterServer implements RpcHandler {
  constructor(private readonly router: ClusterRouter, private readonly rpc: Rpc, private readonly local: LocalRoles) {}

  async request(from: string, op: string, args: any): Promise<unknown> {
    if (op.startsWith('repl.')) return this.local.replication(from, op, args);
    if (op.startsWith('cluster.')) return this.local.clusterMessage(from, op, args) ?? null;
    if (op.startsWith('owner.')) return this.owner(op, op.slice(6), args);
    if (op.startsWith('stats.')) return this.local.stats(op, args);
    if (op === 'push.disconnectUser') return this.local.push().disconnectUser(String(args.u), String(args.r));
    throw new HashpubError('bad_request', `unknown cluster op ${op}`);
  }

  message(from: string, op: string, args: any): void {
    const push = this.local.push();
    if (op === 'push.deliver') {
      for (const x of (Array.isArray(args.b) ? args.b : [args]) as Array<{ m: Message; d?: unknown; t?: unknown }>) {
        push.deliver(x.m, { deliverHook: Boolean(x.d), term: Number(x.t) || 0 });
      }
    }
    else if (op === 'push.presence') push.presence(String(args.c), args.d as PresenceDiff);
    else if (op === 'push.kicked') push.kicked(String(args.c), args.s as string[], String(args.r));
    else if (op === 'push.owned') push.owned?.(String(args.c), Number(args.t) || 0);
    else if (op.startsWith('cluster.')) this.local.clusterMessage(from, op, args);
  }

  private async owner(op: string, method: string, args: { a?: unknown[]; h?: number }): Promise<unknown> {
    if (!OWNER_OPS.has(method as keyof Owner) || !Array.isArray(args?.a)) {
      throw new HashpubError('bad_request', `unknown owner op ${method}`);
    }
    // JSON turns undefined arguments into null: the Owner methods expect undefined.
    const a = args.a.map((x) => (x === null ? undefined : x));
    const hops = typeof args.h === 'number' ? args.h : 0;
    const target = this.router.ownerId(channelOf(method, a));
    if (target === this.router.self) {
      const owner = this.local.owner() as unknown as Record<string, (...x: unknown[]) => Promise<unknown>>;
      return owner[method]!(...a);
    }
    if (hops >= MAX_HOPS) {
      throw new HashpubError('unavailable', 'the cluster view is changing: the channel owner is not settled, retry', { retryAfter: 1 });
    }
    return this.rpc.request(target, op, { a: args.a, h: hops + 1 });
  }
}
