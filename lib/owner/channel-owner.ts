import type { Logger } from 'pino';
import { HashpubError } from '../errors.js';
import type { HookRunner } from '../hooks/hook-runner.js';
import { runActions } from '../hooks/actions.js';
import { applyConfigPatch, claimList } from '../protocol/config.js';
import { isSystemChannel, userChannel } from '../protocol/names.js';
import type { ChannelConfig, Message } from '../protocol/types.js';
import { GroupCommit } from '../store/group-commit.js';
import type { ChannelRecord, Store } from '../store/store.js';
import type { HandoffOwner } from '../cluster/handoff.js';
import { ChannelState } from './channel-state.js';
import type {
  HistoryResult, Owner, PresenceResult, PublishRequest, PublishResult, Router, SubscribeRequest, SubscribeResult,
} from './owner-api.js';

export interface ChannelOwnerDeps {
  store: Store;
  router: Router;
  hooks: HookRunner | null;
  log: Logger;
  /** Milliseconds since the epoch (injectable for tests). */
  now?: () => number;
  /** Called once per accepted message (metrics). */
  onPublish?: (m: Message) => void;
  /** Loads a channel this node takes over (cluster handoff); default: the local store. */
  acquire?: (channel: string) => Promise<ChannelRecord>;
}

/** Idle channel state is dropped from memory after this long (it stays in the store). */
const IDLE_EVICT_MS = 60_000;

/**
 * The owner role for the channels this node owns: loads their state from the store on first use,
 * enforces bans, private channels, capacity and publish rights, runs the subscribe/publish hooks,
 * assigns offsets, stores durably (group commit) and fans out one delivery per push node.
 */
export class ChannelOwner implements Owner, HandoffOwner {
  private readonly states = new Map<string, ChannelState>();
  /** Channels handed to another node in the current view: channel -> that node. */
  private readonly released = new Map<string, string>();
  private readonly loading = new Map<string, Promise<ChannelState>>();
  private readonly lastUsed = new Map<string, number>();
  private readonly commit: GroupCommit;
  private readonly now: () => number;
  private sweepTimer: NodeJS.Timeout | null = null;

  constructor(private readonly deps: ChannelOwnerDeps) {
    this.commit = new GroupCommit(deps.store);
    this.now = deps.now ?? Date.now;
  }

  start(): void {
    this.sweepTimer = setInterval(() => this.evictIdle(), IDLE_EVICT_MS / 2).unref();
  }

  async stop(): Promise<void> {
    if (this.sweepTimer) clearInterval(this.sweepTimer);
    await this.commit.drain();
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
    const { joined } = st.add(req.pushNode, req.session, user);
    const now = this.now();
    const { recovered, messages } = st.resume(req.since, now);
    if (joined && st.config.presence) this.announcePresence(st, { join: user! });
    this.touch(channel);
    return { epoch: st.epoch, offset: st.committed, recovered, messages, deliverHook: st.config.deliverHook, term: st.term };
  }

