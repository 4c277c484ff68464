// SSE / long-poll cursors (lib/transport/cursor.ts): what parses, what is a documented bad_request.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { HashpubError } from '../../lib/errors.js';
import { parseCursor, splitCursor } from '../../lib/transport/cursor.js';

test('well-formed cursors parse into a session and one position per channel', () => {
  const rows: Array<[string | null, ReturnType<typeof parseCursor>]> = [
    [null, { positions: [] }],
    ['', { positions: [] }],
    ['-', { positions: [undefined] }],
    ['ab12:7', { positions: [{ epoch: 'ab12', offset: 7 }] }],
    ['Sess_ion-1.-,ab12:7', { session: 'Sess_ion-1', positions: [undefined, { epoch: 'ab12', offset: 7 }] }],
    ['s.0f:0,0f:999999999999999', { session: 's', positions: [{ epoch: '0f', offset: 0 }, { epoch: '0f', offset: 999999999999999 }] }],
  ];
  for (const [text, want] of rows) assert.deepEqual(parseCursor(text), want, String(text));
});

test('malformed cursors are bad_request, never "start from now" in silence', () => {
  const rows = ['garbage', 's.', 's.ab12', 's.ab12:', 's.AB12:1', 's.ab12:-1', 's.ab12:1,', 's.ab12:1.5', 'bad session.-',
    '.-', `${'x'.repeat(65)}.-`, 's.ab12:1234567890123456', `s.${'-,'.repeat(2000)}-`, 's.a b:1'];
  for (const text of rows) {
    assert.throws(() => parseCursor(text), (e: unknown) => e instanceof HashpubError && e.code === 'bad_request' && /malformed cursor/.test(e.message), text);
  }
});

test('a goodbye cursor must name a session', () => {
  assert.deepEqual(splitCursor('abc.-,1f:2'), { session: 'abc' });
  for (const text of ['', '-', 'ab12:3', '.-', 'bad id.-']) {
    assert.throws(() => splitCursor(text), (e: unknown) => e instanceof HashpubError && e.code === 'bad_request', text);
  }
});
