import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { Prepared, PreparedRun } from '../../lib/protocol/prepared.js';
import type { Message } from '../../lib/protocol/types.js';
import { FanOut } from '../../lib/session/fanout.js';
import { Hub } from '../../lib/session/hub.js';
import { Session, type Connection, type RunWriter } from '../../lib/session/session.js';

/** A client edge that records what it was sent: `writes` counts calls (one write each), `offsets` what arrived. */
class Recorder implements Connection, RunWriter {
  readonly kind = 'ws' as const;
  writes = 0;
  readonly offsets: number[] = [];
  /** `channel:offset` of every message, in arrival order. */
  readonly received: string[] = [];
  constructor(private busyMs = 0) {}
  busyMsNow(ms: number): void { this.busyMs = ms; }
  send(frame: Prepared): void {
    this.writes++;
    const m = frame.frame as { channel: string; offset: number };
    this.offsets.push(m.offset);
    this.received.push(`${m.channel}:${m.offset}`);
  }
  sendRun(run: PreparedRun): void {
    this.sendRuns([run]);
  }
  sendRuns(runs: readonly PreparedRun[]): void {
    this.writes++;
    for (const run of runs) {
      for (const f of run.frames) {
        const m = f.frame as { channel: string; offset: number };
        this.offsets.push(m.offset);
        this.received.push(`${m.channel}:${m.offset}`);
      }
    }
    // What a socket write costs, made large: the pass must run out of its slice.
    const until = performance.now() + this.busyMs;
    while (performance.now() < until) { /* busy */ }
  }
  close(): void {}
}

/** A connection without runs (SSE, long-poll): one frame at a time. */
class FrameRecorder implements Connection {
  readonly kind = 'sse' as const;
  readonly offsets: number[] = [];
  send(frame: Prepared): void { this.offsets.push((frame.frame as { offset: number }).offset); }
  close(): void {}
}

const msg = (offset: number, channel = 'room', epoch = 'e1'): Message => ({ channel, epoch, offset, data: offset, time: 0 });

function subscriber(hub: Hub, id: string, conn: Connection, channel = 'room', offset = 0, pending: Message[] | null = null): Session {
  const s = new Session(id, null, {}, {});
  s.conn = conn;
  s.subs.set(channel, { epoch: 'e1', offset, pending });
  hub.add(channel, s);
  return s;
}

test('messages handed over in one turn reach each WebSocket subscriber as one write, in offset order', async () => {
  const hub = new Hub();
  let counted = 0;
  const fan = new FanOut(hub, (n) => { counted += n; });
  const conns = Array.from({ length: 50 }, () => new Recorder());
  conns.forEach((c, i) => subscriber(hub, `s${i}`, c));
  for (let o = 1; o <= 5; o++) fan.deliver(msg(o));
  await fan.settled();
  for (const c of conns) {
    assert.equal(c.writes, 1);
    assert.deepEqual(c.offsets, [1, 2, 3, 4, 5]);
  }
  assert.equal(counted, 250);
  assert.equal(fan.stats.largestBatch, 5);
});

test('a subscriber part-way through a batch, one still subscribing and an SSE stream each get exactly what they miss', async () => {
  const hub = new Hub();
  const fan = new FanOut(hub);
  const ahead = new Recorder();
  subscriber(hub, 'ahead', ahead, 'room', 3);
  const pending: Message[] = [];
  subscriber(hub, 'joining', new Recorder(), 'room', 0, pending);
  const sse = new FrameRecorder();
  const sseSession = subscriber(hub, 'sse', sse);
  const positions: number[] = [];
  sse.send = (f) => { sse.offsets.push((f.frame as { offset: number }).offset); positions.push(sseSession.subs.get('room')!.offset); };
  for (let o = 1; o <= 5; o++) fan.deliver(msg(o));
  await fan.settled();
  assert.deepEqual(ahead.offsets, [4, 5]);
  assert.deepEqual(pending.map((m) => m.offset), [1, 2, 3, 4, 5]);
  assert.deepEqual(sse.offsets, [1, 2, 3, 4, 5]);
  assert.deepEqual(positions, [1, 2, 3, 4, 5], 'the position advances before each frame (SSE ids carry it)');
});

test('a long pass yields to the event loop between slices; what arrives meanwhile follows in order', async () => {
  const hub = new Hub();
  const fan = new FanOut(hub);
  const conns = Array.from({ length: 300 }, () => new Recorder(0.05)); // 15 ms of writes: several slices
  conns.forEach((c, i) => subscriber(hub, `s${i}`, c));
  fan.deliver(msg(1));
  fan.deliver(msg(2));
  const seen: number[] = [];
  let injected = false;
  await new Promise<void>((resolve) => {
    const tick = () => {
      const served = conns.filter((c) => c.offsets.length > 0).length;
      seen.push(served);
      if (!injected && served > 0 && served < conns.length) {
        injected = true;
        fan.deliver(msg(3)); // arrives while the batch [1, 2] is being written
      }
      if (conns.every((c) => c.offsets.length === 3)) resolve();
      else setImmediate(tick);
    };
    setImmediate(tick);
  });
  assert.ok(seen.some((n) => n > 0 && n < conns.length), `the loop ran while the pass was part-way (served counts seen: ${seen.slice(0, 10).join(',')})`);
  assert.ok(fan.stats.yields > 0);
  for (const c of conns) {
    assert.deepEqual(c.offsets, [1, 2, 3]);
    assert.equal(c.writes, 2, 'one write for the batch [1, 2], one for [3]');
  }
});

