// The CORS decision (lib/transport/cors.ts) as a table: who is refused, what an allowed answer carries.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { CORS_HEADERS, CORS_METHODS, corsDecision, type CorsRequest } from '../../lib/transport/cors.js';

const APP = 'http://app.example:3000';
const req = (origin: string | undefined, method = 'GET', host = '127.0.0.1:8080'): CorsRequest => ({ origin, host, method });

test('who is allowed: any origin without a list; only listed ones (or the node itself) with one', () => {
  const rows: Array<[string, CorsRequest, string[], boolean]> = [
    ['no Origin, no list', req(undefined), [], true],
    ['no Origin, a list (curl, servers)', req(undefined), [APP], true],
    ['any Origin, no list', req('https://anyone.example'), [], true],
    ['listed Origin', req(APP), ['https://other.example', APP], true],
    ['unlisted Origin', req('https://evil.example'), [APP], false],
    ['listed host on another port', req('http://app.example:3001'), [APP], false],
    ['listed host on another scheme', req('https://app.example:3000'), [APP], false],
    ['Origin "null" (sandboxed page) with a list', req('null'), [APP], false],
    ['Origin "null" without a list', req('null'), [], true],
    ['the node\'s own page (Origin = http://Host)', req('http://127.0.0.1:8080'), [APP], true],
    ['the node\'s own page behind TLS', req('https://127.0.0.1:8080'), [APP], true],
    ['unlisted preflight', req('https://evil.example', 'OPTIONS'), [APP], false],
    ['Host missing: only the list counts', { origin: 'http://127.0.0.1:8080', host: undefined, method: 'GET' }, [APP], false],
  ];
  for (const [what, r, list, allowed] of rows) assert.equal(corsDecision(r, list).allowed, allowed, what);
});

test('an allowed browser request echoes its Origin, varies on Origin and exposes Retry-After', () => {
  for (const list of [[], [APP]]) {
    const d = corsDecision(req(APP, 'POST'), list);
    assert.deepEqual(d, { allowed: true, preflight: false, headers: {
      vary: 'Origin', 'access-control-allow-origin': APP, 'access-control-expose-headers': 'Retry-After',
    } });
  }
});

test('a request without Origin gets only Vary (no CORS grant to echo)', () => {
  assert.deepEqual(corsDecision(req(undefined, 'GET'), [APP]), { allowed: true, preflight: false, headers: { vary: 'Origin' } });
});

test('a preflight names the methods and the Authorization, Content-Type and Last-Event-ID headers', () => {
  const d = corsDecision(req(APP, 'OPTIONS'), [APP]);
  assert.ok(d.allowed);
  assert.equal(d.preflight, true);
  assert.equal(d.headers['access-control-allow-methods'], CORS_METHODS);
  for (const m of ['GET', 'POST', 'PUT', 'DELETE']) assert.ok(CORS_METHODS.split(', ').includes(m), m);
  assert.deepEqual(CORS_HEADERS.split(', '), ['Authorization', 'Content-Type', 'Last-Event-ID']);
  assert.equal(d.headers['access-control-allow-headers'], CORS_HEADERS);
  assert.equal(d.headers['access-control-allow-origin'], APP);
  assert.equal(d.headers.vary, 'Origin');
  assert.ok(Number(d.headers['access-control-max-age']) > 0);
});
