import { LogThrottle } from '../log.js';
import { HashpubError, OptionsError } from '../errors.js';
import type { HookFailurePolicy, Options } from '../options.js';
import { applyConfigPatch } from '../protocol/config.js';
import { isChannelName, isUserId } from '../protocol/names.js';
import { defaultChannelConfig, type ChannelConfig } from '../protocol/types.js';
import type {
  ConnectEvent, ConnectReply, DeliverEvent, DeliverReply, DisconnectEvent, HookAction, Hooks, PublishEvent,
  PublishReply, SubscribeEvent, SubscribeReply, UnsubscribeEvent,
} from './hooks.js';
import { HOOK_EVENTS, loadHookModule, type HookEvent } from './module-hooks.js';

/*
 * What the node calls: any Hooks (module or webhook) behind one timeout and one failure policy.
 * connect/subscribe/publish never throw: a hook that throws, times out or answers garbage gives
 * {allow: false, reason: 'hook_failed'} ('deny') or {allow: true} ('allow'). deliver gives null (= every
 * recipient unchanged). Notifications never throw. Replies are normalized: unknown fields and invalid actions
 * are dropped.
 */

/** The logging the runner needs (a pino Logger fits). */
export interface HookLogger {
  warn(obj: object, msg: string): void;
}

/** Settings of a HookRunner. */
export interface HookRunnerOptions {
  /** A hook call that takes longer fails. @default 2000 */
  timeoutMs?: number;
  /** What a failed connect/subscribe/publish hook means. @default "deny" */
  failure?: HookFailurePolicy;
  /** Where failures are reported. @default a logger that drops everything */
  log?: HookLogger;
}

/** Per-event counters (for metrics and the hook-cost benchmark). */
export interface HookStats {
  /** Calls made to the app's hook. */
  calls: number;
  /** Calls that threw, timed out or answered garbage. */
  failures: number;
  /** Total time spent in the hook, microseconds. */
  micros: number;
}

/** Optional capability of a Hooks implementation: resources to release on shutdown. */
export interface ClosableHooks {
  close(): Promise<void> | void;
}

/** Whether `h` has a `close()` method. */
export const isClosable = (h: unknown): h is ClosableHooks =>
  typeof h === 'object' && h !== null && typeof (h as { close?: unknown }).close === 'function';

/** Reason given to clients when a hook failed under the 'deny' policy. */
export const HOOK_FAILED = 'hook_failed';

const QUIET: HookLogger = { warn() {} };
type Outcome = { ok: true; value: unknown } | { ok: false; error: unknown };

/** Runs an app's hooks with a timeout, the failure policy, reply validation and counters. */
export class HookRunner {
  /** Counters per event. */
  readonly stats: Record<HookEvent, HookStats>;
  private readonly timeoutMs: number;
  private readonly failure: HookFailurePolicy;
  private readonly log: HookLogger;
  private readonly throttle = new LogThrottle<HookEvent>();

  constructor(readonly hooks: Hooks, opts: HookRunnerOptions = {}) {
    this.timeoutMs = opts.timeoutMs ?? 2000;
    this.failure = opts.failure ?? 'deny';
    this.log = opts.log ?? QUIET;
    this.stats = Object.fromEntries(HOOK_EVENTS.map((e) => [e, { calls: 0, failures: 0, micros: 0 }])) as Record<HookEvent, HookStats>;
  }

  /** Whether the app implements `event` (when not, the node can skip the work that feeds it). */
  has(event: HookEvent): boolean {
    return typeof this.hooks[event] === 'function';
  }

  /** Runs the connect hook; never throws. */
  async connect(ev: ConnectEvent): Promise<ConnectReply> {
    if (!this.has('connect')) return { allow: true };
    const r = await this.run('connect', ev);
    const reply = r.ok ? this.checkConnect(r.value) : null;
    return reply ?? this.failed('connect', r);
  }

  /** Runs the subscribe hook; never throws. */
  async subscribe(ev: SubscribeEvent): Promise<SubscribeReply> {
    if (!this.has('subscribe')) return { allow: true };
    const r = await this.run('subscribe', ev);
    const reply = r.ok ? this.checkAllow('subscribe', r.value) : null;
    return reply ?? this.failed('subscribe', r);
  }

