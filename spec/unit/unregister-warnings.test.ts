// When an owner is too busy to answer, every session leaving its channels fails to unsubscribe there at once: the
// operator sees one warning a second with the number left out, not thousands of lines (lib/session/owner-registration.ts).
import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { test } from 'node:test';
import { pino } from 'pino';
import { HashpubError } from '../../lib/errors.js';
import { LogThrottle } from '../../lib/log.js';
import type { Router } from '../../lib/owner/owner-api.js';
import { unregister } from '../../lib/session/owner-registration.js';

function capture(): { log: pino.Logger; lines: Array<Record<string, unknown>> } {
  const lines: Array<Record<string, unknown>> = [];
  const sink = new Writable({ write(chunk: Buffer, _enc, done) { lines.push(JSON.parse(chunk.toString())); done(); } });
  return { log: pino({ level: 'debug' }, sink), lines };
}

const routerFailingWith = (err: Error) => ({
  self: 'n1', owner: () => ({ unsubscribe: async () => { throw err; } }),
}) as unknown as Router;

test('a thousand failed unsubscribes in a second make one warning, then one a second with the count left out', async () => {
  const { log, lines } = capture();
  let now = 0;
  const warnings = new LogThrottle(1000, () => now);
  const router = routerFailingWith(new HashpubError('timeout', 'owner did not answer in 5000 ms'));
  for (let i = 0; i < 1000; i++) await unregister(router, log, warnings, `room-${i}`, `s${i}`, 'ended');
  now = 1500;
  for (let i = 0; i < 10; i++) await unregister(router, log, warnings, 'room-x', `t${i}`, 'ended');
  await new Promise((r) => setImmediate(r));
  const warned = lines.filter((l) => l.msg === 'unsubscribe at owner failed' && l.level === 40);
  assert.equal(warned.length, 2);
  assert.equal(warned[0]!.channel, 'room-0');
  assert.equal(warned[0]!.suppressed, 0);
  assert.equal(warned[1]!.suppressed, 999, 'the second line says how many were left out');
});

test('an owner that is gone (unavailable) is expected and logged at debug only', async () => {
  const { log, lines } = capture();
  const router = routerFailingWith(new HashpubError('unavailable', 'owner left'));
  await unregister(router, log, new LogThrottle(), 'room', 's1', 'ended');
  await new Promise((r) => setImmediate(r));
  assert.deepEqual(lines.map((l) => l.level), [20]);
});

test('a successful unsubscribe logs nothing', async () => {
  const { log, lines } = capture();
  const router = { self: 'n1', owner: () => ({ unsubscribe: async () => undefined }) } as unknown as Router;
  await unregister(router, log, new LogThrottle(), 'room', 's1', 'ended');
  assert.equal(lines.length, 0);
});
