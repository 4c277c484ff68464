// The chaos checker (bench/chaos/checker.ts) on hand-made histories: a clean run audits clean, and each kind of
// failure (lost by each cause, duplicate ids, two positions for one id, two messages at one offset, silent and
// signalled gaps, repeats, streams left behind, config and bans lost, unreadable channels) is counted as such.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { audit, configHolds, timeStats } from '../../bench/chaos/checker.js';
import { emptyHistory, type Ack, type ChannelReadBack, type Frame, type History, type ReadBack } from '../../bench/chaos/history.js';

const CONFIG = { history: { size: 10_000, ttlSeconds: 86_400 }, maxSubscribers: 1000 };
const FULL_CONFIG = { private: false, maxSubscribers: 1000, clientPublish: false, history: { size: 10_000, ttlSeconds: 86_400 }, presence: true, deliverHook: false };

const data = (id: string) => ({ id, p: 0, seq: Number(id.replace(/\D/g, '')) || 0 });
const ack = (channel: string, epoch: string, offset: number, id: string, extra: Partial<Ack> = {}): Ack =>
  ({ t: offset, publisher: 'p0', channel, id, epoch, offset, duplicate: false, node: 0, data: data(id), ...extra });
const msg = (channel: string, epoch: string, offset: number, id: string, d: unknown = data(id)): Frame =>
  ({ type: 'message', channel, epoch, offset, data: d });
const sub = (channel: string, epoch: string, offset: number, recovered = false, resumed = false): Frame =>
  ({ type: 'subscribed', channel, epoch, offset, recovered, ...(resumed ? { resumed } : {}) });

function channelBack(epoch: string, messages: Frame[], over: Partial<ChannelReadBack> = {}): ChannelReadBack {
  return { epoch, offset: Math.max(0, ...messages.map((m) => m.offset as number)), messages, config: FULL_CONFIG, banHeld: true, ...over };
}

/** One channel `a`, epoch e1, ids m1..m3 acknowledged at 1..3; one subscriber that saw all of them. */
function cleanRun(): { h: History; rb: ReadBack } {
  const h = emptyHistory(['a'], CONFIG, [{ channel: 'a', user: 'banned-0' }]);
  h.acks.push(ack('a', 'e1', 1, 'm1'), ack('a', 'e1', 2, 'm2'), ack('a', 'e1', 3, 'm3'));
  h.attempts.push(...h.acks.map((a) => ({ t: a.t, publisher: a.publisher, channel: a.channel, id: a.id, node: 0, attempt: 1, outcome: 'ack', ms: 1 })));
  const history = [msg('a', 'e1', 1, 'm1'), msg('a', 'e1', 2, 'm2'), msg('a', 'e1', 3, 'm3')];
  h.subscribers.push({ name: 's0', user: 'reader-0', connections: 1, frames: [sub('a', 'e1', 0), ...history].map((frame, t) => ({ t, conn: 1, frame })) });
  return { h, rb: { channels: { a: channelBack('e1', history) } } };
}

const frames = (h: History, list: Frame[]) => {
  h.subscribers[0]!.frames = list.map((frame, t) => ({ t, conn: 1, frame }));
};

test('a clean run audits clean', () => {
  const { h, rb } = cleanRun();
  const a = audit(h, rb);
  assert.equal(a.acked, 3);
  assert.equal(a.lost, 0);
  assert.equal(a.duplicates, 0);
  assert.equal(a.conflictingOffsets, 0);
  assert.equal(a.inconsistentAcks, 0);
  assert.deepEqual({ ...a.subscribers, silentSample: [] }, {
    count: 1, connections: 1, messages: 3, silentGaps: 0, signalledGaps: 0, recoveredFalse: 0, repeats: 0, orphans: 0, behind: 0, silentSample: [],
  });
  assert.equal(a.configLost, 0);
  assert.equal(a.bansLost, 0);
  assert.deepEqual(a.publishes, { attempts: 3, outcomes: { ack: 3 }, gaveUp: 0, rejected: 0 });
});

