// A push node that sees a delivery skip offsets (or arrive in another epoch) must not pass the gap on silently:
// it registers the subscription again from the subscriber's position and replays what it missed from the owner's
// history. The chaos audit found the case: an owner dropped and re-took a channel between two messages, and the
// push node's subscribers jumped from offset 8 to 11.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { pino } from 'pino';
import type { Owner, PushTarget, Router, SubscribeRequest } from '../../lib/owner/owner-api.js';
import type { Prepared } from '../../lib/protocol/prepared.js';
import type { Message } from '../../lib/protocol/types.js';
import { PushService } from '../../lib/session/push-service.js';
import type { Connection } from '../../lib/session/session.js';

const msg = (epoch: string, offset: number): Message => ({ channel: 'room', epoch, offset, data: `m${offset}`, time: 0 });

/** An owner with a real history: subscribe answers replay what follows `since` (recovered: false across epochs). */
function setup() {
  const history = { epoch: 'e1', messages: [] as Message[] };
  const requests: SubscribeRequest[] = [];
  const owner = {
    subscribe: async (req: SubscribeRequest) => {
      requests.push(req);
      await sleep(5);
      const offset = history.messages.at(-1)?.offset ?? 0;
      const same = req.since?.epoch === history.epoch;
      const messages = same ? history.messages.filter((m) => m.offset > req.since!.offset) : [];
      return { epoch: history.epoch, offset, recovered: req.since === undefined || same, messages, term: 1 };
    },
    unsubscribe: async () => {},
  } as unknown as Owner;
  let push!: PushService;
  const router: Router = { self: 'me', owner: () => owner, push: (id: string): PushTarget | undefined => (id === 'me' ? push : undefined) };
  push = new PushService({ router, hooks: null, log: pino({ level: 'silent' }), sessionTtlMs: 60_000 });
  const frames: Array<Record<string, unknown>> = [];
  const conn: Connection = { kind: 'ws', send: (f: Prepared) => { frames.push(JSON.parse(f.json())); }, close: () => {} };
  /** The owner commits a message (it is in history) and may or may not deliver it. */
  const commit = (m: Message, deliver: boolean) => {
    history.messages.push(m);
    if (deliver) push.deliver(m, { deliverHook: false, term: 1 });
  };
  return { push, conn, frames, history, requests, commit };
}

test('a delivery that skips offsets is not passed on: the missing messages are replayed from history, in order, once', async () => {
  const { push, conn, frames, commit, requests } = setup();
  const s = await push.open(null, {}, {});
  push.attach(s, conn);
  await push.subscribe(s, 'room', undefined);
  commit(msg('e1', 1), true);
  commit(msg('e1', 2), false); // lost between owner and push node (the owner re-took the channel meanwhile)
  commit(msg('e1', 3), false);
  commit(msg('e1', 4), true);
  commit(msg('e1', 5), true); // arrives while the catch-up is in flight: held, then sent after the replay
  await sleep(50);
  commit(msg('e1', 6), true);
  await push.fanout.settled();
  assert.deepEqual(frames.filter((f) => f.type === 'message').map((f) => f.offset), [1, 2, 3, 4, 5, 6]);
  assert.equal(requests.length, 2, 'one catch-up round trip');
  assert.deepEqual(requests[1]!.since, { epoch: 'e1', offset: 1 });
});

test('a delivery in another epoch tells the subscriber (subscribed, recovered: false) instead of being dropped', async () => {
  const { push, conn, frames, commit, history } = setup();
  const s = await push.open(null, {}, {});
  push.attach(s, conn);
  await push.subscribe(s, 'room', undefined);
  commit(msg('e1', 1), true);
  Object.assign(history, { epoch: 'e2', messages: [] }); // the channel started over (its copies were lost)
  commit(msg('e2', 1), true);
  await sleep(50);
  commit(msg('e2', 2), true);
  await push.fanout.settled();
  const seen = frames.map((f) => `${f.type}:${f.epoch}:${f.type === 'subscribed' ? f.recovered : f.offset}`);
  assert.deepEqual(seen, ['message:e1:1', 'subscribed:e2:false', 'message:e2:2']);
});
