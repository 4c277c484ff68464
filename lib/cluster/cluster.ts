import { networkInterfaces } from 'node:os';
import type { Logger } from 'pino';
import type DHT from 'hyperdht';
import { OptionsError } from '../errors.js';
import type { Metrics } from '../metrics.js';
import type { ChannelOwner } from '../owner/channel-owner.js';
import { ClusterReplication } from '../replication/cluster-replication.js';
import type { PushService } from '../session/push-service.js';
import type { GroupCommit } from '../store/group-commit.js';
import type { Store } from '../store/store.js';
import { bootstrapAddress } from './addresses.js';
import { startBootstrap, udpBindError } from './bootstrap.js';
import { HyperswarmMembership } from './hyperswarm-membership.js';
import { ClusterRouter } from './remote.js';
import { ownerOf, replicasOf } from './router.js';
import { Rpc } from './rpc.js';
import { StallWatch } from './stall-watch.js';

export interface ClusterDeps {
  self: string;
  store: Store;
  commit: GroupCommit;
  log: Logger;
  metrics: Metrics;
  owner: () => ChannelOwner;
  push: () => PushService;
  /** --min-copies: 2 acknowledges after two durable copies, 1 after the owner's own. */
  minCopies: 1 | 2;
  /** Answers `stats.*` requests of other nodes (lib/stats/). */
  stats: (op: string, args: any) => unknown;
}

export interface JoinOptions {
  /** "HOST:PORT" bootstrap nodes; empty = start one in-process on dhtHost. */
  bootstrap: string[];
  cluster: string;
  secret: string;
  /** This node's HTTP URL, advertised to peers. */
  url: string;
  /** IPv4 address the DHT socket (and an in-process bootstrap) binds; 0.0.0.0 = every address. */
  dhtHost: string;
  /** UDP port of the DHT socket; 0 = any. */
  dhtPort: number;
  keyPair: DHT.KeyPair;
  /** Heartbeat interval to every peer, ms. */
  heartbeatMs: number;
  /** A suspected peer is declared dead after this long once confirmed (see lib/options.ts). */
  failureTimeoutMs: number;
}

/** How long a starting node waits to meet the peers discovery found before it acts on its own. */
const SETTLE_MS = 3000;
/** How often a node tells one random member whom it is linked to (see the gossip timer in start()). */
const GOSSIP_MS = 10_000;

/**
 * This node's part in the cluster: membership (hyperswarm), the RPC links, routing by rendezvous hashing,
 * replication (two copies of every channel, lib/replication/) and what happens when the view changes: a node
 * that left loses its subscriptions here, channels this node no longer owns are dropped, subscriptions whose
 * owner moved are registered again at the new owner, and replicas that changed are caught up.
 */
export class Cluster {
  readonly router: ClusterRouter;
  readonly replication: ClusterReplication;
  private membership: HyperswarmMembership | null = null;
  private rpc: Rpc | null = null;
  private closeBootstrap: (() => Promise<void>) | null = null;
  private stallWatch: StallWatch | null = null;
  private gossipTimer: NodeJS.Timeout | null = null;
  /** "HOST:PORT,..." of the bootstrap nodes in use. */
  bootstrap: string | null = null;

  constructor(private readonly deps: ClusterDeps) {
    const members = () => this.members();
    this.router = new ClusterRouter(deps.self, {
      owner: deps.owner,
      push: deps.push,
      replication: (from, op, args) => this.replication.handle(from, op, args),
      clusterMessage: (from, op, args) => this.onClusterMessage(from, op, args),
      stats: (op, args) => deps.stats(op, args),
    });
    const m = deps.metrics;
    this.replication = new ClusterReplication({
      link: {
        self: deps.self,
        members,
        request: <T>(to: string, op: string, args: unknown) => {
          if (!this.rpc) return Promise.reject(new Error('not in a cluster yet'));
          return this.rpc.request<T>(to, op, args);
        },
      },
      store: deps.store, commit: deps.commit, log: deps.log, owner: deps.owner, minCopies: deps.minCopies,
      ownerOf: (c) => ownerOf(c, members()),
      ranked: (c, list, n) => (list.length === 0 ? [] : replicasOf(c, list, Math.min(n, list.length))),
      timeoutMs: 4000,
      counters: {
        appendFrame: (n) => { m.replicationFrames.inc({ kind: 'append' }); m.replicationBatches.inc(n); },
        sync: (n) => { m.replicationFrames.inc({ kind: 'sync' }, n); m.replicationSyncs.inc(); },
        refused: (reason) => m.replicationRefused.inc({ reason }),
      },
    });
    m.sourcesReplication = () => ({ ...this.replication.lag(), mode: this.replication.mode() });
  }