test('each way an acknowledged publish can be missing is counted as lost, by kind', () => {
  const cases: Array<{ name: string; kind: string; lost: number; history: Frame[]; epoch?: string }> = [
    { name: 'its epoch is gone', kind: 'epochGone', lost: 3, history: [msg('a', 'e2', 1, 'x1')], epoch: 'e2' },
    { name: 'trimmed below the first retained offset', kind: 'trimmed', lost: 2, history: [msg('a', 'e1', 3, 'm3')] },
    { name: 'another message holds its offset', kind: 'overwritten', lost: 1, history: [msg('a', 'e1', 1, 'm1'), msg('a', 'e1', 2, 'other'), msg('a', 'e1', 3, 'm3')] },
    { name: 'the stream now ends below it', kind: 'rolledBack', lost: 2, history: [msg('a', 'e1', 1, 'm1')] },
    { name: 'a hole at its offset', kind: 'absent', lost: 1, history: [msg('a', 'e1', 1, 'm1'), msg('a', 'e1', 3, 'm3')] },
    { name: 'the id sits at another offset', kind: 'moved', lost: 1, history: [msg('a', 'e1', 1, 'm1'), msg('a', 'e1', 3, 'm3'), msg('a', 'e1', 4, 'm2')] },
    { name: 'its offset holds it with other data', kind: 'wrongData', lost: 1, history: [msg('a', 'e1', 1, 'm1'), msg('a', 'e1', 2, 'm2', { id: 'm2', p: 9 }), msg('a', 'e1', 3, 'm3')] },
  ];
  for (const c of cases) {
    const { h } = cleanRun();
    h.subscribers.length = 0;
    const a = audit(h, { channels: { a: channelBack(c.epoch ?? 'e1', c.history) } });
    assert.equal(a.lost, c.lost, c.name);
    assert.equal(a.lostByKind[c.kind as keyof typeof a.lostByKind], c.lost, `${c.name}: ${JSON.stringify(a.lostByKind)}`);
    assert.equal(a.lostSample[0]!.kind, c.kind, c.name);
    assert.equal(a.channelsWithLoss, 1, c.name);
  }
});

test('duplicate ids, one id acknowledged at two positions, and two messages at one position are counted', () => {
  const { h, rb } = cleanRun();
  rb.channels.a!.messages.push(msg('a', 'e1', 4, 'm2'));
  rb.channels.a!.offset = 4;
  assert.equal(audit(h, rb).duplicates, 1, 'm2 twice in the history');

  const two = cleanRun();
  two.h.acks.push(ack('a', 'e1', 3, 'm1', { duplicate: true }));
  const a2 = audit(two.h, two.rb);
  assert.equal(a2.inconsistentAcks, 1);
  assert.equal(a2.acked, 3);
  assert.equal(a2.ackAnswers, 4);
  assert.equal(a2.duplicateAnswers, 1);
  assert.equal(a2.conflictingOffsets, 1, 'offset 3 was acknowledged to m1 and holds m3');

  const seen = cleanRun();
  frames(seen.h, [sub('a', 'e1', 0), msg('a', 'e1', 1, 'm1'), msg('a', 'e1', 2, 'ghost'), msg('a', 'e1', 3, 'm3')]);
  const a3 = audit(seen.h, seen.rb);
  assert.equal(a3.conflictingOffsets, 1);
  assert.deepEqual(a3.conflictSample[0], { channel: 'a', epoch: 'e1', offset: 2, ids: ['m2', 'ghost'] });
  assert.equal(a3.lost, 0, 'the history itself is right');
});

test('subscriber streams: silent gaps, signalled gaps, silent epoch changes, repeats, orphans, streams behind', () => {
  const run = (list: Frame[]) => {
    const { h, rb } = cleanRun();
    frames(h, list);
    return audit(h, rb).subscribers;
  };
  const silent = run([sub('a', 'e1', 0), msg('a', 'e1', 1, 'm1'), msg('a', 'e1', 3, 'm3')]);
  assert.equal(silent.silentGaps, 1);
  assert.deepEqual(silent.silentSample[0]!.from, { epoch: 'e1', offset: 1 });
  assert.deepEqual(silent.silentSample[0]!.to, { epoch: 'e1', offset: 3 });

  const signalled = run([sub('a', 'e1', 0), msg('a', 'e1', 1, 'm1'), sub('a', 'e1', 3, false, true), msg('a', 'e1', 3, 'm3')]);
  assert.equal(signalled.silentGaps, 0);
  assert.equal(signalled.signalledGaps, 1);
  assert.equal(signalled.recoveredFalse, 1);

  // recovered:false that turns out to need no jump is a signal, not a gap.
  const noJump = run([sub('a', 'e1', 0), msg('a', 'e1', 1, 'm1'), sub('a', 'e1', 1, false, true), msg('a', 'e1', 2, 'm2'), msg('a', 'e1', 3, 'm3')]);
  assert.equal(noJump.recoveredFalse, 1);
  assert.equal(noJump.signalledGaps, 0);
  assert.equal(noJump.silentGaps, 0);

  // An epoch change after recovered:true is silent, even at the "next" offset.
  const epoch = run([sub('a', 'e1', 0), msg('a', 'e1', 1, 'm1'), sub('a', 'e1', 1, true, true), msg('a', 'e9', 2, 'm2'), msg('a', 'e1', 3, 'm3')]);
  assert.equal(epoch.silentGaps, 2, 'e1 -> e9, then e9 -> e1');

  // A resubscribe answered recovered:true that replays from since+1 is seamless.
  const resumed = run([sub('a', 'e1', 0), msg('a', 'e1', 1, 'm1'), { type: '>subscribe', channel: 'a', since: { epoch: 'e1', offset: 1 } },
    sub('a', 'e1', 3, true), msg('a', 'e1', 2, 'm2'), msg('a', 'e1', 3, 'm3')]);
  assert.equal(resumed.silentGaps + resumed.signalledGaps + resumed.repeats, 0);

  const repeats = run([sub('a', 'e1', 0), msg('a', 'e1', 1, 'm1'), msg('a', 'e1', 2, 'm2'), msg('a', 'e1', 2, 'm2'), msg('a', 'e1', 3, 'm3')]);
  assert.equal(repeats.repeats, 1);
  assert.equal(repeats.silentGaps, 0);

  const orphan = run([msg('a', 'e1', 1, 'm1'), sub('a', 'e1', 1), msg('a', 'e1', 2, 'm2'), msg('a', 'e1', 3, 'm3')]);
  assert.equal(orphan.orphans, 1);

  const behind = run([sub('a', 'e1', 0), msg('a', 'e1', 1, 'm1'), msg('a', 'e1', 2, 'm2')]);
  assert.equal(behind.behind, 1);
  assert.equal(behind.silentGaps, 0);
  // Told by a last recovered:false that the stream is at e1:3: at the end, not behind.
  const told = run([sub('a', 'e1', 0), msg('a', 'e1', 1, 'm1'), sub('a', 'e1', 3, false, true)]);
  assert.equal(told.behind, 0);
  assert.equal(told.recoveredFalse, 1);
  const toldOld = run([sub('a', 'e1', 0), msg('a', 'e1', 1, 'm1'), sub('a', 'e1', 2, false, true)]);
  assert.equal(toldOld.behind, 1);
});

