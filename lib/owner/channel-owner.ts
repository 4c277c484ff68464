import type { Logger } from 'pino';
import { HashpubError } from '../errors.js';
import type { HookRunner } from '../hooks/hook-runner.js';
import { runActions } from '../hooks/actions.js';
import { applyConfigPatch, claimList } from '../protocol/config.js';
import { isSystemChannel, userChannel } from '../protocol/names.js';
import type { ChannelConfig, Message } from '../protocol/types.js';
import type { LocalOwner, Replication } from '../replication/replication.js';
import type { GroupCommit } from '../store/group-commit.js';
import { ChannelState } from './channel-state.js';
import type {
  HistoryResult, Owner, Placement, PresencePage, PresenceResult, PublishRequest, PublishResult, Router, SubscribeRequest, SubscribeResult,
} from './owner-api.js';
import { PresenceBatcher } from './presence.js';
import { WritePipeline } from './write-pipeline.js';

export interface ChannelOwnerDeps {
  commit: GroupCommit;
  replication: Replication;
  router: Router;
  hooks: HookRunner | null;
  log: Logger;
  /** A write not confirmed by the required copies after this long is answered `unavailable`. @default 4000 */
  ackTimeoutMs?: number;
  /** Milliseconds since the epoch (injectable for tests). */
  now?: () => number;
  /** Called once per committed message (metrics). */
  onPublish?: (m: Message) => void;
  /** This node took `channel` over under `term` (push nodes re-register their subscribers: lib/cluster). */
  onAcquired?: (channel: string, term: number) => void;
  /** The owner of `channel` and the replicas of the current view (for placement answers about unloaded channels). */
  placement?: (channel: string) => { owner: string; replicas: string[] };
  /** Presence events of one interval go out as one diff per push node. @default 1000 */
  presenceIntervalMs?: number;
  /** Called before a channel is used: lets the node notice it just woke from a stall (and drop what it held). */
  beforeUse?: () => void;
}

/** Idle channel state is dropped from memory after this long (it stays in the store). */
const IDLE_EVICT_MS = 60_000;

/**
 * The owner role for the channels this node owns: takes their state over through replication on first use,
 * enforces bans, private channels, capacity and publish rights, runs the subscribe/publish hooks, assigns
 * offsets, makes every write durable on the required copies (WritePipeline) and fans out one delivery per push
 * node, in offset order.
 */
export class ChannelOwner implements Owner, LocalOwner {
  private readonly states = new Map<string, ChannelState>();
  private readonly loading = new Map<string, Promise<ChannelState>>();
  private readonly lastUsed = new Map<string, number>();
  private readonly pipeline: WritePipeline;
  readonly presenceEvents: PresenceBatcher;
  private readonly now: () => number;
  private sweepTimer: NodeJS.Timeout | null = null;

  constructor(private readonly deps: ChannelOwnerDeps) {
    this.now = deps.now ?? Date.now;
    this.presenceEvents = new PresenceBatcher({ intervalMs: deps.presenceIntervalMs ?? 1000, push: (node) => deps.router.push(node) });
    this.pipeline = new WritePipeline({
      commit: deps.commit, replication: deps.replication, ackTimeoutMs: deps.ackTimeoutMs ?? 4000, now: this.now,
      committed: (st, messages) => this.fanOut(st, messages),
      broken: (st, err) => {
        this.deps.log.error({ err, channel: st.name }, 'store write failed; channel state will be reloaded');
        this.drop(st.name);
      },
    });
  }

  start(): void {
    this.sweepTimer = setInterval(() => this.evictIdle(), IDLE_EVICT_MS / 2).unref();
  }

  async stop(): Promise<void> {
    if (this.sweepTimer) clearInterval(this.sweepTimer);
    this.presenceEvents.stop();
    await this.deps.commit.drain();
  }

