import type { Logger } from 'pino';
import type { HookRunner } from '../hooks/hook-runner.js';
import type { DeliverOptions } from '../owner/owner-api.js';
import type { Message } from '../protocol/types.js';
import { FanOut } from './fanout.js';
import type { Hub, Variant } from './hub.js';
import type { Session } from './session.js';

/** Replayed messages a deliver hook skipped for their reader: the offset advances, nothing is sent. */
const SKIPPED = new WeakSet<Message>();

/** Whether a deliver hook skipped `m` (a per-reader copy) for its reader. */
export const skipped = (m: Message): boolean => SKIPPED.has(m);

/**
 * What a push node does with a delivery from a channel's owner: drops it when the owner's term is older than one
 * already seen for the channel (a stale owner), runs the deliver hook when the channel has one (one call per message
 * for all local recipients, in order per channel), and hands it to the fan-out.
 */
export class Delivery {
  readonly fanout: FanOut;
  /** Highest ownership term seen per channel with local subscribers (fencing of stale owners). */
  private readonly terms = new Map<string, number>();
  private readonly chains = new Map<string, Promise<void>>();

  constructor(private readonly hub: Hub, private readonly hooks: HookRunner | null, private readonly log: Logger,
    onDeliver?: (messages: number) => void, missed?: (s: Session, channel: string) => void) {
    this.fanout = new FanOut(hub, onDeliver, missed);
  }

  deliver(message: Message, opts: DeliverOptions): void {
    const channel = message.channel;
    const known = this.terms.get(channel) ?? 0;
    if (opts.term < known) {
      this.log.warn({ channel, term: opts.term, known }, 'dropped a delivery from a stale owner');
      return;
    }
    if (opts.term > known && this.hub.has(channel)) this.terms.set(channel, opts.term);
    const hooks = this.hooks;
    const chained = this.chains.get(channel);
    if (!chained && !(opts.deliverHook && hooks?.has('deliver'))) return this.fanout.deliver(message);
    // Per-recipient hook: one call per message for all local recipients; a per-channel chain keeps order.
    const next = (chained ?? Promise.resolve()).then(async () => {
      const recipients = this.hub.recipients(channel);
      let variants: Map<Session, Variant> | undefined;
      if (opts.deliverHook && hooks?.has('deliver') && recipients.length > 0) {
        const reply = await hooks.deliver({ channel, data: message.data,
          recipients: recipients.map((s) => ({ user: s.user, info: s.info })) });
        if (reply) {
          variants = new Map();
          reply.results.forEach((r, i) => {
            if (r.skip) variants!.set(recipients[i]!, { skip: true });
            else if ('data' in r) variants!.set(recipients[i]!, { data: r.data });
          });
        }
      }
      this.fanout.deliver(message, variants);
    }).catch((err) => this.log.error({ err, channel }, 'deliver failed'));
    this.chains.set(channel, next);
    void next.then(() => { if (this.chains.get(channel) === next) this.chains.delete(channel); });
  }

  /** The owner that answered a subscribe to `channel` holds term `term`. */
  sawTerm(channel: string, term: number | undefined): void {
    if (term !== undefined && term > (this.terms.get(channel) ?? 0)) this.terms.set(channel, term);
  }

  /** The highest owner term seen for `channel` (0 = none). */
  termOf(channel: string): number {
    return this.terms.get(channel) ?? 0;
  }

  /** The last local subscriber of `channel` is gone. */
  forget(channel: string): void {
    this.terms.delete(channel);
  }

  /** Runs the deliver hook for one reader over `messages`, in order; skipped ones are marked (see skipped()). */
  async personalize(s: Session, channel: string, messages: Message[]): Promise<Message[]> {
    const out: Message[] = [];
    for (const m of messages) {
      const reply = await this.hooks!.deliver({ channel, data: m.data, recipients: [{ user: s.user, info: s.info }] });
      const r = reply?.results[0];
      const copy = r && 'data' in r ? { ...m, data: r.data } : { ...m };
      if (r?.skip) SKIPPED.add(copy);
      out.push(copy);
    }
    return out;
  }
}
