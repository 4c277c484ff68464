import { acceptBudget } from './transport/accept-budget.js';
import { createHash } from 'node:crypto';
import { mkdir } from 'node:fs/promises';
import { networkInterfaces } from 'node:os';
import { join, resolve } from 'node:path';
import DHT from 'hyperdht';
import { loadTokenKeys } from './auth/token-keys.js';
import { ApiKeys, loadApiKeys, type ApiKeyEntry } from './auth/api-keys.js';
import { TokenVerifier } from './auth/tokens.js';
import { nodeAddresses, type NodeAddresses } from './cluster/addresses.js';
import { Cluster } from './cluster/cluster.js';
import type { EdgeContext } from './context.js';
import { HookRunner, openHooks } from './hooks/hook-runner.js';
import type { Hooks } from './hooks/hooks.js';
import { EdgeLimits } from './limits/edge-limits.js';
import { createLogger, type Logger } from './log.js';
import { Metrics } from './metrics.js';
import type { HashpubNode } from './node-api.js';
import { parseOptions, type Options } from './options.js';
import { ChannelOwner } from './owner/channel-owner.js';
import type { Owner, PushTarget, Router } from './owner/owner-api.js';
import { loadSecrets } from './secrets.js';
import { SingleCopy } from './replication/single-copy.js';
import type { Replication } from './replication/replication.js';
import { PushService } from './session/push-service.js';
import { GroupCommit } from './store/group-commit.js';
import { LevelStore } from './store/level-store.js';
import { MemoryStore } from './store/memory-store.js';
import type { Store } from './store/store.js';
import { clientAddress, TrustedProxies } from './transport/client-address.js';
import type { PageRoutes } from './pages/pages.js';
import { dashboardPages, PageRouter } from './pages/static-pages.js';
import { clusterStats } from './stats/cluster-stats.js';
import { NodeStatsSampler } from './stats/node-stats.js';
import type { NodeStats, StatsSample } from './stats/stats.js';
import { HttpEdge } from './transport/http-server.js';
import { loadTls } from './transport/tls.js';

/** Test and embedding seams; production uses the defaults. */
export interface NodeDeps {
  /** Use this store instead of one in the data dir. */
  store?: Store;
  /** Use these hooks instead of --hooks/--webhook. */
  hooks?: Hooks;
  logger?: Logger;
  /** Pages and endpoints served before the dashboard (the demo app's, lib/demo/). */
  pages?: PageRoutes;
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
  private cluster: Cluster | null = null;
  private readonly apiKeys = new ApiKeys([]);
  private sampler: NodeStatsSampler | null = null;

  constructor(private readonly options: Options, private readonly deps: NodeDeps) {
    this.log = deps.logger ?? createLogger(options.logLevel);
  }

