/** The chaos run's printed summary table and its saved JSON (what the audit found, the settings, the machine). */
import { environment } from '../support/main.js';
import { renderTable } from '../support/table.js';
import { timeStats, type Audit, type TimeStats } from './checker.js';
import type { History } from './history.js';
import type { ChaosResult, ChaosSettings } from './scenario.js';

const ms = (v: number | null) => (v === null ? '-' : `${v} ms`);
const times = (t: TimeStats | undefined) => (t ? `p50 ${ms(t.p50)}, p99 ${ms(t.p99)}, max ${ms(t.max)} (${t.measured}/${t.rounds} measured)` : '-');

/** How long restarts after kill -9 took until the node was ready (the nemesis's `restart` events). */
export function restartStats(h: History): TimeStats {
  return timeStats(h.nemesis.filter((e) => e.what === 'restart').map((e) => (typeof e.detail === 'number' ? e.detail : null)));
}

/** The audit as a two-column table; `channels` is how many channels the run used. */
export function summaryTable(a: Audit, channels: number, h?: History): string {
  const rows: Array<[string, string]> = [
    ['acknowledged publishes (distinct ids)', String(a.acked)],
    ['lost (acked, not in history at its position)', `${a.lost} (${a.lostPercent}%) on ${a.channelsWithLoss} channels`],
    ['  by kind', Object.entries(a.lostByKind).filter(([, n]) => n > 0).map(([k, n]) => `${k} ${n}`).join(', ') || '-'],
    ['duplicate ids in history', String(a.duplicates)],
    ['ids acked at two positions', String(a.inconsistentAcks)],
    ['conflicting offsets (two messages at one position)', String(a.conflictingOffsets)],
    ['subscriber silent gaps', String(a.subscribers.silentGaps)],
    ['subscriber signalled gaps', String(a.subscribers.signalledGaps)],
    ['recovered:false frames', String(a.subscribers.recoveredFalse)],
    ['repeated / orphan messages', `${a.subscribers.repeats} / ${a.subscribers.orphans}`],
    ['subscriber streams behind at the end', String(a.subscribers.behind)],
    ['channels that lost their config', `${a.configLost}/${channels}`],
    ['channels that lost their ban', `${a.bansLost}/${channels}`],
    ['failover after kill -9', times(a.failover.kill)],
    ['failover after SIGSTOP', times(a.failover.pause)],
    ['failover after a link cut', times(a.failover.partition)],
    ['detection after kill -9', times(a.failover.kill?.detection)],
    ['detection after SIGSTOP', times(a.failover.pause?.detection)],
    ['detection after a link cut', times(a.failover.partition?.detection)],
    ['restart after kill -9 until ready', h ? times(restartStats(h)) : '-'],
    ['publish attempts / gave up / rejected', `${a.publishes.attempts} / ${a.publishes.gaveUp} / ${a.publishes.rejected}`],
    ['unacked ids that did land in history', String(a.unackedInHistory)],
    ['read-back errors', String(a.readErrors.length)],
  ];
  return renderTable(['audit', 'value'], rows.map(([k, v]) => [k, v]));
}

/** The result file: headline figures first, then the details, the settings and the machine. */
export function resultJson(r: ChaosResult, s: ChaosSettings, label: string) {
  const a = r.audit;
  const f = (k: 'kill' | 'pause' | 'partition') => (a.failover[k] ? { p50: a.failover[k]!.p50, p99: a.failover[k]!.p99, max: a.failover[k]!.max, measured: a.failover[k]!.measured } : null);
  return {
    label,
    date: new Date().toISOString(),
    acked: a.acked,
    lost: a.lost,
    lostPercent: a.lostPercent,
    duplicates: a.duplicates,
    silentGaps: a.subscribers.silentGaps,
    signalledGaps: a.subscribers.signalledGaps,
    recoveredFalse: a.subscribers.recoveredFalse,
    conflictingOffsets: a.conflictingOffsets,
    configLost: a.configLost,
    bansLost: a.bansLost,
    failoverMs: { kill: f('kill'), pause: f('pause'), partition: f('partition') },
    rounds: a.rounds,
    restartMs: restartStats(r.history),
    durationMs: r.durationMs,
    loadMs: r.loadMs,
    publishesPerSec: Math.round((r.history.acks.length / Math.max(1, r.loadMs)) * 1000),
    harnessCpuPercent: r.harnessCpuPercent,
    audit: a,
    failovers: r.history.failovers,
    nemesis: r.history.nemesis,
    settings: { ...s, mode: s.hosts ? 'hosts' : 'processes' },
    environment: environment(),
  };
}