  /** Call before using a channel: notices that this node just woke from a stall (see stall-watch.ts). */
  checkStall(): void {
    this.stallWatch?.check();
  }

  /**
   * This node took `channel` over under `term`: every other member's push node registers its subscribers of the
   * channel again if they were registered under an older term (one small notify per member per take-over).
   */
  announceOwned(channel: string, term: number): void {
    const rpc = this.rpc;
    if (!rpc) return;
    for (const id of this.members()) if (id !== this.deps.self) rpc.notify(id, 'push.owned', { c: channel, t: term });
  }

  /** Admitted live members, this node included. */
  members(): string[] {
    return this.membership?.members() ?? [this.deps.self];
  }

  urlOf(id: string): string | undefined {
    return this.membership?.urlOf(id);
  }

  /** Sends request `op` to member `to` over the node links. */
  request<T>(to: string, op: string, args: unknown): Promise<T> {
    if (!this.rpc) return Promise.reject(new Error('not in a cluster yet'));
    return this.rpc.request<T>(to, op, args);
  }

  /** The owner of `channel` and the node routing picks as its replica, in the current view. */
  placement(channel: string): { owner: string; replicas: string[] } {
    const members = this.members();
    return { owner: ownerOf(channel, members), replicas: replicasOf(channel, members, Math.min(2, members.length)).slice(1) };
  }

  async join(o: JoinOptions): Promise<void> {
    const { log, metrics, self } = this.deps;
    const bindError = await udpBindError(o.dhtHost, o.dhtPort);
    if (bindError?.code === 'EADDRINUSE') {
      throw new OptionsError('dhtPort', `UDP port ${o.dhtPort} on ${o.dhtHost} is in use: pick another --dht-port (0 = any free port)`);
    }
    if (bindError) {
      throw new OptionsError('dhtHost', `cannot bind the DHT socket on ${o.dhtHost} (${bindError.code ?? bindError.message}): ` +
        'pass --dht-host (or --host) with an address of this machine');
    }
    await this.replication.start();
    let list = o.bootstrap;
    if (list.length === 0) {
      const b = await startBootstrap(o.dhtHost, 0, { publicHost: bootstrapAddress(o.dhtHost, o.url, networkInterfaces()) });
      this.closeBootstrap = () => b.close();
      list = [`${b.host}:${b.port}`];
    }
    this.bootstrap = list.join(',');
    const membership = new HyperswarmMembership({ bootstrap: list.map(hostPort), cluster: o.cluster, secret: o.secret,
      url: o.url, keyPair: o.keyPair, heartbeatMs: o.heartbeatMs, failureTimeoutMs: o.failureTimeoutMs, host: o.dhtHost, port: o.dhtPort });
    metrics.sources.failure = () => membership.failureStats();
    const rpc = new Rpc(membership, {
      // A peer is given at least as long to answer as a confirmed suspicion of it lasts.
      timeoutMs: Math.max(5000, o.failureTimeoutMs),
      onTraffic: (direction, bytes, op) => {
        const kind = op.slice(0, op.indexOf('.') + 1 || undefined).replace('.', '') || 'other';
        metrics.peerFrames.inc({ direction, kind });
        metrics.peerBytes.inc({ direction, kind }, bytes);
      },
      onError: (err, from) => log.warn({ err, from }, 'cluster request failed'),
    });
    this.membership = membership;
    this.rpc = rpc;
    this.router.attach(membership, rpc);
    let view = membership.members();
    let joined = new Set<string>();
    // Others fail this node over only after it was silent for 3 of its heartbeats (suspected) AND then for
    // failureTimeoutMs more (the shortest suspicion, confirmed by another member; a port probe of a stalled
    // process is not refused): a stall shorter than failureTimeoutMs cannot have cost it its channels. Reacting to
    // shorter ones is not free: every node of an overloaded machine stalls for a second now and then, and each
    // reaction re-registers all of the node's subscriptions at their owners (54 nodes doing so at 1 s sank a
    // 375,000-subscriber cluster, bench/results/million-2026-12-03-500k-disconnects.json).
    this.stallWatch = new StallWatch(o.failureTimeoutMs, (stalledMs) => {
      log.warn({ stalledMs: Math.round(stalledMs) }, 'this node stood still: it drops its channels (others may have taken them over) and registers its subscriptions again');
      this.deps.owner().dropChannels(() => true);
      this.deps.push().reregister(() => true).catch((err) => log.error({ err }, 're-registering subscriptions failed'));
    });
    // What this node knows, and whom it is linked to now: the receiver dials any of those it lacks.
    const tellLinks = (to: string) => rpc.notify(to, 'cluster.known', { ids: this.replication.known.ids(), members: membership.members() });
    membership.on('join', (id) => {
      joined.add(id);
      void this.replication.joined(id).catch((err) => log.error({ err }, 'storing the cluster members failed'));
      tellLinks(id);
    });
    // Every GOSSIP_MS one random member hears it too, so a pair that never linked is found by both ends (a node
    // formed early learns of later ones it missed, and dials them too).
    this.gossipTimer = setInterval(() => {
      const others = membership.members().filter((m) => m !== self);
      if (others.length > 0) tellLinks(others[Math.floor(Math.random() * others.length)]!);
    }, GOSSIP_MS).unref();
    membership.on('leave', (id) => {
      this.router.forget(id);
      this.deps.owner().dropPushNode(id);
    });
    membership.on('change', () => {
      const before = view;
      const now = membership.members();
      view = now;
      const quorumChanged = this.replication.quorumChanged();
      // Without a change of quorum only moved channels go; when it changes every channel is taken over again. A
      // node that (re)joined may have declared this one dead and dropped its subscribers: register them again.
      const back = joined;
      joined = new Set();
      const moved = (c: string) => quorumChanged || ownerOf(c, before) !== ownerOf(c, now) || back.has(ownerOf(c, now));
      this.deps.owner().dropChannels((c) => quorumChanged || ownerOf(c, now) !== self);
      this.replication.viewChanged();
      this.deps.push().reregister(moved).catch((err) => log.error({ err }, 're-registering subscriptions failed'));
      log.info({ members: now.length, quorum: this.replication.mode().quorum }, 'cluster view changed');
    });
    await membership.start();
    await membership.settled(SETTLE_MS);
  }