  /** Runs the publish hook; never throws. `data` in the reply replaces the message. */
  async publish(ev: PublishEvent): Promise<PublishReply> {
    if (!this.has('publish')) return { allow: true };
    const r = await this.run('publish', ev);
    const reply: PublishReply | null = r.ok ? this.checkAllow('publish', r.value) : null;
    if (!reply) return this.failed('publish', r);
    const data = (r as { value: { data?: unknown } }).value.data;
    if (data !== undefined) reply.data = data;
    return reply;
  }

  /** Runs the deliver hook: one normalized result per recipient, or null for "all unchanged"; never throws. */
  async deliver(ev: DeliverEvent): Promise<DeliverReply | null> {
    if (!this.has('deliver')) return null;
    const r = await this.run('deliver', ev);
    const reply = r.ok ? checkDeliver(r.value, ev.recipients.length) : null;
    if (!reply) this.fail('deliver', r.ok ? new Error(`bad reply: expected {results} with ${ev.recipients.length} entries`) : r.error);
    return reply;
  }

  /** Sends the unsubscribe notification; never throws. */
  async unsubscribe(ev: UnsubscribeEvent): Promise<void> {
    if (!this.has('unsubscribe')) return;
    const r = await this.run('unsubscribe', ev);
    if (!r.ok) this.fail('unsubscribe', r.error);
  }

  /** Sends the disconnect notification; never throws. */
  async disconnect(ev: DisconnectEvent): Promise<void> {
    if (!this.has('disconnect')) return;
    const r = await this.run('disconnect', ev);
    if (!r.ok) this.fail('disconnect', r.error);
  }

  /** Releases the hooks' resources (webhook pool) if they have any. */
  async close(): Promise<void> {
    if (isClosable(this.hooks)) await this.hooks.close();
  }

  private async run(event: HookEvent, ev: unknown): Promise<Outcome> {
    const st = this.stats[event];
    st.calls++;
    const start = process.hrtime.bigint();
    try {
      let value: unknown = (this.hooks[event] as (e: unknown) => unknown).call(this.hooks, ev);
      if (isThenable(value)) value = await this.withTimeout(event, value);
      return { ok: true, value };
    } catch (error) {
      return { ok: false, error };
    } finally {
      st.micros += Number(process.hrtime.bigint() - start) / 1000;
    }
  }

  private withTimeout(event: HookEvent, p: PromiseLike<unknown>): Promise<unknown> {
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new HashpubError('timeout', `${event} hook timed out after ${this.timeoutMs} ms`)), this.timeoutMs);
    });
    return Promise.race([p, timeout]).finally(() => clearTimeout(timer));
  }

  /** The policy's answer for a failed connect/subscribe/publish. */
  private failed(event: HookEvent, r: Outcome): { allow: boolean; reason?: string } {
    this.fail(event, r.ok ? new Error('bad reply: expected an object with a boolean "allow"') : r.error);
    return this.failure === 'allow' ? { allow: true } : { allow: false, reason: HOOK_FAILED };
  }

  /** Counts a failure and logs it (at most one line per event per second, with the number suppressed). */
  private fail(event: HookEvent, err: unknown): void {
    this.stats[event].failures++;
    const suppressed = this.throttle.take(event);
    if (suppressed !== null) this.log.warn({ event, err, suppressed }, `${event} hook failed`);
  }

  private checkConnect(v: unknown): ConnectReply | null {
    if (!isObject(v) || typeof v.allow !== 'boolean') return null;
    const out: ConnectReply = { allow: v.allow };
    if (v.user != null) {
      if (!isUserId(v.user)) return null;
      out.user = v.user;
    }
    if (v.info != null) {
      if (!isObject(v.info)) return null;
      out.info = v.info;
    }
    if (v.reason != null) {
      if (typeof v.reason !== 'string') return null;
      out.reason = v.reason;
    }
    return out;
  }

  private checkAllow(event: HookEvent, v: unknown): SubscribeReply | null {
    if (!isObject(v) || typeof v.allow !== 'boolean') return null;
    const out: SubscribeReply = { allow: v.allow };
    if (v.reason != null) {
      if (typeof v.reason !== 'string') return null;
      out.reason = v.reason;
    }
    if (v.actions != null) {
      const list: unknown[] = Array.isArray(v.actions) ? v.actions : [v.actions];
      const actions = Array.isArray(v.actions) ? list.map(checkAction).filter((a): a is HookAction => a !== null) : [];
      if (actions.length < list.length) {
        this.log.warn({ event, dropped: list.length - actions.length }, `${event} hook: invalid actions dropped`);
      }
      if (actions.length > 0) out.actions = actions;
    }
    return out;
  }
}