  async start(): Promise<void> {
    const o = this.options;
    const clustered = !this.deps.standalone;
    // Decided before anything binds: a bad --host/--public-url/--dht-host combination fails at once.
    const addresses: NodeAddresses = nodeAddresses(o, networkInterfaces(), clustered);
    // TLS files and token keys are checked before anything binds too: a bad file fails naming its flag.
    const tls = o.tlsCert !== null && o.tlsKey !== null ? await loadTls(o.tlsCert, o.tlsKey) : undefined;
    const tokenKeys = await loadTokenKeys(o);
    const memory = o.data === ':memory:';
    const dataDir = memory ? null : resolve(o.data);
    if (dataDir) await mkdir(dataDir, { recursive: true });
    const { secrets, generated } = await loadSecrets(dataDir, {
      apiKey: o.apiKey ?? undefined, jwtSecret: o.jwtSecret ?? undefined, secret: o.secret ?? undefined,
    });
    this.apiKey = secrets.apiKey;
    this.apiKeys.replace(await this.keyEntries());
    this.jwtSecret = secrets.jwtSecret;
    this.generated = generated.filter((g): g is 'apiKey' | 'jwtSecret' | 'secret' => g !== 'nodeSeed');
    // An in-memory node on a fixed port keeps its id across restarts (so it is the same member of the quorum);
    // its advertised URL tells it apart from the other nodes (every one may bind 0.0.0.0:8080).
    const seed = memory && o.port !== 0
      ? createHash('sha256').update(`hashpub/memory-node/v1\0${secrets.secret}\0${o.cluster}\0${addresses.urlFor(o.port)}`).digest()
      : Buffer.from(secrets.nodeSeed, 'hex').subarray(0, 32);
    const keyPair = clustered ? DHT.keyPair(seed) : null;
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
    const commit = new GroupCommit(this.store);

    this.hookRunner = this.deps.hooks
      ? new HookRunner(this.deps.hooks, { timeoutMs: o.hookTimeoutMs, failure: o.hookFailure, log: this.log })
      : await openHooks(o, secrets.apiKey, this.log);

    let router: Router;
    let replication: Replication;
    if (clustered) {
      this.cluster = new Cluster({ self: this.id, store: this.store, commit, log: this.log, metrics: this.metrics,
        owner: () => this.owner!, push: () => this.push!, minCopies: o.minCopies as 1 | 2,
        stats: (_op, args: { history?: boolean } | null) => this.ownStats(Boolean(args?.history)) });
      router = this.cluster.router;
      replication = this.cluster.replication;
    } else {
      const local = new LocalRouter(this.id, () => this.push!);
      local.owner = () => this.owner!;
      router = local;
      replication = new SingleCopy(this.store, commit, this.id);
    }
    const metrics = this.metrics;
    const cluster = this.cluster;
    this.owner = new ChannelOwner({ commit, replication, router, hooks: this.hookRunner, log: this.log,
      onPublish: () => { metrics.messagesIn.inc(); metrics.totals.in++; }, presenceIntervalMs: o.presenceIntervalMs, beforeUse: cluster ? () => cluster.checkStall() : undefined,
      onAcquired: (c, t) => { this.push?.owned(c, t); cluster?.announceOwned(c, t); }, placement: (c) => cluster?.placement(c) ?? { owner: this.id, replicas: [] } });
    const proxies = new TrustedProxies(o.trustedProxies);
    const limits = new EdgeLimits(o, metrics, Date.now, (req) => clientAddress(req, proxies));
    this.push = new PushService({ router, hooks: this.hookRunner, log: this.log, limits, sessionTtlMs: o.sessionTtlSeconds * 1000,
      presenceGraceMs: o.presenceGraceSeconds * 1000,
      onDeliver: (n) => { if (n) { metrics.messagesOut.inc(n); metrics.totals.out += n; } } });
    const push = this.push;
    metrics.sources.sessions = () => push.sessionCount;
    metrics.sources.subscriptions = () => push.hub.subscriptions;
    const sampler = this.sampler = new NodeStatsSampler({
      id: () => this.id, url: () => this.url, connections: () => push.connectionCounts(), sessions: () => push.sessionCount,
      subscriptions: () => push.hub.subscriptions, messages: () => metrics.totals,
      replication: () => {
        const r = metrics.sourcesReplication?.();
        return r ? { ...r.mode, lagBatches: r.batches, behindChannels: r.behind } : null;
      },
    });

    const ctx: EdgeContext = {
      options: o, log: this.log, metrics, router, push: this.push, hooks: this.hookRunner,
      tokens: new TokenVerifier(verifiesHs256(o) ? secrets.jwtSecret : null, tokenKeys), apiKeys: this.apiKeys, limits, proxies,
      accept: acceptBudget(o.acceptPerSecond),
      cluster: () => ({ self: this.id, members: (cluster?.members() ?? [this.id]).map((id) => ({ id, url: cluster?.urlOf(id) ?? this.url })),
        replication: replication.mode() }),
      stats: (withHistory) => clusterStats(this.ownStats(withHistory), {
        self: this.id,
        members: () => ctx.cluster().members,
        ask: (id, h) => cluster!.request(id, 'stats.node', { history: h }),
      }, withHistory),
      pages: new PageRouter([...(this.deps.pages ? [this.deps.pages] : []), dashboardPages()]),
    };
    this.owner.start();
    this.push.start();
    this.edge = new HttpEdge(ctx, tls);
    sampler.start();
    try {
      const bound = await this.edge.listen(o.host, o.port);
      const port = Number(new URL(bound).port);
      this.url = addresses.urlFor(port);
    } catch (err) {
      await this.stop();
      const e = err as NodeJS.ErrnoException;
      if (e.code === 'EADDRINUSE') throw new Error(`port ${o.port} on ${o.host} is in use: stop what uses it or pass another --port`, { cause: err });
      throw err;
    }
    if (cluster) {
      try {
        await cluster.join({ bootstrap: o.bootstrap, cluster: o.cluster, secret: secrets.secret, url: this.url, keyPair: keyPair!,
          heartbeatMs: o.heartbeatMs, failureTimeoutMs: o.failureTimeoutMs, dhtHost: addresses.dhtHost!, dhtPort: o.dhtPort });
        this.bootstrap = cluster.bootstrap;
      } catch (err) {
        await this.stop();
        throw err;
      }
    }
    this.edge.ready = true;
    this.log.info({ url: this.url, id: this.id, ...(tls ? { tlsValidTo: tls.validTo } : {}) }, 'hashpub node ready');
  }

