import assert from 'node:assert/strict';
import { test } from 'node:test';
import { pino } from 'pino';
import type { Owner, PushTarget, Router, SubscribeRequest } from '../../lib/owner/owner-api.js';
import type { Prepared } from '../../lib/protocol/prepared.js';
import { PushService } from '../../lib/session/push-service.js';
import type { Connection } from '../../lib/session/session.js';

/** A push node whose channel owner answers with ownership term 5 (a newer owner after a takeover). */
function setup() {
  const owner = { subscribe: async (req: SubscribeRequest) => ({ epoch: 'e1', offset: 0, recovered: false, messages: [], term: 5 }),
    unsubscribe: async () => {} } as unknown as Owner;
  let push!: PushService;
  const router: Router = { self: 'me', owner: () => owner, push: (id: string): PushTarget | undefined => (id === 'me' ? push : undefined) };
  push = new PushService({ router, hooks: null, log: pino({ level: 'silent' }), sessionTtlMs: 60_000 });
  const received: string[] = [];
  const conn: Connection = { kind: 'ws', send: (f: Prepared) => { received.push(f.json()); }, close: () => {} };
  return { push, conn, received };
}

test('a push node drops deliveries from an owner with an older term than the one it subscribed with', async () => {
  const { push, conn, received } = setup();
  const s = await push.open(null, {}, {});
  push.attach(s, conn);
  await push.subscribe(s, 'room', undefined);
  const msg = (offset: number) => ({ channel: 'room', epoch: 'e1', offset, data: offset, time: 0 });
  push.deliver(msg(1), { deliverHook: false, term: 4 }); // a stale owner that has not noticed the takeover
  push.deliver(msg(1), { deliverHook: false, term: 5 });
  push.deliver(msg(2), { deliverHook: false, term: 6 }); // a later takeover raises the bar
  push.deliver(msg(3), { deliverHook: false, term: 5 });
  await push.fanout.settled();
  assert.deepEqual(received.map((j) => JSON.parse(j).offset), [1, 2]);
});
