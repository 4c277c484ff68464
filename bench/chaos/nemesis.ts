/**
 * The nemesis: K rounds of faults on random nodes, kinds taken in turn from the `faults` list. `kill` is kill -9
 * then, after a pause, a restart on the same data dir and port; `pause` is SIGSTOP for longer than failure
 * detection, then SIGCONT; `partition` (clusters with LinkFaults only) cuts a node's link, then heals it. Each
 * round settles (the cluster converges, then a quiet period) before the next. Per fault it measures failover:
 * a probe publishes, through survivors, on a channel the victim owned (GET owner before the fault) and the
 * time from the fault to the first acknowledgement of a request sent after it is recorded, with the time until
 * the survivors' views drop the victim (detection).
 */
import { sleep } from '../support/proc.js';
import { hasLinkFaults, upNodes, type ChaosNode } from './cluster.js';
import { publishUntilAcked, type PublishContext, type RetryPolicy } from './generator.js';
import type { FaultKind, NemesisEvent } from './history.js';
import { call } from './http.js';

export interface NemesisOptions {
  rounds: number;
  /** Fault kinds, used in turn (kill,kill,pause = two kills then a pause, repeated). */
  faults: FaultKind[];
  /** How long a killed node stays down before its restart (uniform in [min, max]); the restart also waits for the probe. */
  downMs: [number, number];
  /** How long a paused (or cut off) node stays so (uniform in [min, max]). */
  pauseMs: [number, number];
  /** Quiet time after the cluster converged, before the next round. */
  settleMs: number;
  /** Deadline for convergence after a round (a miss is recorded, and the run goes on). */
  convergeMs: number;
  /** The probe gives up after this long (failover recorded as null). */
  failoverLimitMs: number;
  channels: string[];
  runId: string;
}

/** The probe's retries: short deadlines and no Retry-After wait, so the measurement resolves to ~100 ms. */
const probePolicy = (limitMs: number): RetryPolicy => ({ requestTimeoutMs: 1000, retryForMs: limitMs, minBackoffMs: 20, maxBackoffMs: 100, honourRetryAfter: false });

export class Nemesis {
  /** What it is doing now, for progress lines. */
  status = 'idle';

  constructor(private readonly ctx: PublishContext & { log: (msg: string) => void }, private readonly o: NemesisOptions) {
    if (o.faults.includes('partition') && !hasLinkFaults(ctx.control)) {
      throw new Error(`the partition fault needs a cluster that can cut links (--hosts mode); this one is "${ctx.control.mode}"`);
    }
  }

  async run(): Promise<void> {
    for (let r = 1; r <= this.o.rounds; r++) await this.round(r, this.o.faults[(r - 1) % this.o.faults.length]!);
    this.status = 'done';
  }

  private event(round: number, what: NemesisEvent['what'], node: number, detail?: number | string): void {
    this.ctx.history.nemesis.push({ t: this.ctx.now(), round, what, node, ...(detail === undefined ? {} : { detail }) });
  }

  private async round(r: number, kind: FaultKind): Promise<void> {
    const { control, rng } = this.ctx;
    const victim = rng.pick(upNodes(control));
    if (!victim) throw new Error('no node is up');
    const survivors = upNodes(control).filter((n) => n !== victim);
    const owned = await this.ownedBy(victim, survivors);
    const channel = rng.pick(owned) ?? null;
    this.status = `round ${r}/${this.o.rounds}: ${kind} node ${victim.index} (owns ${owned.length} channels)`;
    this.ctx.log(this.status);

    const t0 = this.ctx.now();
    if (kind === 'kill') await control.kill(victim.index);
    else if (kind === 'pause') await control.pause(victim.index);
    else if (hasLinkFaults(control)) await control.cut(victim.index);
    this.event(r, kind === 'partition' ? 'cut' : kind, victim.index);

    const detection = control.converge(this.o.failoverLimitMs).then((ms) => ms, () => null);
    const probe = this.probe(r, channel, survivors, t0);
    const hold = kind === 'kill' ? this.o.downMs : this.o.pauseMs;
    await Promise.all([sleep(rng.between(hold[0], hold[1])), kind === 'kill' ? probe : null]);

    if (kind === 'kill') {
      const t = this.ctx.now();
      await control.restart(victim.index);
      this.event(r, 'restart', victim.index, this.ctx.now() - t);
    } else if (kind === 'pause') {
      await control.resume(victim.index);
      this.event(r, 'resume', victim.index);
    } else if (hasLinkFaults(control)) {
      await control.heal(victim.index);
      this.event(r, 'heal', victim.index);
    }
    const [failoverMs, detectMs] = await Promise.all([probe, detection]);
    this.ctx.history.failovers.push({ round: r, kind, node: victim.index, channel, ms: failoverMs, detectMs });
    this.ctx.log(`round ${r}: ${kind} node ${victim.index}: failover ${failoverMs === null ? 'none' : `${failoverMs} ms`}` +
      ` (${channel ?? 'no owned channel'}), detection ${detectMs === null ? 'none' : `${detectMs} ms`}`);

    this.status = `round ${r}/${this.o.rounds}: settling`;
    try {
      this.event(r, 'converged', victim.index, await control.converge(this.o.convergeMs));
    } catch (err) {
      this.event(r, 'no-convergence', victim.index, (err as Error).message);
      this.ctx.log(`round ${r}: ${(err as Error).message}`);
    }
    await sleep(this.o.settleMs);
  }

  /** The run's channels whose owner (asked through a survivor) is `victim`. */
  private async ownedBy(victim: ChaosNode, survivors: ChaosNode[]): Promise<string[]> {
    const via = survivors[0] ?? victim;
    const owners = await Promise.all(this.o.channels.map(async (c) => {
      const r = await call(via.url, 'GET', `/v1/channels/${encodeURIComponent(c)}/owner`, this.ctx.control.apiKey, undefined, 5000);
      return r.kind === 'http' && r.status === 200 && r.body.owner === victim.id ? c : null;
    }));
    return owners.filter((c): c is string => c !== null);
  }

  /** ms from `t0` to the first acknowledged publish on `channel` through `survivors`, or null. */
  private async probe(r: number, channel: string | null, survivors: ChaosNode[], t0: number): Promise<number | null> {
    if (channel === null || survivors.length === 0) return null;
    const deadline = t0 + this.o.failoverLimitMs;
    for (let k = 1; this.ctx.now() < deadline; k++) {
      const id = `${this.o.runId}-probe-r${r}-${k}`;
      const left = deadline - this.ctx.now();
      const ack = await publishUntilAcked(this.ctx, 'probe', channel, id, { id, probe: r, k }, probePolicy(left),
        () => this.ctx.rng.pick(survivors));
      if (ack) return Math.round(ack.t - t0);
    }
    return null;
  }
}
