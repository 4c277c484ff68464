// The Lifeguard failure detector on a simulated full mesh: real LifeguardDetector instances, one hand-moved
// clock, a fake network that can kill a node (its port refuses probes, nothing more arrives), stall one (it
// neither ticks nor reads; what was sent to it waits, then its timer fires late and its inbox is read, in
// the order Node runs timers before I/O), or cut a single link. Deterministic: no real time passes.
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { test } from 'node:test';
import type { DeathReason } from '../../lib/cluster/failure/failure-detector.js';
import { BEATS_PER_TICK, LifeguardDetector } from '../../lib/cluster/failure/lifeguard-detector.js';
import { decodeControl, encodeControl, type ControlMessage } from '../../lib/cluster/failure/messages.js';
import type { PeerAddress } from '../../lib/cluster/failure/port-probe.js';

const HEARTBEAT = 250;
const FAILURE_TIMEOUT = 3000;
const LATENCY = 1;

interface Death { at: number; by: number; of: number; reason: DeathReason }

interface SimNode {
  index: number;
  id: string;
  det: LifeguardDetector;
  view: Set<number>;
  killed: boolean;
  stalledUntil: number;
  inbox: Array<() => void>;
}

class Sim {
  readonly clock = { t: 0, now(): number { return this.t; } };
  readonly nodes: SimNode[] = [];
  readonly deaths: Death[] = [];
  /** Heartbeats sent, over all nodes. */
  beats = 0;
  /** Pairs "a-b" (a < b) whose frames are dropped both ways. */
  readonly cut = new Set<string>();
  private events: Array<{ at: number; seq: number; run: () => void }> = [];
  private seq = 0;

  /** Nodes whose address refuses probes although they run (a NAT or firewall in the way). */
  readonly refusing: Set<number>;

  constructor(n: number, opts: { probe?: boolean; probeMs?: number; refusing?: number[] } = {}) {
    this.refusing = new Set(opts.refusing);
    const ids = Array.from({ length: n }, (_, i) => createHash('sha256').update(`sim-${i}`).digest('hex'));
    let state = 42;
    const random = (): number => ((state = (state * 1103515245 + 12345) & 0x7fffffff) / 0x80000000);
    for (let i = 0; i < n; i++) {
      const node: SimNode = { index: i, id: ids[i]!, det: null!, view: new Set(), killed: false, stalledUntil: 0, inbox: [] };
      node.det = new LifeguardDetector({
        self: node.id, heartbeatMs: HEARTBEAT, failureTimeoutMs: FAILURE_TIMEOUT, clock: this.clock, random,
        probe: opts.probe === false ? null : (address: PeerAddress) => new Promise<boolean>((resolve) => {
          const answer = () => resolve(this.nodes[address.port]!.killed || this.refusing.has(address.port));
          if (opts.probeMs) this.at(this.clock.t + opts.probeMs, answer);
          else answer();
        }),
        links: {
          send: (to, payload) => this.send(i, ids.indexOf(to), Buffer.from(payload)),
          dead: (id, reason) => this.dead(i, ids.indexOf(id), reason),
        },
      });
      this.nodes.push(node);
    }
    for (const a of this.nodes) {
      for (const b of this.nodes) {
        if (a === b) continue;
        a.view.add(b.index);
        a.det.add(b.id, () => ({ host: 'sim', port: b.index }));
      }
      this.scheduleTick(a, ((a.index * 97) % HEARTBEAT) + 1);
    }
  }

  at(at: number, run: () => void): void {
    this.events.push({ at, seq: this.seq++, run });
    this.events.sort((x, y) => x.at - y.at || x.seq - y.seq);
  }

  /** Runs every event up to time `t`, letting promise callbacks (probe answers) settle after each. */
  async runUntil(t: number): Promise<void> {
    while (this.events.length > 0 && this.events[0]!.at <= t) {
      const e = this.events.shift()!;
      this.clock.t = e.at;
      e.run();
      for (let i = 0; i < 4; i++) await Promise.resolve();
    }
    this.clock.t = t;
  }

  kill(i: number): void {
    this.nodes[i]!.killed = true;
  }

  /** Node `i` stops running from now for `ms`. */
  stall(i: number, ms: number): void {
    this.nodes[i]!.stalledUntil = this.clock.t + ms;
  }

  stats(i: number) {
    return this.nodes[i]!.det.stats();
  }