  /**
   * Before a graceful stop: waits until every channel owned here has a caught-up replica (which takes over with
   * the same epoch), then tells the peers this node leaves on purpose (it stops counting for their quorum).
   * Returns the number of channels whose replica was not caught up in time.
   */
  async handOver(): Promise<number> {
    if (!this.rpc || this.members().length < 2) return 0;
    const behind = await this.replication.flush(3000);
    // Asked, not just told: a peer that missed it would count this node as crashed (and need it for its majority).
    const rpc = this.rpc;
    const told = Promise.allSettled(this.members().filter((id) => id !== this.deps.self).map((id) => rpc.request(id, 'cluster.leaving', {})));
    await Promise.race([told, new Promise((r) => setTimeout(r, 2000).unref())]);
    return behind;
  }

  /** Leaves the cluster and closes the in-process bootstrap, if any. */
  async stop(): Promise<void> {
    this.stallWatch?.stop();
    if (this.gossipTimer) clearInterval(this.gossipTimer);
    const saved = this.replication.close();
    this.rpc?.close();
    await this.membership?.stop();
    await saved.catch((err) => this.deps.log.warn({ err }, 'storing the cluster members failed'));
    this.membership = null;
    await this.closeBootstrap?.();
    this.closeBootstrap = null;
  }

  private async onClusterMessage(from: string, op: string, args: any): Promise<void> {
    try {
      if (op === 'cluster.leaving') await this.replication.leftGracefully(from);
      else if (op === 'cluster.known') {
        if (Array.isArray(args?.members)) this.membership?.seek?.(args.members);
        await this.replication.learned(args?.ids);
      }
    } catch (err) {
      this.deps.log.error({ err }, 'storing the cluster members failed');
    }
  }
}

/** Parses "HOST:PORT". */
function hostPort(s: string): { host: string; port: number } {
  const at = s.lastIndexOf(':');
  return { host: s.slice(0, at), port: Number(s.slice(at + 1)) };
}
