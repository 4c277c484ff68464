/**
 * The checker: a pure function from a chaos run's history and the final read-back to the audit. No I/O, no
 * clock. It judges:
 * - every acknowledged publish is in its channel's history exactly once, at its acknowledged (epoch, offset),
 *   with its data (else lost, by LossKind);
 * - no id appears twice in a history, no id was acknowledged at two positions;
 * - no (channel, epoch, offset) was ever observed (acks, subscribers, history) holding two different messages;
 * - each subscriber's stream per channel goes +1 within an epoch, and every jump (gap or epoch change) comes
 *   after a `subscribed` frame with `recovered: false` (signalled) or not (silent); repeats are counted too;
 * - every channel's config and ban as set at the start;
 * - failover and detection times per fault kind (p50/p99/max).
 */
import { isDeepStrictEqual } from 'node:util';
import { dataId, type Ack, type FaultKind, type Frame, type History, type Position, type ReadBack } from './history.js';

/**
 * Why an acknowledged publish is missing: its epoch is gone from the channel; it is below the first retained
 * offset (history trimmed); the channel's latest offset in its epoch is now below it (rolledBack); another
 * message holds its position (overwritten); it is elsewhere in the history (moved); its position is an empty
 * hole (absent); its position holds it with other data (wrongData).
 */
export type LossKind = 'epochGone' | 'trimmed' | 'rolledBack' | 'overwritten' | 'absent' | 'moved' | 'wrongData';

export interface TimeStats { rounds: number; measured: number; p50: number | null; p99: number | null; max: number | null }

export interface Audit {
  /** Distinct ids acknowledged (the probe's included). */
  acked: number;
  /** Acknowledgements received, and how many of them said `duplicate: true`. */
  ackAnswers: number;
  duplicateAnswers: number;
  lost: number;
  lostPercent: number;
  lostByKind: Record<LossKind, number>;
  lostSample: Array<{ id: string; channel: string; epoch: string; offset: number; kind: LossKind }>;
  channelsWithLoss: number;
  /** Acknowledged ids whose channel could not be read back (not judged). */
  unverified: number;
  /** Ids acknowledged at two different positions. */
  inconsistentAcks: number;
  /** Extra copies of ids in the histories (an id twice = 1). */
  duplicates: number;
  /** Positions observed with two different messages. */
  conflictingOffsets: number;
  conflictSample: Array<{ channel: string; epoch: string; offset: number; ids: string[] }>;
  /** Ids in the final histories that were never acknowledged (answer lost or given up): allowed. */
  unackedInHistory: number;
  subscribers: {
    count: number;
    connections: number;
    messages: number;
    silentGaps: number;
    signalledGaps: number;
    /** `subscribed` frames with `recovered: false` after the first subscription (what a client is told). */
    recoveredFalse: number;
    /** A message at or below the last offset of its epoch (a repeat or out of order). */
    repeats: number;
    /** A message before any `subscribed` frame of its channel. */
    orphans: number;
    /** (subscriber, channel) pairs that did not end at the channel's final position. */
    behind: number;
    silentSample: Array<{ subscriber: string; channel: string; from: Position; to: Position; t: number }>;
  };
  configLost: number;
  configLostChannels: string[];
  bansLost: number;
  bansLostChannels: string[];
  /** Channels whose history, config or ban could not be read back. */
  readErrors: string[];
  failover: Partial<Record<FaultKind, TimeStats & { detection: TimeStats }>>;
  rounds: Partial<Record<FaultKind, number>>;
  publishes: { attempts: number; outcomes: Record<string, number>; gaveUp: number; rejected: number };
}

/** Nearest-rank quantile of sorted values. */
function quantile(sorted: number[], q: number): number | null {
  if (sorted.length === 0) return null;
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))]!;
}

export function timeStats(values: Array<number | null>): TimeStats {
  const v = values.filter((x): x is number => x !== null).sort((a, b) => a - b);
  return { rounds: values.length, measured: v.length, p50: quantile(v, 0.5), p99: quantile(v, 0.99), max: v.at(-1) ?? null };
}

/** True when every field of `patch` (recursively) has the same value in `actual`. */
export function configHolds(patch: Record<string, unknown>, actual: Record<string, unknown>): boolean {
  return Object.entries(patch).every(([k, v]) => {
    const a = actual[k];
    if (typeof v === 'object' && v !== null && !Array.isArray(v)) {
      return typeof a === 'object' && a !== null && configHolds(v as Record<string, unknown>, a as Record<string, unknown>);
    }
    return isDeepStrictEqual(a, v);
  });
}