  private scheduleTick(node: SimNode, at: number): void {
    this.at(at, () => {
      if (node.killed) return;
      if (this.clock.t < node.stalledUntil) {
        // Node runs expired timers first, then reads what arrived meanwhile.
        return this.at(node.stalledUntil, () => {
          node.det.tick();
          for (const deliver of node.inbox.splice(0)) deliver();
          this.scheduleTick(node, this.clock.t + HEARTBEAT);
        });
      }
      node.det.tick();
      this.scheduleTick(node, this.clock.t + HEARTBEAT);
    });
  }

  private linked(a: number, b: number): boolean {
    return this.nodes[a]!.view.has(b) && this.nodes[b]!.view.has(a) && !this.cut.has(`${Math.min(a, b)}-${Math.max(a, b)}`);
  }

  private send(from: number, to: number, payload: Buffer): void {
    if (decodeControl(payload)?.type === 'heartbeat') this.beats++;
    if (!this.linked(from, to)) return;
    this.at(this.clock.t + LATENCY, () => this.arrive(to, () => {
      const node = this.nodes[to]!;
      if (!node.view.has(from)) return;
      node.det.heard(this.nodes[from]!.id);
      assert.ok(node.det.receive(this.nodes[from]!.id, payload));
    }));
  }

  private arrive(to: number, deliver: () => void): void {
    const node = this.nodes[to]!;
    if (node.killed) return;
    if (this.clock.t < node.stalledUntil) node.inbox.push(deliver);
    else deliver();
  }

  private dead(by: number, of: number, reason: DeathReason): void {
    this.deaths.push({ at: this.clock.t, by, of, reason });
    this.nodes[by]!.view.delete(of);
    // The membership closes the link: the other end sees it close (if it still runs) and drops this node.
    this.at(this.clock.t + LATENCY, () => this.arrive(of, () => {
      const node = this.nodes[of]!;
      node.view.delete(by);
      node.det.remove(this.nodes[by]!.id);
    }));
  }
}

test('an idle cluster of 5 exchanges heartbeats for a minute without a single suspicion', async () => {
  const sim = new Sim(5);
  await sim.runUntil(60_000);
  assert.deepEqual(sim.deaths, []);
  for (const n of sim.nodes) {
    assert.deepEqual(n.det.stats(), { suspicions: 0, recovered: 0, refutations: 0, deaths: 0, refusedDeaths: 0, healthMultiplier: 1 });
    assert.ok(sim.clock.t - n.det.lastHeard(sim.nodes[(n.index + 1) % 5]!.id)! <= HEARTBEAT + LATENCY);
  }
});

test('a killed node is declared dead by every survivor within about 1 s, confirmed by its closed port', async () => {
  const sim = new Sim(5);
  await sim.runUntil(5000);
  sim.kill(2);
  await sim.runUntil(15_000);
  assert.equal(sim.deaths.length, 4, JSON.stringify(sim.deaths));
  for (const d of sim.deaths) {
    assert.equal(d.of, 2);
    assert.equal(d.reason, 'refused');
    // silent for 3 beats (750 ms), noticed at the next tick (< 250 ms later), probe answered at once
    assert.ok(d.at - 5000 > 3 * HEARTBEAT - HEARTBEAT && d.at - 5000 <= 4 * HEARTBEAT + 2 * LATENCY, `dead after ${d.at - 5000} ms`);
  }
  for (const n of sim.nodes.filter((x) => x.index !== 2)) assert.deepEqual([...n.view].sort(), [0, 1, 3, 4].filter((i) => i !== n.index));
});

test('in a cluster of 40, each node beats at most 16 peers per interval: idle for a minute without a suspicion, a kill still found in 3 s', async () => {
  const n = 40;
  const sim = new Sim(n);
  await sim.runUntil(60_000);
  assert.equal(sim.deaths.length, 0, JSON.stringify(sim.deaths));
  for (const node of sim.nodes) assert.equal(node.det.stats().suspicions, 0);
  const ticks = 60_000 / HEARTBEAT + 1;
  assert.ok(sim.beats <= n * BEATS_PER_TICK * ticks, `${sim.beats} heartbeats in a minute: at most ${BEATS_PER_TICK} per node and interval`);
  assert.ok(sim.beats < n * (n - 1) * ticks / 2, 'fewer than half of what beating every peer every interval sends');
  // Each peer hears from each node every ceil(39 / 16) = 3 intervals: silent for 3 of those (2.25 s) is suspected.
  sim.kill(7);
  await sim.runUntil(65_000);
  assert.equal(sim.deaths.length, n - 1, JSON.stringify(sim.deaths));
  for (const d of sim.deaths) {
    assert.equal(d.of, 7);
    assert.equal(d.reason, 'refused');
    assert.ok(d.at - 60_000 <= 3000 + 2 * LATENCY, `dead after ${d.at - 60_000} ms`);
  }
});