  async unsubscribe(channel: string, pushNode: string, session: string, reason: string): Promise<void> {
    const st = this.states.get(channel) ?? (this.loading.has(channel) ? await this.loading.get(channel)! : undefined);
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
    const dup = this.duplicate(st, req.id);
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
      const again = this.duplicate(st, req.id);
      if (again) return again;
    }
    const { message, ops } = st.next(data, req.client ? req.user : null, this.now());
    if (req.id) st.rememberId(req.id, message.offset);
    try {
      await this.commit.write(ops);
    } catch (err) {
      this.deps.log.error({ err, channel }, 'store write failed; channel state will be reloaded');
      this.states.delete(channel);
      throw new HashpubError('unavailable', 'storage write failed, retry', { cause: err, retryAfter: 1 });
    }
    st.commit(message, this.now());
    this.deps.onPublish?.(message);
    const opts = { deliverHook: st.config.deliverHook, term: st.term };
    for (const node of st.subscribers.keys()) this.deps.router.push(node)?.deliver(message, opts);
    this.touch(channel);
    return { channel, epoch: message.epoch, offset: message.offset, subscribers: st.count };
  }

  async history(channel: string, since?: number, limit = 100): Promise<HistoryResult> {
    const st = await this.state(channel);
    st.expire(this.now());
    let messages = since === undefined ? st.history : st.history.filter((m) => m.offset > since);
    messages = since === undefined ? messages.slice(-limit) : messages.slice(0, limit);
    return { epoch: st.epoch, offset: st.committed, messages };
  }

  async presence(channel: string): Promise<PresenceResult> {
    const st = await this.state(channel);
    if (!st.config.presence) throw new HashpubError('forbidden', 'presence is off for this channel');
    return { channel, count: st.count, users: [...st.users.keys()] };
  }

  async getConfig(channel: string): Promise<ChannelConfig> {
    return (await this.state(channel)).config;
  }

  async setConfig(channel: string, patch: Partial<ChannelConfig>): Promise<ChannelConfig> {
    const st = await this.state(channel);
    const config = applyConfigPatch(st.config, patch);
    await this.commit.write([{ type: 'config', channel, config }]);
    st.config = config;
    st.expire(this.now());
    return config;
  }

  async kick(channel: string, user: string, ban = 0, reason = 'kicked'): Promise<number> {
    const st = await this.state(channel);
    if (ban > 0) {
      const until = this.now() + ban * 1000;
      await this.commit.write([{ type: 'ban', channel, user, until }]);
      st.bans.set(user, until);
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

  /** A push node is gone: end all its subscriptions (reason `node_lost`). */
  dropPushNode(node: string): void {
    for (const st of this.states.values()) {
      const sessions = st.subscribers.get(node);
      if (sessions) for (const session of [...sessions.keys()]) this.removeSubscriber(st, node, session, 'node_lost');
    }
  }

  /** Forgets (from memory only) the state of every loaded channel that `moved` selects: another node owns it now. */
  dropChannels(moved: (channel: string) => boolean): void {
    this.released.clear();
    for (const [channel, st] of this.states) {
      // A state with writes in flight stays until they are durable; the new owner's release request takes it.
      if (!moved(channel) || st.assigned !== st.committed) continue;
      st.released = true;
      this.states.delete(channel);
      this.lastUsed.delete(channel);
    }
  }

  async release(channel: string, to: string): Promise<ChannelRecord | null> {
    this.released.set(channel, to);
    await this.loading.get(channel)?.catch(() => undefined);
    const st = this.states.get(channel);
    if (!st) {
      const rec = await this.deps.store.load(channel);
      return rec.epoch === null && rec.config === null && Object.keys(rec.bans).length === 0 ? null : rec;
    }
    st.released = true;
    this.states.delete(channel);
    this.lastUsed.delete(channel);
    await this.commit.drain(); // publishes that already have an offset become durable and are in the snapshot
    return st.snapshot();
  }

  async adopt(channel: string, record: ChannelRecord): Promise<void> {
    if (this.states.has(channel)) return; // taken over here already: ours is newer
    const mine = await this.deps.store.load(channel);
    if (mine.term > record.term) return;
    await this.deps.store.replace(channel, record);
  }

  holds(channel: string): boolean {
    return this.states.has(channel);
  }

  /** The node this one handed `channel` to in the current view, if it did. */
  releasedTo(channel: string): string | undefined {
    return this.released.get(channel);
  }

  /** Number of channel states held in memory (tests, metrics). */
  get loadedChannels(): number {
    return this.states.size;
  }

  private removeSubscriber(st: ChannelState, node: string, session: string, reason: string): void {
    const removed = st.remove(node, session);
    if (!removed) return;
    if (removed.left && st.config.presence) this.announcePresence(st, { leave: removed.user! });
    if (!isSystemChannel(st.name) && this.deps.hooks?.has('unsubscribe')) {
      void this.deps.hooks.unsubscribe({ user: removed.user, channel: st.name, reason });
    }
    this.touch(st.name);
  }

  private announcePresence(st: ChannelState, change: { join: string } | { leave: string }): void {
    if (isSystemChannel(st.name)) return;
    for (const node of st.subscribers.keys()) this.deps.router.push(node)?.presence(st.name, change);
  }

  private checkBan(st: ChannelState, user: string | null): void {
    const until = st.bannedUntil(user, this.now());
    if (until) throw new HashpubError('banned', `banned from this channel for ${Math.ceil((until - this.now()) / 1000)} more seconds`);
  }

  private duplicate(st: ChannelState, id: string | undefined): PublishResult | null {
    const offset = id === undefined ? undefined : st.recentIds.get(id);
    return offset === undefined ? null : { channel: st.name, epoch: st.epoch, offset, duplicate: true };
  }

  private async state(channel: string): Promise<ChannelState> {
    const st = this.states.get(channel);
    if (st) return st;
    if (this.released.has(channel)) throw new HashpubError('unavailable', 'this channel just moved to another node; retry', { retryAfter: 1 });
    let p = this.loading.get(channel);
    if (!p) {
      p = (this.deps.acquire ?? ((c: string) => this.deps.store.load(c)))(channel).then((rec) => {
        const loaded = new ChannelState(channel, rec, this.now());
        this.states.set(channel, loaded);
        this.loading.delete(channel);
        this.touch(channel);
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
      if (st.idle() && (this.lastUsed.get(channel) ?? 0) < cutoff) {
        this.states.delete(channel);
        this.lastUsed.delete(channel);
      }
    }
  }
}

/** Throws when the state was handed to another node while this operation waited (a hook, the disk). */
function checkHeld(st: ChannelState): void {
  if (st.released) throw new HashpubError('unavailable', 'this channel just moved to another node; retry', { retryAfter: 1 });
}