  /** The keys the REST API accepts: --api-keys, plus --api-key (or, without --api-keys, the generated one) with every scope. */
  private async keyEntries(): Promise<ApiKeyEntry[]> {
    const o = this.options;
    const scoped = o.apiKeys !== null ? await loadApiKeys(o.apiKeys) : [];
    const single = o.apiKey !== null || o.apiKeys === null ? [{ key: this.apiKey, scopes: ['admin' as const] }] : [];
    return [...scoped.filter((e) => e.key !== this.apiKey || single.length === 0), ...single];
  }

  async reloadApiKeys(): Promise<number> {
    this.apiKeys.replace(await this.keyEntries());
    this.log.info({ keys: this.apiKeys.size }, 'API keys reloaded');
    return this.apiKeys.size;
  }

  async stop(): Promise<void> {
    if (this.edge) this.edge.ready = false;
    await this.cluster?.handOver().catch((err) => this.log.warn({ err }, 'handing channels over failed'));
    await this.shutdown();
  }

  /** Tests: vanishes like a crashed process (links drop at once, no hand-over, no goodbye to the peers). */
  async crash(): Promise<void> {
    if (this.edge) this.edge.ready = false;
    await this.cluster?.stop();
    await this.shutdown();
  }

  /** This node's figures (and the chart's samples), for GET /v1/stats here or on another member. */
  private ownStats(withHistory: boolean): { stats: NodeStats; history?: StatsSample[] } {
    const s = this.sampler!;
    return withHistory ? { stats: s.current(), history: s.history() } : { stats: s.current() };
  }

  private async shutdown(): Promise<void> {
    this.sampler?.stop();
    await this.push?.stop();
    await this.edge?.close();
    await this.owner?.stop();
    await this.cluster?.stop();
    await this.hookRunner?.close();
    for (const close of this.closers.reverse()) await close();
    this.closers = [];
  }
}

/**
 * Whether HS256 tokens are verified with the JWT secret: always, unless a public key or key set verifies tokens
 * and no --jwt-secret was given (then the app's signing secret never has to reach this tier, and an HS256
 * token signed with a stored, generated secret is no way around the public key).
 */
function verifiesHs256(o: Options): boolean {
  return (o.jwtPublicKey === null && o.jwks === null) || o.jwtSecret !== null;
}

/** Creates a node from (partial) options; call start() on it. Throws OptionsError for bad options. */
export function createNode(options: Partial<Options> | Record<string, unknown> = {}, deps: NodeDeps = {}): HashpubNode {
  return new Node(parseOptions(options as Record<string, unknown>), deps);
}