test('without address probes, a killed node dies when its confirmed suspicion runs out (failure timeout)', async () => {
  const sim = new Sim(5, { probe: false });
  await sim.runUntil(5000);
  sim.kill(0);
  await sim.runUntil(20_000);
  assert.equal(sim.deaths.length, 4);
  for (const d of sim.deaths) {
    assert.equal(d.reason, 'timeout');
    const after = d.at - 5000;
    // suspected after 3-4 beats; the other three survivors confirm at once, so the suspicion lasts its minimum
    assert.ok(after >= FAILURE_TIMEOUT + 2 * HEARTBEAT && after <= FAILURE_TIMEOUT + 4 * HEARTBEAT + 10, `dead after ${after} ms`);
  }
});

test('with nobody to confirm (two nodes) the suspicion lasts the failure timeout; nobody dies early', async () => {
  const sim = new Sim(2, { probe: false });
  await sim.runUntil(2000);
  sim.kill(1);
  await sim.runUntil(2000 + FAILURE_TIMEOUT);
  assert.equal(sim.deaths.length, 0);
  await sim.runUntil(10_000);
  assert.equal(sim.deaths.length, 1);
  assert.ok(sim.deaths[0]!.at - 2000 <= FAILURE_TIMEOUT + 4 * HEARTBEAT + 10);
});

test('a node stalled for 2.5 s is suspected but not declared dead, refutes, and accuses nobody when it wakes', async () => {
  const sim = new Sim(5);
  await sim.runUntil(5000);
  sim.stall(3, 2500);
  await sim.runUntil(20_000);
  assert.deepEqual(sim.deaths, []);
  for (const n of sim.nodes) assert.equal(n.view.size, 4);
  const stalled = sim.stats(3);
  assert.equal(stalled.suspicions, 0, 'the stalled node did not take its own stall for the others\' silence');
  assert.equal(stalled.refutations, 1, 'it refuted the suspicion once (one incarnation bump)');
  assert.equal(sim.nodes[3]!.det.selfIncarnation, 1);
  for (const i of [0, 1, 2, 4]) {
    assert.equal(sim.stats(i).suspicions, 1, `node ${i} suspected the stalled node`);
    assert.equal(sim.stats(i).recovered, 1);
  }
});

test('the stalled node raises its own timeouts for a while after waking (local health)', async () => {
  const sim = new Sim(3);
  await sim.runUntil(3000);
  sim.stall(0, 2500);
  await sim.runUntil(5500 + 1);
  assert.ok(sim.stats(0).healthMultiplier > 1, `multiplier ${sim.stats(0).healthMultiplier}`);
  await sim.runUntil(15_000);
  assert.equal(sim.stats(0).healthMultiplier, 1, 'healthy again after some punctual ticks');
  assert.deepEqual(sim.deaths, []);
});

test('a node stalled longer than the failure timeout is declared dead (busy forever is dead)', async () => {
  const sim = new Sim(4);
  await sim.runUntil(2000);
  sim.stall(1, 8000);
  await sim.runUntil(20_000);
  const of1 = sim.deaths.filter((d) => d.of === 1);
  assert.equal(of1.length, 3);
  for (const d of of1) assert.equal(d.reason, 'timeout');
  // when it wakes its links are closed: it drops the others too, without counting them as deaths
  assert.equal(sim.nodes[1]!.view.size, 0);
  assert.equal(sim.stats(1).deaths, 0);
});

test('a node killed while its address is being calibrated is still found dead by its closed port', async () => {
  const sim = new Sim(4, { probeMs: 50 });
  await sim.runUntil(10);
  sim.kill(1);
  await sim.runUntil(10_000);
  assert.equal(sim.deaths.length, 3);
  for (const d of sim.deaths) assert.equal(d.reason, 'refused');
  for (const d of sim.deaths) assert.ok(d.at < 1100, `dead at ${d.at} ms`);
});

test('an address that refuses probes while its node runs is never trusted: a stall there is no death', async () => {
  const sim = new Sim(4, { refusing: [2] });
  await sim.runUntil(3000);
  sim.stall(2, 2500);
  await sim.runUntil(12_000);
  assert.equal(sim.deaths.length, 0, JSON.stringify(sim.deaths));
  sim.kill(2);
  await sim.runUntil(25_000);
  assert.equal(sim.deaths.length, 3);
  for (const d of sim.deaths) assert.equal(d.reason, 'timeout', 'the refusing address was not believed');
});

