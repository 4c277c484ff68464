import assert from 'node:assert/strict';
import type { IncomingMessage } from 'node:http';
import { describe, test } from 'node:test';
import { OptionsError } from '../../lib/errors.js';
import { clientAddress, forwardedAddress, TrustedProxies } from '../../lib/transport/client-address.js';

/** The two fields clientAddress() reads of a request: the socket's peer and the headers. */
const req = (peer: string, xff?: string | string[]) =>
  ({ socket: { remoteAddress: peer }, headers: xff === undefined ? {} : { 'x-forwarded-for': xff } }) as unknown as IncomingMessage;

describe('client address behind --trusted-proxies', () => {
  const proxies = new TrustedProxies(['10.0.0.1', '192.168.0.0/16', 'fd00::/8']);

  test('a direct client is its socket peer, whatever X-Forwarded-For it sends', () => {
    assert.equal(clientAddress(req('203.0.113.7', '1.1.1.1'), proxies), '203.0.113.7');
    assert.equal(clientAddress(req('203.0.113.7', '1.1.1.1'), new TrustedProxies([])), '203.0.113.7', 'no trusted proxy: the header is never read');
    assert.equal(clientAddress(req('::ffff:203.0.113.7'), proxies), '203.0.113.7', 'an IPv4-mapped peer is its IPv4 address');
  });

  test('behind a trusted proxy the rightmost address that is not a trusted proxy is the client', () => {
    assert.equal(clientAddress(req('10.0.0.1', '198.51.100.9'), proxies), '198.51.100.9');
    assert.equal(clientAddress(req('::ffff:10.0.0.1', '198.51.100.9'), proxies), '198.51.100.9');
    // The client forged "6.6.6.6" on the left; two trusted hops appended the real address and each other.
    assert.equal(clientAddress(req('10.0.0.1', '6.6.6.6, 198.51.100.9, 192.168.4.4'), proxies), '198.51.100.9');
    assert.equal(clientAddress(req('10.0.0.1', ['6.6.6.6', '198.51.100.9']), proxies), '198.51.100.9', 'repeated headers are one list');
    assert.equal(clientAddress(req('fd00::2', '2001:db8::5'), proxies), '2001:db8::5');
  });

  test('a trusted proxy without the header, or a chain of trusted hops only, gives the leftmost known hop', () => {
    assert.equal(clientAddress(req('10.0.0.1'), proxies), '10.0.0.1');
    assert.equal(clientAddress(req('10.0.0.1', '192.168.1.1'), proxies), '192.168.1.1');
  });

  test('garbage in the header ends the walk at the last sound address (never a string an attacker chose)', () => {
    assert.equal(clientAddress(req('10.0.0.1', 'evil, 198.51.100.9'), proxies), '198.51.100.9');
    assert.equal(clientAddress(req('10.0.0.1', 'not-an-ip'), proxies), '10.0.0.1');
    assert.equal(clientAddress(req('10.0.0.1', '198.51.100.9, '), proxies), '10.0.0.1', 'an empty last hop is malformed');
    assert.equal(clientAddress(req('10.0.0.1', 'x'.repeat(10_000)), proxies), '10.0.0.1');
  });

  test('entries with ports and brackets, as proxies write them', () => {
    assert.equal(forwardedAddress('198.51.100.9:4711'), '198.51.100.9');
    assert.equal(forwardedAddress('[2001:db8::5]:4711'), '2001:db8::5');
    assert.equal(forwardedAddress('[2001:db8::5]'), '2001:db8::5');
    assert.equal(forwardedAddress(' 2001:db8::5 '), '2001:db8::5');
    assert.equal(forwardedAddress('unknown'), null);
    assert.equal(forwardedAddress('1.2.3.4:'), null);
  });

  test('bad --trusted-proxies entries are refused naming the option', () => {
    for (const bad of ['10.0.0', 'proxy.local', '10.0.0.0/33', 'fd00::/129', '10.0.0.0/x', '']) {
      assert.throws(() => new TrustedProxies([bad]), (e: unknown) => e instanceof OptionsError && e.field === 'trustedProxies', bad);
    }
  });
});