test('configs and bans that did not survive are counted; unreadable channels are not judged', () => {
  const { h, rb } = cleanRun();
  rb.channels.a!.config = { ...FULL_CONFIG, history: { size: 100, ttlSeconds: 300 } };
  rb.channels.a!.banHeld = false;
  const a = audit(h, rb);
  assert.equal(a.configLost, 1);
  assert.deepEqual(a.configLostChannels, ['a']);
  assert.equal(a.bansLost, 1);

  const unread = cleanRun();
  unread.rb.channels.a = { epoch: null, offset: 0, messages: [], config: null, banHeld: null, error: 'history: timeout' };
  const u = audit(unread.h, unread.rb);
  assert.equal(u.lost, 0);
  assert.equal(u.unverified, 3);
  assert.equal(u.configLost, 0);
  assert.equal(u.bansLost, 0);
  assert.deepEqual(u.readErrors, ['a: history: timeout']);
});

test('configHolds compares only the fields the operator set, recursively', () => {
  const rows: Array<[Record<string, unknown>, Record<string, unknown>, boolean]> = [
    [CONFIG, FULL_CONFIG, true],
    [CONFIG, { ...FULL_CONFIG, maxSubscribers: 0 }, false],
    [CONFIG, { ...FULL_CONFIG, history: { size: 10_000, ttlSeconds: 300 } }, false],
    [CONFIG, { ...FULL_CONFIG, history: undefined }, false],
    [{ private: true }, { private: true, other: 1 }, true],
  ];
  for (const [patch, actual, want] of rows) assert.equal(configHolds(patch, actual), want, JSON.stringify({ patch, actual }));
});

test('failover times: p50/p99/max over the measured rounds; rounds without a measurement are counted', () => {
  assert.deepEqual(timeStats([]), { rounds: 0, measured: 0, p50: null, p99: null, max: null });
  assert.deepEqual(timeStats([300, null, 100, 200]), { rounds: 4, measured: 3, p50: 200, p99: 300, max: 300 });
  const many = Array.from({ length: 200 }, (_, i) => i + 1);
  assert.deepEqual(timeStats(many), { rounds: 200, measured: 200, p50: 100, p99: 198, max: 200 });

  const { h, rb } = cleanRun();
  h.failovers.push({ round: 1, kind: 'kill', node: 0, channel: 'a', ms: 3000, detectMs: 2900 },
    { round: 2, kind: 'pause', node: 1, channel: null, ms: null, detectMs: 3100 },
    { round: 3, kind: 'kill', node: 2, channel: 'a', ms: 1000, detectMs: 900 });
  const a = audit(h, rb);
  assert.deepEqual(a.rounds, { kill: 2, pause: 1 });
  assert.equal(a.failover.kill!.p50, 1000);
  assert.equal(a.failover.kill!.max, 3000);
  assert.equal(a.failover.kill!.detection.max, 2900);
  assert.equal(a.failover.pause!.measured, 0);
});
