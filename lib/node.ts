import { createHash } from 'node:crypto';
import { mkdir } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import DHT from 'hyperdht';
import { TokenVerifier } from './auth/tokens.js';
import { startBootstrap } from './cluster/bootstrap.js';
import { HyperswarmMembership } from './cluster/hyperswarm-membership.js';
import type { Membership } from './cluster/membership.js';
import { ClusterRouter } from './cluster/remote.js';
import { ownerOf, replicasOf } from './cluster/router.js';
import { Rpc } from './cluster/rpc.js';
import type { EdgeContext } from './context.js';
import { HookRunner, openHooks } from './hooks/hook-runner.js';
import type { Hooks } from './hooks/hooks.js';
import { createLogger, type Logger } from './log.js';
import { Metrics } from './metrics.js';
import type { HashpubNode } from './node-api.js';
import { parseOptions, type Options } from './options.js';
import { ChannelOwner } from './owner/channel-owner.js';
import type { Owner, PushTarget, Router } from './owner/owner-api.js';
import { loadSecrets } from './secrets.js';
import { PushService } from './session/push-service.js';
import { LevelStore } from './store/level-store.js';
import { MemoryStore } from './store/memory-store.js';
import type { Store } from './store/store.js';
import { HttpEdge } from './transport/http-server.js';

/** Test and embedding seams; production uses the defaults. */
export interface NodeDeps {
  /** Use this store instead of one in the data dir. */
  store?: Store;
  /** Use these hooks instead of --hooks/--webhook. */
  hooks?: Hooks;
  logger?: Logger;
  /** Run alone: no cluster, no DHT, no in-process bootstrap (tests, embedding). */
  standalone?: boolean;
}

/** Routes everything to this node (a single node owns every channel). */
class LocalRouter implements Router {
  owner!: (channel: string) => Owner;
  constructor(readonly self: string, private readonly pushService: () => PushTarget) {}
  push(nodeId: string): PushTarget | undefined {
    return nodeId === this.self ? this.pushService() : undefined;
  }
}

/**
 * The composition root: builds storage, hooks, the owner and push roles and the HTTP edge from the
 * options, and owns start/stop. No business logic lives here.
 */
class Node implements HashpubNode {
  id = '';
  url = '';
  apiKey = '';
  jwtSecret = '';
  generated: Array<'apiKey' | 'jwtSecret' | 'secret'> = [];
  bootstrap: string | null = null;
  private readonly log: Logger;
  private readonly metrics = new Metrics();
  private store: Store | null = null;
  private owner: ChannelOwner | null = null;
  private push: PushService | null = null;
  private edge: HttpEdge | null = null;
  private hookRunner: HookRunner | null = null;
  private closers: Array<() => Promise<void> | void> = [];
  private membership: Membership | null = null;
  private rpc: Rpc | null = null;
  private bootstrapCloser: (() => Promise<void>) | null = null;

  constructor(private readonly options: Options, private readonly deps: NodeDeps) {
    this.log = deps.logger ?? createLogger(options.logLevel);
  }