test('a single broken link is bridged by indirect probes: no death while the others still hear the peer', async () => {
  const sim = new Sim(4);
  await sim.runUntil(2000);
  sim.cut.add('0-2');
  await sim.runUntil(30_000);
  assert.deepEqual(sim.deaths, []);
  assert.ok(sim.stats(0).suspicions >= 2 && sim.stats(0).recovered === sim.stats(0).suspicions, JSON.stringify(sim.stats(0)));
});

test('control messages round-trip; malformed ones are refused', () => {
  const id = 'ab'.repeat(32);
  const messages: ControlMessage[] = [
    { type: 'heartbeat', incarnation: 0 },
    { type: 'heartbeat', incarnation: 0xfffffffe },
    { type: 'suspect', target: id, incarnation: 7 },
    { type: 'ping-req', seq: 1, target: id },
    { type: 'ping-ack', seq: 9, target: id, agoMs: 123, incarnation: 2 },
    { type: 'ping-ack', seq: 9, target: id, agoMs: null, incarnation: 0 },
  ];
  for (const m of messages) assert.deepEqual(decodeControl(encodeControl(m)), m);
  assert.equal(encodeControl({ type: 'heartbeat', incarnation: 1 }).length, 5);
  for (const bad of [Buffer.alloc(0), Buffer.from([0]), Buffer.from([9, 0, 0, 0, 0]), Buffer.from([1, 0, 0, 0]),
    encodeControl({ type: 'suspect', target: id, incarnation: 1 }).subarray(0, 20)]) {
    assert.equal(decodeControl(bad), null, bad.toString('hex'));
  }
});

test('a suspicion at an old incarnation is answered, not refuted again', () => {
  const sent: Array<[string, ControlMessage]> = [];
  const self = 'cd'.repeat(32);
  const peer = 'ef'.repeat(32);
  const det = new LifeguardDetector({
    self, heartbeatMs: HEARTBEAT, failureTimeoutMs: FAILURE_TIMEOUT, probe: null, clock: { now: () => 0 },
    links: { send: (to, p) => sent.push([to, decodeControl(p)!]), dead: () => assert.fail('nobody dies') },
  });
  det.add(peer, () => null);
  assert.equal(det.receive(peer, encodeControl({ type: 'suspect', target: self, incarnation: 0 })), true);
  assert.equal(det.selfIncarnation, 1);
  assert.deepEqual(sent, [[peer, { type: 'heartbeat', incarnation: 1 }]]);
  sent.length = 0;
  det.receive(peer, encodeControl({ type: 'suspect', target: self, incarnation: 0 }));
  assert.equal(det.selfIncarnation, 1, 'stale suspicion: no second bump');
  assert.deepEqual(sent, [[peer, { type: 'heartbeat', incarnation: 1 }]]);
  assert.equal(det.stats().refutations, 1);
  assert.equal(det.receive(peer, Buffer.from([4, 1])), false);
});

test('another member\'s SUSPECT makes a node probe at once: a crash is found before its own (scaled) suspicion, a stall is not a death', async () => {
  const ids = ['self', 'crashed', 'witness', 'stalled'].map((s) => createHash('sha256').update(s).digest('hex'));
  const [self, crashed, witness, stalled] = ids as [string, string, string, string];
  const clock = { t: 0, now(): number { return this.t; } };
  const gone = new Set<string>();
  const deaths: Array<{ id: string; reason: DeathReason; at: number }> = [];
  const det = new LifeguardDetector({
    self, heartbeatMs: HEARTBEAT, failureTimeoutMs: FAILURE_TIMEOUT, clock,
    probe: async (a: PeerAddress) => gone.has(ids[a.port]!),
    links: { send: () => {}, dead: (id, reason) => deaths.push({ id, reason, at: clock.t }) },
  });
  for (const id of [crashed, witness, stalled]) det.add(id, () => ({ host: 'sim', port: ids.indexOf(id) }));
  const settle = async () => { for (let i = 0; i < 4; i++) await Promise.resolve(); };
  await settle(); // calibration: every address answers (nothing refuses) -> probes usable
  clock.t = 50;
  for (const id of [crashed, witness, stalled]) det.heard(id);
  clock.t = 100; // far below 3 heartbeats: this node suspects nobody yet
  gone.add(crashed);
  det.receive(witness, encodeControl({ type: 'suspect', target: crashed, incarnation: 0 }));
  det.receive(witness, encodeControl({ type: 'suspect', target: stalled, incarnation: 0 }));
  await settle();
  assert.deepEqual(deaths, [{ id: crashed, reason: 'refused', at: 100 }]);
  assert.equal(det.stats().suspicions, 0, 'no suspicion of its own was needed');
  assert.equal(det.lastHeard(stalled), 50, 'the stalled peer (its port silent) is still a member');
  det.stop();
});