  async subscribe(req: SubscribeRequest): Promise<SubscribeResult> {
    const { channel, user } = req;
    if (isSystemChannel(channel) && !req.system) throw new HashpubError('forbidden', 'system channels cannot be subscribed to by name');
    const st = await this.state(channel);
    this.checkBan(st, user);
    if (!req.system && st.config.private && !claimList(req.claims.channels).includes(channel)) {
      throw new HashpubError('forbidden', 'private channel: the token does not list it in "channels"');
    }
    const hooks = this.deps.hooks;
    if (!req.system && hooks?.has('subscribe')) {
      const reply = await hooks.subscribe({ user, claims: req.claims, channel });
      void runActions(reply.actions, this.deps.router, this.deps.log);
      if (!reply.allow) throw new HashpubError('forbidden', reply.reason ?? 'subscription refused');
      this.checkBan(st, user); // a kick may have landed while the hook ran
      checkHeld(st);
    }
    const max = st.config.maxSubscribers;
    const already = st.subscribers.get(req.pushNode)?.has(req.session) ?? false;
    if (max > 0 && !already && st.count >= max) throw new HashpubError('channel_full', `channel is full (${max} subscribers)`);
    // Registration and the resume snapshot happen in one synchronous step: every message committed after
    // this line is fanned out to the new subscriber, every one before it is in the snapshot.
    const newNode = !st.subscribers.has(req.pushNode);
    const { joined } = st.add(req.pushNode, req.session, user);
    const { recovered, messages } = st.resume(req.since, this.now());
    if (!isSystemChannel(channel)) {
      if (newNode) this.presenceEvents.pushNodeAdded(st, req.pushNode);
      if (joined) this.presenceEvents.joined(st, user!);
    }
    this.touch(channel);
    return { epoch: st.epoch, offset: st.committed, recovered, messages, deliverHook: st.config.deliverHook, term: st.term,
      presenceEvents: st.config.presenceEvents && st.config.presence !== false };
  }

  async unsubscribe(channel: string, pushNode: string, session: string, reason: string): Promise<void> {
    const st = this.states.get(channel) ?? (this.loading.has(channel) ? await this.loading.get(channel)!.catch(() => undefined) : undefined);
    if (st) this.removeSubscriber(st, pushNode, session, reason);
  }

  async publish(req: PublishRequest): Promise<PublishResult> {
    const { channel } = req;
    const system = isSystemChannel(channel);
    if (req.client && system) throw new HashpubError('forbidden', 'clients cannot publish on system channels');
    const st = await this.state(channel);
    if (req.client) {
      this.checkBan(st, req.user);
      if (!st.config.clientPublish && !claimList(req.claims.publish).includes(channel)) {
        throw new HashpubError('forbidden', 'publishing is not allowed: channel has clientPublish off and the token has no "publish" right');
      }
    }
    // A duplicate answer is an acknowledgement: only an owner that may write gives one.
    this.checkWritable(st);
    const dup = await this.duplicate(st, req.id);
    if (dup) return dup;
    let data = req.data;
    const hooks = this.deps.hooks;
    if (!system && hooks?.has('publish')) {
      const reply = await hooks.publish({ user: req.user, claims: req.claims, channel, data });
      const acted = runActions(reply.actions, this.deps.router, this.deps.log);
      if (!reply.allow) {
        await acted;
        throw new HashpubError('forbidden', reply.reason ?? 'message refused');
      }
      if ('data' in reply && reply.data !== undefined) data = reply.data;
      checkHeld(st);
      this.checkWritable(st);
    }
    // Checked again with no await before the offset is assigned: retries of one id that arrive together (a client
    // retrying while the first try waited for a take-over) must not both be applied.
    if (req.id !== undefined && st.recentIds.has(req.id)) return (await this.duplicate(st, req.id))!;
    const { message, batch } = st.next(data, req.client ? req.user : null, this.now(), req.id);
    await this.pipeline.write(st, batch, message);
    this.touch(channel);
    return { channel, epoch: message.epoch, offset: message.offset, subscribers: st.count };
  }

  async history(channel: string, since?: number, limit = 100): Promise<HistoryResult> {
    const st = await this.state(channel);
    st.expire(this.now());
    const all = st.committedAfter(since ?? 0);
    const messages = since === undefined ? all.slice(-limit) : all.slice(0, limit);
    return { epoch: st.epoch, offset: st.committed, messages };
  }