  async start(): Promise<void> {
    const o = this.options;
    const memory = o.data === ':memory:';
    const dataDir = memory ? null : resolve(o.data);
    if (dataDir) await mkdir(dataDir, { recursive: true });
    const { secrets, generated } = await loadSecrets(dataDir, {
      apiKey: o.apiKey ?? undefined, jwtSecret: o.jwtSecret ?? undefined, secret: o.secret ?? undefined,
    });
    this.apiKey = secrets.apiKey;
    this.jwtSecret = secrets.jwtSecret;
    this.generated = generated.filter((g): g is 'apiKey' | 'jwtSecret' | 'secret' => g !== 'nodeSeed');
    const clustered = !this.deps.standalone;
    const keyPair = clustered ? DHT.keyPair(Buffer.from(secrets.nodeSeed, 'hex').subarray(0, 32)) : null;
    this.id = keyPair ? keyPair.publicKey.toString('hex')
      : createHash('sha256').update(secrets.nodeSeed).digest('hex').slice(0, 32);

    this.store = this.deps.store ?? (memory ? new MemoryStore() : new LevelStore(join(dataDir!, 'db'), o.fsync));
    try {
      await this.store.open();
    } catch (err) {
      throw new Error(`cannot open the database in ${o.data}: ${(err as Error).message}` +
        ((err as { code?: string }).code === 'LEVEL_LOCKED' || /lock/i.test(String((err as Error).message))
          ? ' (another hashpub node uses this data dir: stop it or pass another --data)' : ''), { cause: err });
    }
    this.closers.push(() => this.store!.close());

    this.hookRunner = this.deps.hooks
      ? new HookRunner(this.deps.hooks, { timeoutMs: o.hookTimeoutMs, failure: o.hookFailure, log: this.log })
      : await openHooks(o, secrets.apiKey, this.log);

    let router: Router;
    let clusterRouter: ClusterRouter | null = null;
    if (clustered) {
      router = clusterRouter = new ClusterRouter(this.id, { owner: () => this.owner!, push: () => this.push! });
    } else {
      const local = new LocalRouter(this.id, () => this.push!);
      local.owner = () => this.owner!;
      router = local;
    }
    const metrics = this.metrics;
    this.owner = new ChannelOwner({ store: this.store, router, hooks: this.hookRunner, log: this.log,
      onPublish: () => metrics.messagesIn.inc() });
    this.push = new PushService({ router, hooks: this.hookRunner, log: this.log, sessionTtlMs: o.sessionTtlSeconds * 1000,
      onDeliver: (n) => { if (n) metrics.messagesOut.inc(n); } });
    const push = this.push;
    metrics.sources.sessions = () => push.sessionCount;
    metrics.sources.subscriptions = () => push.hub.subscriptions;

    const ctx: EdgeContext = {
      options: o, log: this.log, metrics, router, push: this.push, hooks: this.hookRunner,
      tokens: new TokenVerifier(secrets.jwtSecret), apiKey: secrets.apiKey,
      cluster: () => ({ self: this.id, members: this.members().map((id) => ({ id, url: this.membership?.urlOf(id) ?? this.url })) }),
      placement: (channel) => {
        const members = this.members();
        return { owner: ownerOf(channel, members), replicas: replicasOf(channel, members, 3).slice(1) };
      },
    };
    this.owner.start();
    this.push.start();
    this.edge = new HttpEdge(ctx);
    try {
      this.url = await this.edge.listen(o.host, o.port);
    } catch (err) {
      await this.stop();
      const e = err as NodeJS.ErrnoException;
      if (e.code === 'EADDRINUSE') throw new Error(`port ${o.port} on ${o.host} is in use: stop what uses it or pass another --port`, { cause: err });
      throw err;
    }
    if (clusterRouter) {
      try {
        await this.joinCluster(clusterRouter, keyPair!, secrets.secret);
      } catch (err) {
        await this.stop();
        throw err;
      }
    }
    this.edge.ready = true;
    this.log.info({ url: this.url, id: this.id }, 'hashpub node ready');
  }

  /** The membership view (just this node when standalone). */
  private members(): string[] {
    return this.membership?.members() ?? [this.id];
  }

  /**
   * Joins the cluster (starting an in-process loopback bootstrap when none was given) and follows its
   * changes: a node that left loses its subscriptions here; subscriptions whose owner moved are
   * registered again at the new owner; channel states this node no longer owns are dropped from memory.
   */
  private async joinCluster(router: ClusterRouter, keyPair: DHT.KeyPair, secret: string): Promise<void> {
    const o = this.options;
    let list = o.bootstrap;
    if (list.length === 0) {
      const b = await startBootstrap('127.0.0.1', 0);
      this.bootstrapCloser = () => b.close();
      list = [`${b.host}:${b.port}`];
    }
    this.bootstrap = list.join(',');
    const membership = new HyperswarmMembership({ bootstrap: list.map(hostPort), cluster: o.cluster, secret,
      url: this.url, keyPair });
    const metrics = this.metrics;
    const rpc = new Rpc(membership, {
      onTraffic: (direction, bytes) => {
        metrics.peerFrames.inc({ direction });
        metrics.peerBytes.inc({ direction }, bytes);
      },
      onError: (err, from) => this.log.warn({ err, from }, 'cluster request failed'),
    });
    this.membership = membership;
    this.rpc = rpc;
    router.attach(membership, rpc);
    let view = membership.members();
    membership.on('leave', (id) => {
      router.forget(id);
      this.owner?.dropPushNode(id);
    });
    membership.on('change', () => {
      const before = view;
      const now = membership.members();
      view = now;
      const self = this.id;
      this.owner?.dropChannels((c) => ownerOf(c, now) !== self);
      this.push?.reregister((c) => ownerOf(c, before) !== ownerOf(c, now))
        .catch((err) => this.log.error({ err }, 're-registering subscriptions failed'));
      this.log.info({ members: now.length }, 'cluster view changed');
    });
    await membership.start();
  }

  async stop(): Promise<void> {
    if (this.edge) this.edge.ready = false;
    await this.push?.stop();
    await this.edge?.close();
    await this.owner?.stop();
    this.rpc?.close();
    await this.membership?.stop();
    this.membership = null;
    await this.bootstrapCloser?.();
    this.bootstrapCloser = null;
    await this.hookRunner?.close();
    for (const close of this.closers.reverse()) await close();
    this.closers = [];
  }
}

/** Parses "HOST:PORT". */
function hostPort(s: string): { host: string; port: number } {
  const at = s.lastIndexOf(':');
  return { host: s.slice(0, at), port: Number(s.slice(at + 1)) };
}

/** Creates a node from (partial) options; call start() on it. Throws OptionsError for bad options. */
export function createNode(options: Partial<Options> | Record<string, unknown> = {}, deps: NodeDeps = {}): HashpubNode {
  return new Node(parseOptions(options as Record<string, unknown>), deps);
}
