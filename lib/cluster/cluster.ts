import type { Logger } from 'pino';
import type DHT from 'hyperdht';
import type { Metrics } from '../metrics.js';
import type { ChannelOwner } from '../owner/channel-owner.js';
import type { PushService } from '../session/push-service.js';
import type { ChannelRecord, Store } from '../store/store.js';
import { startBootstrap } from './bootstrap.js';
import { Handoff } from './handoff.js';
import { HyperswarmMembership } from './hyperswarm-membership.js';
import { ClusterRouter } from './remote.js';
import { ownerOf, replicasOf } from './router.js';
import { Rpc } from './rpc.js';

export interface ClusterDeps {
  self: string;
  store: Store;
  log: Logger;
  metrics: Metrics;
  owner: () => ChannelOwner;
  push: () => PushService;
}

export interface JoinOptions {
  /** "HOST:PORT" bootstrap nodes; empty = start one in-process on loopback. */
  bootstrap: string[];
  cluster: string;
  secret: string;
  /** This node's HTTP URL, advertised to peers. */
  url: string;
  keyPair: DHT.KeyPair;
  /** Heartbeat interval to every peer, ms. */
  heartbeatMs: number;
  /** A suspected peer is declared dead after this long once confirmed (see lib/options.ts). */
  failureTimeoutMs: number;
}

/**
 * This node's part in the cluster: membership (hyperswarm), the RPC links, routing by rendezvous hashing,
 * and what happens when the view changes: a node that left loses its subscriptions here, subscriptions
 * whose owner moved are registered again at the new owner, and channel state moves through Handoff.
 */
export class Cluster {
  readonly router: ClusterRouter;
  private membership: HyperswarmMembership | null = null;
  private rpc: Rpc | null = null;
  private handoff: Handoff | null = null;
  private closeBootstrap: (() => Promise<void>) | null = null;
  /** "HOST:PORT,..." of the bootstrap nodes in use. */
  bootstrap: string | null = null;

  constructor(private readonly deps: ClusterDeps) {
    this.router = new ClusterRouter(deps.self, {
      owner: deps.owner,
      push: deps.push,
      announcedLeaving: (from) => this.handoff?.announcedLeaving(from),
    });
  }

  /** Admitted live members, this node included. */
  members(): string[] {
    return this.membership?.members() ?? [this.deps.self];
  }

  urlOf(id: string): string | undefined {
    return this.membership?.urlOf(id);
  }

  placement(channel: string): { owner: string; replicas: string[] } {
    const members = this.members();
    return { owner: ownerOf(channel, members), replicas: replicasOf(channel, members, 3).slice(1) };
  }

  /** The state of a channel this node takes over (see Handoff.acquire). */
  acquire(channel: string): Promise<ChannelRecord> {
    return this.handoff ? this.handoff.acquire(channel) : this.deps.store.load(channel);
  }

  async join(o: JoinOptions): Promise<void> {
    const { log, metrics, self } = this.deps;
    let list = o.bootstrap;
    if (list.length === 0) {
      const b = await startBootstrap('127.0.0.1', 0);
      this.closeBootstrap = () => b.close();
      list = [`${b.host}:${b.port}`];
    }
    this.bootstrap = list.join(',');
    const membership = new HyperswarmMembership({ bootstrap: list.map(hostPort), cluster: o.cluster, secret: o.secret,
      url: o.url, keyPair: o.keyPair, heartbeatMs: o.heartbeatMs, failureTimeoutMs: o.failureTimeoutMs });
    metrics.sources.failure = () => membership.failureStats();
    const rpc = new Rpc(membership, {
      // A peer is given at least as long to answer as a confirmed suspicion of it lasts.
      timeoutMs: Math.max(5000, o.failureTimeoutMs),
      onTraffic: (direction, bytes) => {
        metrics.peerFrames.inc({ direction });
        metrics.peerBytes.inc({ direction }, bytes);
      },
      onError: (err, from) => log.warn({ err, from }, 'cluster request failed'),
    });
    this.membership = membership;
    this.rpc = rpc;
    this.handoff = new Handoff({ self, members: () => this.members(), rpc, store: this.deps.store, owner: this.deps.owner(), log });
    this.router.attach(membership, rpc);
    let view = membership.members();
    membership.on('join', (id) => this.handoff?.joined(id));
    membership.on('leave', (id) => {
      this.handoff?.left(id);
      this.router.forget(id);
      this.deps.owner().dropPushNode(id);
    });
    membership.on('change', () => {
      const before = view;
      const now = membership.members();
      view = now;
      this.deps.owner().dropChannels((c) => ownerOf(c, now) !== self);
      this.deps.push().reregister((c) => ownerOf(c, before) !== ownerOf(c, now))
        .catch((err) => log.error({ err }, 're-registering subscriptions failed'));
      log.info({ members: now.length }, 'cluster view changed');
    });
    await membership.start();
  }

  /** Before a graceful stop: hands every owned channel to its next owner; returns how many moved. */
  async handOver(): Promise<number> {
    return this.handoff ? this.handoff.leaveGracefully() : 0;
  }

  /** Leaves the cluster and closes the in-process bootstrap, if any. */
  async stop(): Promise<void> {
    this.rpc?.close();
    await this.membership?.stop();
    this.membership = null;
    await this.closeBootstrap?.();
    this.closeBootstrap = null;
  }
}

/** Parses "HOST:PORT". */
function hostPort(s: string): { host: string; port: number } {
  const at = s.lastIndexOf(':');
  return { host: s.slice(0, at), port: Number(s.slice(at + 1)) };
}
