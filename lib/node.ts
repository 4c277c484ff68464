import { acceptBudget } from './transport/accept-budget.js';
import { createHash } from 'node:crypto';
import { mkdir } from 'node:fs/promises';
import { networkInterfaces } from 'node:os';
import { join, resolve } from 'node:path';
import DHT from 'hyperdht';
import { TokenVerifier } from './auth/tokens.js';
import { nodeAddresses, type NodeAddresses } from './cluster/addresses.js';
import { Cluster } from './cluster/cluster.js';
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
import { SingleCopy } from './replication/single-copy.js';
import type { Replication } from './replication/replication.js';
import { PushService } from './session/push-service.js';
import { GroupCommit } from './store/group-commit.js';
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
  private cluster: Cluster | null = null;

  constructor(private readonly options: Options, private readonly deps: NodeDeps) {
    this.log = deps.logger ?? createLogger(options.logLevel);
  }

  async start(): Promise<void> {
    const o = this.options;
    const clustered = !this.deps.standalone;
    // Decided before anything binds: a bad --host/--public-url/--dht-host combination fails at once.
    const addresses: NodeAddresses = nodeAddresses(o, networkInterfaces(), clustered);
    const memory = o.data === ':memory:';
    const dataDir = memory ? null : resolve(o.data);
    if (dataDir) await mkdir(dataDir, { recursive: true });
    const { secrets, generated } = await loadSecrets(dataDir, {
      apiKey: o.apiKey ?? undefined, jwtSecret: o.jwtSecret ?? undefined, secret: o.secret ?? undefined,
    });
    this.apiKey = secrets.apiKey;
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
        owner: () => this.owner!, push: () => this.push!, minCopies: o.minCopies as 1 | 2 });
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
      onPublish: () => metrics.messagesIn.inc(), presenceIntervalMs: o.presenceIntervalMs, beforeUse: cluster ? () => cluster.checkStall() : undefined, placement: (c) => cluster?.placement(c) ?? { owner: this.id, replicas: [] } });
    this.push = new PushService({ router, hooks: this.hookRunner, log: this.log, sessionTtlMs: o.sessionTtlSeconds * 1000,
      presenceGraceMs: o.presenceGraceSeconds * 1000,
      onDeliver: (n) => { if (n) metrics.messagesOut.inc(n); } });
    const push = this.push;
    metrics.sources.sessions = () => push.sessionCount;
    metrics.sources.subscriptions = () => push.hub.subscriptions;

    const ctx: EdgeContext = {
      options: o, log: this.log, metrics, router, push: this.push, hooks: this.hookRunner,
      tokens: new TokenVerifier(secrets.jwtSecret), apiKey: secrets.apiKey, accept: acceptBudget(o.acceptPerSecond),
      cluster: () => ({ self: this.id, members: (cluster?.members() ?? [this.id]).map((id) => ({ id, url: cluster?.urlOf(id) ?? this.url })),
        replication: replication.mode() }),
    };
    this.owner.start();
    this.push.start();
    this.edge = new HttpEdge(ctx);
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
    this.log.info({ url: this.url, id: this.id }, 'hashpub node ready');
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

  private async shutdown(): Promise<void> {
    await this.push?.stop();
    await this.edge?.close();
    await this.owner?.stop();
    await this.cluster?.stop();
    await this.hookRunner?.close();
    for (const close of this.closers.reverse()) await close();
    this.closers = [];
  }
}

/** Creates a node from (partial) options; call start() on it. Throws OptionsError for bad options. */
export function createNode(options: Partial<Options> | Record<string, unknown> = {}, deps: NodeDeps = {}): HashpubNode {
  return new Node(parseOptions(options as Record<string, unknown>), deps);
}