test('a task queued after deliveries runs after them; with nothing queued it runs at once', async () => {
  const hub = new Hub();
  const fan = new FanOut(hub);
  const c = new Recorder();
  subscriber(hub, 's', c);
  const order: string[] = [];
  fan.after('room', () => order.push('idle task'));
  assert.deepEqual(order, ['idle task']);
  fan.deliver(msg(1));
  fan.after('room', () => order.push(`task after ${c.offsets.join(',')}`));
  fan.deliver(msg(2));
  await fan.settled();
  assert.deepEqual(order, ['idle task', 'task after 1']);
  assert.deepEqual(c.offsets, [1, 2]);
  assert.equal(c.writes, 2, 'a message after a task does not join the batch before it');
});

test('batches of different channels stay apart; an epoch change inside a batch is delivered one message at a time', async () => {
  const hub = new Hub();
  const fan = new FanOut(hub);
  const a = new Recorder();
  const s = subscriber(hub, 's', a, 'a');
  s.subs.set('b', { epoch: 'e1', offset: 0, pending: null });
  hub.add('b', s);
  fan.deliver(msg(1, 'a'));
  fan.deliver(msg(1, 'b'));
  fan.deliver(msg(2, 'a'));
  fan.deliver(msg(3, 'a', 'e2')); // not this subscriber's epoch: skipped
  await fan.settled();
  assert.deepEqual(a.offsets, [1, 2, 1]);
});

/** Subscribes `s` to one more channel. */
function alsoOn(hub: Hub, s: Session, channel: string, pending: Message[] | null = null): void {
  s.subs.set(channel, { epoch: 'e1', offset: 0, pending });
  hub.add(channel, s);
}

test('a subscriber of several channels gets what one pass holds for all of them in one write, each channel in order', async () => {
  const hub = new Hub();
  const fan = new FanOut(hub);
  const everywhere = Array.from({ length: 20 }, () => new Recorder());
  everywhere.forEach((c, i) => {
    const s = subscriber(hub, `all${i}`, c, i % 2 ? 'a' : 'c'); // met first in the walk of a or of c
    for (const ch of ['a', 'b', 'c']) if (!s.subs.get(ch)) alsoOn(hub, s, ch);
  });
  const onlyB = new Recorder();
  subscriber(hub, 'onlyB', onlyB, 'b');
  const joining: Message[] = [];
  const halfway = new Recorder();
  alsoOn(hub, subscriber(hub, 'halfway', halfway, 'a'), 'b', joining); // still subscribing to b
  fan.deliver(msg(1, 'a'));
  fan.deliver(msg(1, 'b'));
  fan.deliver(msg(2, 'a'));
  fan.deliver(msg(1, 'c'));
  await fan.settled();
  for (const c of everywhere) {
    assert.equal(c.writes, 1, `one write for three channels, got ${c.writes}`);
    assert.deepEqual([...c.received].sort(), ['a:1', 'a:2', 'b:1', 'c:1']);
    assert.ok(c.received.indexOf('a:1') < c.received.indexOf('a:2'));
  }
  assert.deepEqual(onlyB.received, ['b:1']);
  assert.deepEqual(halfway.received, ['a:1', 'a:2']);
  assert.deepEqual(joining.map((m) => `${m.channel}:${m.offset}`), ['b:1'], 'held for the subscribe answer, not written');
  assert.equal(fan.stats.largestGroup, 3);
});

test('after a long pass, messages of other channels arriving a moment later join the next pass', async () => {
  const hub = new Hub();
  const fan = new FanOut(hub);
  // 400 subscribers of a and b whose writes take 0.5 ms each: a 200 ms pass, so the next one lingers its longest.
  const conns = Array.from({ length: 400 }, () => new Recorder(0.5));
  conns.forEach((c, i) => alsoOn(hub, subscriber(hub, `s${i}`, c, 'a'), 'b'));
  fan.deliver(msg(1, 'a'));
  await fan.settled();
  for (const c of conns) c.busyMsNow(0);
  fan.deliver(msg(2, 'a'));
  await new Promise((resolve) => setImmediate(resolve)); // a turn later: a replica's ack, another owner's frame
  fan.deliver(msg(1, 'b'));
  await fan.settled();
  for (const c of conns) {
    assert.deepEqual(c.received, ['a:1', 'a:2', 'b:1']);
    assert.equal(c.writes, 2, 'the second pass waited for b:1 and wrote it with a:2');
  }
});
