// The rules that keep two copies of a channel consistent, as pure functions (table-tested in spec/unit/terms.test.ts).
//
// Every channel carries an ownership term. A node that takes a channel over CLAIMS a term above every term the
// copies it can reach have promised; a copy that promised term t to node n accepts writes only from n at term t,
// and only once n has brought it up to date (sync). Each message remembers the term it was written in, so an
// owner can tell whether a replica's log is a prefix of its own (same term at the replica's last offset: Raft's log
// matching, Kafka's leader epoch) and send only what is missing; otherwise the replica is reset.
import type { ChannelRecord } from '../store/store.js';

/** What a node holds of a channel, as claims, syncs and appends are checked against. */
export interface CopySummary {
  /** Data term: the term of the owner that last wrote this copy (0 = none). */
  term: number;
  /** Highest term promised to a claimer (>= term). */
  promised: number;
  /** The node that holds term `promised` ('' = none). */
  owner: string;
  epoch: string | null;
  offset: number;
  /** Term of the message at `offset` when the copy retains it, else 0. */
  lastTerm: number;
  /** False while a sync is writing the copy. */
  complete: boolean;
  /** Highest term this node knows was active (its replica was brought up to date, so acks may exist in it). */
  active: number;
  /** Anything is stored: a stream, a config or bans. */
  hasState: boolean;
}

/** Why a copy refuses a claim, a sync or an append (stable codes, counted in /metrics). */
export type Refusal = 'stale_term' | 'not_owner' | 'out_of_sync' | 'incomplete';

export type Decision = { ok: true } | { ok: false; refusal: Refusal };

const OK: Decision = { ok: true };
const no = (refusal: Refusal): Decision => ({ ok: false, refusal });

/** The summary of a stored record. */
export function summarize(r: ChannelRecord): CopySummary {
  const last = r.history.length > 0 ? r.history[r.history.length - 1]! : undefined;
  return {
    term: r.term, promised: Math.max(r.promised, r.term), owner: r.owner, epoch: r.epoch, offset: r.offset,
    lastTerm: last && last.offset === r.offset ? last.term ?? 0 : 0, complete: r.complete, active: r.active ?? 0,
    hasState: r.epoch !== null || r.config !== null || Object.keys(r.bans).length > 0,
  };
}

/**
 * A claim of term `t` by node `from`. Only the node that owns the channel in this node's view may claim
 * (`viewOwner`), which also keeps two nodes with different views from outbidding each other; the term must
 * be above what was promised, or equal when it is the same claimer again.
 */
export function decideClaim(copy: Pick<CopySummary, 'promised' | 'owner'>, t: number, from: string, viewOwner: string): Decision {
  if (from !== viewOwner) return no('not_owner');
  if (t < copy.promised || (t === copy.promised && copy.owner !== from)) return no('stale_term');
  return OK;
}

/**
 * A sync chunk from `from` at term `t`. The first chunk may come with a higher term (an owner that took the
 * channel over, when it owns the channel in this node's view); later chunks continue a sync that started.
 */
export function decideSync(copy: Pick<CopySummary, 'promised' | 'owner' | 'complete'>, t: number, from: string,
  first: boolean, viewOwner: string): Decision {
  if (t < copy.promised) return no('stale_term');
  if (t === copy.promised) {
    if (copy.owner !== from) return no('stale_term');
    return first || !copy.complete ? OK : no('out_of_sync');
  }
  if (!first) return no('out_of_sync');
  return from === viewOwner ? OK : no('not_owner');
}

/** An append from `from` at term `t` that follows offset `prev`: only the term's owner, on a complete copy, in order. */
export function decideAppend(copy: Pick<CopySummary, 'promised' | 'owner' | 'complete' | 'offset'>, t: number, from: string,
  prev: number): Decision {
  if (t < copy.promised) return no('stale_term');
  if (t > copy.promised || copy.owner !== from) return no('not_owner');
  if (!copy.complete) return no('incomplete');
  if (prev !== copy.offset) return no('out_of_sync');
  return OK;
}

/** One answer to a claim: the copy as it was before the claim raised its promise. */
export interface ClaimAnswer {
  node: string;
  copy: CopySummary;
}

/** How a new owner continues a channel: from which node's copy, and whether a new epoch must start. */
export interface Survivor {
  /** The node whose copy to continue from (it may be this node), or null when there is none. */
  source: string | null;
  /** Acknowledged messages may be gone (no complete copy of the newest term is reachable): start a new epoch. */
  newEpoch: boolean;
  /** The node whose config and bans to keep when a new epoch starts (the newest copy, even a partial one). */
  settingsFrom: string | null;
}

/**
 * Picks the copy a new owner continues from. Acknowledged writes of term T are on the owner and the replica of T,
 * so the newest complete copy holds them all, unless a newer term was ACTIVE (its owner had brought a replica up
 * to date under it and told the nodes that may take over next): then that term's copies may hold acknowledged
 * writes nobody here has, and the stream continues under a new epoch (a signalled gap). A term that was only
 * claimed (its claimer died before its replica was up to date) acknowledged nothing and forces nothing.
 */
export function chooseSurvivor(answers: ClaimAnswer[]): Survivor {
  let best: ClaimAnswer | null = null;
  let settings: ClaimAnswer | null = null;
  let active = 0;
  let anyState = false;
  for (const a of answers) {
    const c = a.copy;
    active = Math.max(active, c.active, c.complete ? c.term : 0);
    if (c.hasState) anyState = true;
    if (c.hasState && (!settings || c.term > settings.copy.term)) settings = a;
    if (!c.complete || c.epoch === null) continue;
    if (!best || c.term > best.copy.term || (c.term === best.copy.term && c.offset > best.copy.offset)) best = a;
  }
  if (best && best.copy.term >= active) return { source: best.node, newEpoch: false, settingsFrom: best.node };
  // No stream survives: a fresh channel (nothing anywhere) or lost data (a new epoch, signalled to resuming clients).
  return { source: null, newEpoch: anyState || active > 0, settingsFrom: settings?.node ?? null };
}

/** How an owner brings a replica up to date: send everything, or only what follows `from`. */
export type SyncPlan = { mode: 'reset' } | { mode: 'resume'; from: number };

/**
 * Resume when the replica's copy is complete, of the same epoch, not ahead of the owner, and its last message was
 * written in the same term as the owner's message at that offset (so everything before it is the same too).
 */
export function syncPlan(owner: { epoch: string | null; offset: number; termAt(offset: number): number | undefined },
  replica: CopySummary): SyncPlan {
  if (!replica.complete || replica.epoch === null || replica.epoch !== owner.epoch || replica.offset > owner.offset) return { mode: 'reset' };
  if (replica.offset === 0) return { mode: 'resume', from: 0 };
  const t = owner.termAt(replica.offset);
  if (t === undefined || replica.lastTerm === 0 || t !== replica.lastTerm) return { mode: 'reset' };
  return { mode: 'resume', from: replica.offset };
}