  async presence(channel: string, page: PresencePage = {}): Promise<PresenceResult> {
    const st = await this.state(channel);
    if (st.config.presence === false) throw new HashpubError('forbidden', 'presence is off for this channel');
    const nodes = Object.fromEntries([...st.subscribers].map(([node, sessions]) => [node, sessions.size]));
    if (st.config.presence === 'count') return { channel, count: st.count, members: st.users.size, nodes };
    const limit = page.limit ?? 100;
    const sorted = st.sortedUsers();
    let from = 0;
    if (page.cursor !== undefined) {
      // First name after the cursor (binary search: the list is sorted).
      let lo = 0;
      let hi = sorted.length;
      while (lo < hi) {
        const mid = (lo + hi) >>> 1;
        if (sorted[mid]! <= page.cursor) lo = mid + 1;
        else hi = mid;
      }
      from = lo;
    }
    const users = sorted.slice(from, from + limit);
    const cursor = from + limit < sorted.length ? users.at(-1)! : null;
    return { channel, count: st.count, members: st.users.size, users, cursor, nodes };
  }

  async getConfig(channel: string): Promise<ChannelConfig> {
    return (await this.state(channel)).config;
  }

  async setConfig(channel: string, patch: Partial<ChannelConfig>): Promise<ChannelConfig> {
    const st = await this.state(channel);
    const config = applyConfigPatch(st.config, patch);
    this.checkWritable(st);
    await this.pipeline.write(st, st.setConfig(config, this.now()), null);
    return config;
  }

  async kick(channel: string, user: string, ban = 0, reason = 'kicked'): Promise<number> {
    const st = await this.state(channel);
    if (ban > 0) {
      this.checkWritable(st);
      await this.pipeline.write(st, st.ban(user, this.now() + ban * 1000), null);
    }
    const byNode = new Map<string, string[]>();
    for (const [node, session] of st.sessionsOf(user)) {
      this.removeSubscriber(st, node, session, 'kicked');
      byNode.set(node, [...(byNode.get(node) ?? []), session]);
    }
    let n = 0;
    for (const [node, sessions] of byNode) {
      n += sessions.length;
      this.deps.router.push(node)?.kicked(channel, sessions, reason);
    }
    return n;
  }

  async disconnectUser(user: string, reason = 'disconnected'): Promise<number> {
    const st = await this.state(userChannel(user));
    const counts = await Promise.all([...st.subscribers.keys()].map((node) =>
      this.deps.router.push(node)?.disconnectUser(user, reason) ?? 0));
    return counts.reduce((a, b) => a + b, 0);
  }

  async pushNodesOf(channel: string): Promise<string[]> {
    return [...(this.states.get(channel)?.subscribers.keys() ?? [])];
  }

  async placement(channel: string): Promise<Placement> {
    const base = this.deps.placement?.(channel) ?? { owner: this.deps.router.self, replicas: [] };
    const st = this.states.get(channel);
    if (!st) return { ...base, loaded: false, replica: null };
    const r = this.deps.replication.status(channel);
    const mode = this.deps.replication.mode();
    return {
      owner: this.deps.router.self, replicas: r.node ? [r.node] : [], loaded: true, term: st.term, epoch: st.epoch, offset: st.committed,
      replica: mode.copies === 1 && r.node === null ? null : { node: r.node, caughtUp: r.caughtUp, lag: r.lag },
    };
  }

  /** A push node is gone: end all its subscriptions (reason `node_lost`). */
  dropPushNode(node: string): void {
    for (const st of this.states.values()) {
      const sessions = st.subscribers.get(node);
      if (sessions) for (const session of [...sessions.keys()]) this.removeSubscriber(st, node, session, 'node_lost');
    }
  }

  /** Forgets (from memory) every loaded channel that `moved` selects: another node owns it now, or may. */
  dropChannels(moved: (channel: string, st: ChannelState) => boolean): void {
    for (const [channel, st] of this.states) if (moved(channel, st)) this.drop(channel);
  }