const key = (channel: string, epoch: string, offset: number) => `${channel}\u0000${epoch}\u0000${offset}`;
const idOf = (data: unknown) => dataId(data) ?? JSON.stringify(data);

export function audit(h: History, rb: ReadBack): Audit {
  // --- what each position was seen holding, from every source
  const seen = new Map<string, Set<string>>();
  const observe = (channel: string, epoch: string, offset: number, id: string) => {
    const k = key(channel, epoch, offset);
    let s = seen.get(k);
    if (!s) seen.set(k, (s = new Set()));
    s.add(id);
  };
  for (const a of h.acks) observe(a.channel, a.epoch, a.offset, a.id);
  for (const s of h.subscribers) {
    for (const { frame: f } of s.frames) if (f.type === 'message') observe(f.channel as string, f.epoch as string, f.offset as number, idOf(f.data));
  }

  // --- the final histories, indexed
  const readErrors: string[] = [];
  const atPosition = new Map<string, Frame>();
  const idCount = new Map<string, number>();
  const firstOffset = new Map<string, number>(); // channel+epoch -> lowest retained offset
  for (const [channel, c] of Object.entries(rb.channels)) {
    if (c.error) readErrors.push(`${channel}: ${c.error}`);
    for (const m of c.messages) {
      const epoch = m.epoch as string;
      const offset = m.offset as number;
      const id = idOf(m.data);
      observe(channel, epoch, offset, id);
      atPosition.set(key(channel, epoch, offset), m);
      idCount.set(`${channel}\u0000${id}`, (idCount.get(`${channel}\u0000${id}`) ?? 0) + 1);
      const fk = `${channel}\u0000${epoch}`;
      if (offset < (firstOffset.get(fk) ?? Infinity)) firstOffset.set(fk, offset);
    }
  }

  // --- acknowledged publishes
  const byId = new Map<string, Ack[]>();
  for (const a of h.acks) {
    const list = byId.get(a.id);
    if (list) list.push(a);
    else byId.set(a.id, [a]);
  }
  const lostByKind: Record<LossKind, number> = { epochGone: 0, trimmed: 0, rolledBack: 0, overwritten: 0, absent: 0, moved: 0, wrongData: 0 };
  const lostSample: Audit['lostSample'] = [];
  const lossChannels = new Set<string>();
  let unverified = 0;
  let inconsistentAcks = 0;
  for (const [id, acks] of byId) {
    const a = acks[0]!;
    if (acks.some((x) => x.epoch !== a.epoch || x.offset !== a.offset)) inconsistentAcks++;
    const c = rb.channels[a.channel];
    if (!c || (c.error && c.messages.length === 0 && c.epoch === null)) { unverified++; continue; }
    const m = atPosition.get(key(a.channel, a.epoch, a.offset));
    let kind: LossKind | null = null;
    if (m && idOf(m.data) === id) kind = isDeepStrictEqual(m.data, a.data) ? null : 'wrongData';
    else if ((idCount.get(`${a.channel}\u0000${id}`) ?? 0) > 0) kind = 'moved';
    else if (c.epoch !== a.epoch && !firstOffset.has(`${a.channel}\u0000${a.epoch}`)) kind = 'epochGone';
    else if (a.offset < (firstOffset.get(`${a.channel}\u0000${a.epoch}`) ?? Infinity) && a.offset <= c.offset) kind = 'trimmed';
    else if (c.epoch === a.epoch && a.offset > c.offset) kind = 'rolledBack';
    else kind = m ? 'overwritten' : 'absent';
    if (kind) {
      lostByKind[kind]++;
      lossChannels.add(a.channel);
      if (lostSample.length < 20) lostSample.push({ id, channel: a.channel, epoch: a.epoch, offset: a.offset, kind });
    }
  }
  const lost = Object.values(lostByKind).reduce((x, y) => x + y, 0);
  let duplicates = 0;
  let unackedInHistory = 0;
  for (const [k, n] of idCount) {
    duplicates += n - 1;
    if (!byId.has(k.slice(k.indexOf('\u0000') + 1))) unackedInHistory++;
  }

  const conflictSample: Audit['conflictSample'] = [];
  let conflictingOffsets = 0;
  for (const [k, ids] of seen) {
    if (ids.size < 2) continue;
    conflictingOffsets++;
    const [channel, epoch, offset] = k.split('\u0000');
    if (conflictSample.length < 20) conflictSample.push({ channel: channel!, epoch: epoch!, offset: Number(offset), ids: [...ids] });
  }

  // --- config and bans
  const configLostChannels: string[] = [];
  const bansLostChannels: string[] = [];
  for (const channel of h.channels) {
    const c = rb.channels[channel];
    if (c?.config && !configHolds(h.config, c.config)) configLostChannels.push(channel);
  }
  for (const b of h.bans) if (rb.channels[b.channel]?.banHeld === false) bansLostChannels.push(b.channel);

  // --- failover and rounds
  const failover: Audit['failover'] = {};
  const rounds: Audit['rounds'] = {};
  for (const kind of new Set(h.failovers.map((f) => f.kind))) {
    const fs = h.failovers.filter((f) => f.kind === kind);
    rounds[kind] = fs.length;
    failover[kind] = { ...timeStats(fs.map((f) => f.ms)), detection: timeStats(fs.map((f) => f.detectMs)) };
  }

  const outcomes: Record<string, number> = {};
  for (const a of h.attempts) outcomes[a.outcome] = (outcomes[a.outcome] ?? 0) + 1;

  return {
    acked: byId.size,
    ackAnswers: h.acks.length,
    duplicateAnswers: h.acks.filter((a) => a.duplicate).length,
    lost,
    lostPercent: byId.size === 0 ? 0 : Math.round((lost / byId.size) * 10_000) / 100,
    lostByKind, lostSample, channelsWithLoss: lossChannels.size, unverified, inconsistentAcks,
    duplicates, conflictingOffsets, conflictSample, unackedInHistory,
    subscribers: checkStreams(h, rb),
    configLost: configLostChannels.length, configLostChannels,
    bansLost: bansLostChannels.length, bansLostChannels,
    readErrors, failover, rounds,
    publishes: { attempts: h.attempts.length, outcomes, gaveUp: h.gaveUp.length, rejected: h.rejected.length },
  };
}