/** A valid action (normalized, unknown fields removed) or null. */
export function checkAction(a: unknown): HookAction | null {
  if (!isObject(a)) return null;
  if (a.reason != null && typeof a.reason !== 'string') return null;
  const reason = typeof a.reason === 'string' ? { reason: a.reason } : {};
  switch (a.type) {
    case 'kick': {
      if (!isChannelName(a.channel) || !isUserId(a.user)) return null;
      if (a.ban != null && !(typeof a.ban === 'number' && Number.isFinite(a.ban) && a.ban >= 0)) return null;
      return { type: 'kick', channel: a.channel, user: a.user, ...(typeof a.ban === 'number' ? { ban: a.ban } : {}), ...reason };
    }
    case 'config': {
      if (!isChannelName(a.channel)) return null;
      try {
        applyConfigPatch(defaultChannelConfig(), a.set);
      } catch {
        return null;
      }
      return { type: 'config', channel: a.channel, set: a.set as Partial<ChannelConfig> };
    }
    case 'disconnect':
      if (!isUserId(a.user)) return null;
      return { type: 'disconnect', user: a.user, ...reason };
    default:
      return null;
  }
}

/** A normalized deliver reply with exactly `n` results, or null if the reply is malformed. */
function checkDeliver(v: unknown, n: number): DeliverReply | null {
  if (!isObject(v) || !Array.isArray(v.results) || v.results.length !== n) return null;
  const results: DeliverReply['results'] = [];
  for (const r of v.results) {
    if (!isObject(r)) return null;
    if (r.skip != null && typeof r.skip !== 'boolean') return null;
    if (r.skip === true) results.push({ skip: true });
    else if (r.data !== undefined) results.push({ data: r.data });
    else results.push({});
  }
  return { results };
}

/**
 * Builds the node's HookRunner from its options: `--hooks FILE` (module) or `--webhook URL` (signed with
 * webhookSecret, else `fallbackSecret`, the API key). Null when neither is set.
 */
export async function openHooks(o: Pick<Options, 'hooks' | 'webhook' | 'webhookSecret' | 'webhookEvents' | 'hookTimeoutMs' | 'hookConcurrency' | 'hookFailure'>,
  fallbackSecret: string, log?: HookLogger): Promise<HookRunner | null> {
  if (o.hooks && o.webhook) throw new OptionsError('hooks', 'set either hooks (a module) or webhook (a URL), not both');
  const runnerOpts: HookRunnerOptions = { timeoutMs: o.hookTimeoutMs, failure: o.hookFailure, ...(log ? { log } : {}) };
  if (o.hooks) return new HookRunner(await loadHookModule(o.hooks), runnerOpts);
  if (o.webhook) {
    // Imported only here: undici (its HTTP pool) costs ~5 MB of heap in every node process that has no webhook.
    const { WebhookHooks } = await import('./webhook-hooks.js');
    const hooks = new WebhookHooks({ url: o.webhook, secret: o.webhookSecret ?? fallbackSecret,
      concurrency: o.hookConcurrency, timeoutMs: o.hookTimeoutMs });
    return new HookRunner(o.webhookEvents.length > 0 ? onlyEvents(hooks, o.webhookEvents) : hooks, runnerOpts);
  }
  return null;
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function isThenable(v: unknown): v is PromiseLike<unknown> {
  return (typeof v === 'object' || typeof v === 'function') && v !== null && typeof (v as { then?: unknown }).then === 'function';
}

/** `hooks` reduced to `events` (the rest count as not implemented), keeping close(). */
function onlyEvents(hooks: Hooks & ClosableHooks, events: string[]): Hooks & ClosableHooks {
  const out: Record<string, unknown> = { close: () => hooks.close() };
  for (const e of HOOK_EVENTS) {
    const fn = hooks[e];
    if (events.includes(e) && typeof fn === 'function') out[e] = fn.bind(hooks);
  }
  return out as unknown as Hooks & ClosableHooks;
}