  // ---- LocalOwner: what replication calls ----

  async release(channel: string): Promise<void> {
    await this.loading.get(channel)?.catch(() => undefined);
    this.drop(channel);
    await this.deps.commit.drain(); // writes that already have an offset are durable before the claimer reads
  }

  held(): Iterable<ChannelState> {
    return this.states.values();
  }

  holds(channel: string): boolean {
    return this.states.has(channel) || this.loading.has(channel);
  }

  fenced(channel: string): void {
    this.drop(channel);
  }

  /** Number of channel states held in memory (tests, metrics). */
  get loadedChannels(): number {
    return this.states.size;
  }

  // ---- internals ----

  private fanOut(st: ChannelState, messages: Message[]): void {
    const opts = { deliverHook: st.config.deliverHook, term: st.term };
    for (const m of messages) {
      this.deps.onPublish?.(m);
      for (const node of st.subscribers.keys()) this.deps.router.push(node)?.deliver(m, opts);
    }
  }

  private drop(channel: string): void {
    const st = this.states.get(channel);
    if (st) st.released = true;
    this.states.delete(channel);
    this.lastUsed.delete(channel);
    this.deps.replication.forget(channel);
  }

  private removeSubscriber(st: ChannelState, node: string, session: string, reason: string): void {
    const removed = st.remove(node, session);
    if (!removed) return;
    if (removed.left && !isSystemChannel(st.name)) this.presenceEvents.left(st, removed.user!);
    if (!isSystemChannel(st.name) && this.deps.hooks?.has('unsubscribe')) {
      void this.deps.hooks.unsubscribe({ user: removed.user, channel: st.name, reason });
    }
    this.touch(st.name);
  }

  private checkBan(st: ChannelState, user: string | null): void {
    const until = st.bannedUntil(user, this.now());
    if (until) throw new HashpubError('banned', `banned from this channel for ${Math.ceil((until - this.now()) / 1000)} more seconds`);
  }

  private checkWritable(st: ChannelState): void {
    this.deps.beforeUse?.();
    checkHeld(st);
    this.deps.replication.checkWritable();
  }

  /** The original answer for a publish id seen before (waiting for it to be acknowledged if it is in flight). */
  private async duplicate(st: ChannelState, id: string | undefined): Promise<PublishResult | null> {
    const offset = id === undefined ? undefined : st.recentIds.get(id);
    if (offset === undefined) return null;
    if (offset > st.committed) {
      const p = st.pending.find((w) => w.message?.offset === offset);
      if (p && !p.done) await this.pipeline.ack(p.durable);
    }
    return { channel: st.name, epoch: st.epoch, offset, duplicate: true };
  }

  private async state(channel: string): Promise<ChannelState> {
    this.deps.beforeUse?.();
    const st = this.states.get(channel);
    if (st) return st;
    let p = this.loading.get(channel);
    if (!p) {
      p = this.deps.replication.acquire(channel).then((record) => {
        this.loading.delete(channel);
        const loaded = new ChannelState(channel, record, this.now());
        this.states.set(channel, loaded);
        this.deps.replication.attach(loaded);
        this.touch(channel);
        this.deps.onAcquired?.(channel, loaded.term);
        return loaded;
      }, (err) => {
        this.loading.delete(channel);
        if (err instanceof HashpubError) throw err;
        throw new HashpubError('unavailable', 'storage read failed, retry', { cause: err, retryAfter: 1 });
      });
      this.loading.set(channel, p);
    }
    return p;
  }

  private touch(channel: string): void {
    this.lastUsed.set(channel, this.now());
  }

  private evictIdle(): void {
    const cutoff = this.now() - IDLE_EVICT_MS;
    for (const [channel, st] of this.states) {
      if (st.idle() && (this.lastUsed.get(channel) ?? 0) < cutoff) this.drop(channel);
    }
  }
}

/** Throws when the state was handed to another node while this operation waited (a hook, the disk). */
function checkHeld(st: ChannelState): void {
  if (st.released) throw new HashpubError('unavailable', 'this channel just moved to another node; retry', { retryAfter: 1 });
}