/** Walks every subscriber's frames per channel (see the file comment). */
export function checkStreams(h: History, rb: ReadBack): Audit['subscribers'] {
  const out: Audit['subscribers'] = { count: h.subscribers.length, connections: 0, messages: 0, silentGaps: 0, signalledGaps: 0,
    recoveredFalse: 0, repeats: 0, orphans: 0, behind: 0, silentSample: [] };
  for (const s of h.subscribers) {
    out.connections += s.connections;
    // pos: the last message (or the first subscription's start); told: where the last recovered:false put it.
    const state = new Map<string, { pos: Position | null; signalled: boolean; told: Position | null }>();
    for (const { t, frame: f } of s.frames) {
      if (typeof f.channel !== 'string' || f.type.startsWith('>')) continue;
      let st = state.get(f.channel);
      if (!st) state.set(f.channel, (st = { pos: null, signalled: false, told: null }));
      if (f.type === 'subscribed') {
        if (st.pos === null) st.pos = { epoch: f.epoch as string, offset: f.offset as number };
        else if (f.recovered === false) {
          out.recoveredFalse++;
          st.signalled = true;
          st.told = { epoch: f.epoch as string, offset: f.offset as number };
        }
      } else if (f.type === 'message') {
        out.messages++;
        const m = { epoch: f.epoch as string, offset: f.offset as number };
        if (st.pos === null) {
          out.orphans++;
        } else if (m.epoch === st.pos.epoch && m.offset === st.pos.offset + 1) {
          st.signalled = false;
        } else if (m.epoch === st.pos.epoch && m.offset <= st.pos.offset) {
          out.repeats++;
          continue;
        } else if (st.signalled) {
          out.signalledGaps++;
          st.signalled = false;
        } else {
          out.silentGaps++;
          if (out.silentSample.length < 20) out.silentSample.push({ subscriber: s.name, channel: f.channel, from: st.pos, to: m, t });
        }
        st.pos = m;
      }
    }
    for (const channel of h.channels) {
      const end = rb.channels[channel];
      if (!end || end.epoch === null) continue;
      const st = state.get(channel);
      // A recovered:false with no message after it leaves the client where that frame said.
      const pos = st?.signalled && st.told ? st.told : st?.pos;
      if (!pos || pos.epoch !== end.epoch || pos.offset < end.offset) out.behind++;
    }
  }
  return out;
}
