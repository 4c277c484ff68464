// What a node binds and advertises: --host / --public-url / --dht-host decisions as table tests, and the
// options that carry them (parseOptions).
import assert from 'node:assert/strict';
import type { NetworkInterfaceInfo } from 'node:os';
import { test } from 'node:test';
import {
  advertisedUrl, bootstrapAddress, bootstrapPublicHost, checkReachable, dhtBindHost, isLoopback, isUnspecified,
  nodeAddresses, type Interfaces,
} from '../../lib/cluster/addresses.js';
import { OptionsError } from '../../lib/errors.js';
import { parseOptions } from '../../lib/options.js';

const v4 = (address: string, internal = false): NetworkInterfaceInfo =>
  ({ address, family: 'IPv4', internal, netmask: '255.255.255.0', mac: '02:00:00:00:00:01', cidr: `${address}/24` });
const v6 = (address: string): NetworkInterfaceInfo =>
  ({ address, family: 'IPv6', internal: false, netmask: 'ffff:ffff:ffff:ffff::', mac: '02:00:00:00:00:01', cidr: `${address}/64`, scopeid: 0 });
const LO = { lo: [v4('127.0.0.1', true)] };
const ONE: Interfaces = { ...LO, eth0: [v4('10.0.0.2'), v6('fe80::1')] };
const TWO: Interfaces = { ...LO, eth0: [v4('10.0.0.2')], docker0: [v4('172.17.0.1')] };
const V6ONLY: Interfaces = { ...LO, eth0: [v6('2001:db8::2'), v6('fe80::2')] };

/** The OptionsError field `fn` throws, or null. */
function fieldOf(fn: () => unknown): string | null {
  try {
    fn();
    return null;
  } catch (err) {
    assert.ok(err instanceof OptionsError, String(err));
    return err.field;
  }
}

test('unspecified and loopback addresses', () => {
  for (const h of ['0.0.0.0', '::', '[::]', '0:0:0:0:0:0:0:0']) assert.ok(isUnspecified(h), h);
  for (const h of ['127.0.0.1', '10.0.0.2', '::1', 'localhost', '0.0.0.1']) assert.ok(!isUnspecified(h), h);
  for (const h of ['127.0.0.1', '127.3.2.1', '::1', '[::1]', 'localhost', 'LOCALHOST', '::ffff:127.0.0.1']) assert.ok(isLoopback(h), h);
  for (const h of ['10.0.0.2', '0.0.0.0', '::', 'example.com', '128.0.0.1']) assert.ok(!isLoopback(h), h);
});

test('the DHT socket follows --host unless --dht-host is given', () => {
  const rows: Array<[host: string, dhtHost: string | null, want: string | null]> = [
    ['127.0.0.1', null, '127.0.0.1'],
    ['10.0.0.2', null, '10.0.0.2'],
    ['0.0.0.0', null, '0.0.0.0'],
    ['::', null, '0.0.0.0'],
    ['localhost', null, '127.0.0.1'],
    ['::1', null, '127.0.0.1'],
    ['0.0.0.0', '10.0.0.2', '10.0.0.2'],
    ['2001:db8::2', null, null], // IPv6-only HTTP: the (IPv4) DHT host must be given
    ['node1.example.com', null, null],
    ['node1.example.com', '10.0.0.2', '10.0.0.2'],
  ];
  for (const [host, dhtHost, want] of rows) {
    if (want === null) assert.equal(fieldOf(() => dhtBindHost(host, dhtHost)), 'dhtHost', host);
    else assert.equal(dhtBindHost(host, dhtHost), want, `${host} ${dhtHost}`);
  }
});

test('the advertised URL: --public-url, else --host, else the DHT host, else the only external address', () => {
  const rows: Array<[publicUrl: string | null, host: string, dhtHost: string, ifs: Interfaces, want: string]> = [
    ['https://node1.example.com', '0.0.0.0', '0.0.0.0', TWO, 'https://node1.example.com'],
    [null, '127.0.0.1', '127.0.0.1', TWO, 'http://127.0.0.1:8080'],
    [null, '10.0.0.2', '10.0.0.2', TWO, 'http://10.0.0.2:8080'],
    [null, '2001:db8::2', '10.0.0.2', TWO, 'http://[2001:db8::2]:8080'],
    [null, 'node1.example.com', '10.0.0.2', TWO, 'http://node1.example.com:8080'],
    [null, '0.0.0.0', '10.0.0.2', TWO, 'http://10.0.0.2:8080'],
    [null, '0.0.0.0', '0.0.0.0', ONE, 'http://10.0.0.2:8080'],
    [null, '::', '0.0.0.0', ONE, 'http://10.0.0.2:8080'],
    [null, '::', '0.0.0.0', V6ONLY, 'http://[2001:db8::2]:8080'],
    [null, '0.0.0.0', '0.0.0.0', LO, 'http://127.0.0.1:8080'],
  ];
  for (const [publicUrl, host, dhtHost, interfaces, want] of rows) {
    assert.equal(advertisedUrl({ publicUrl, host, port: 8080, dhtHost, interfaces }), want, `${publicUrl} ${host} ${dhtHost}`);
  }
  // Several addresses and nothing to pick one: the error names --public-url and suggests a value.
  assert.throws(() => advertisedUrl({ publicUrl: null, host: '0.0.0.0', port: 8080, dhtHost: '0.0.0.0', interfaces: TWO }),
    (err: OptionsError) => err.field === 'publicUrl' && /10\.0\.0\.2, 172\.17\.0\.1/.test(err.message) &&
      err.message.includes('--public-url http://10.0.0.2:8080'));
});

test('combinations a peer could not use are refused, naming the flag to fix', () => {
  const rows: Array<[url: string, dhtHost: string, bootstrap: string[], field: string | null]> = [
    ['http://127.0.0.1:8080', '127.0.0.1', [], null], // the embedded default
    ['http://127.0.0.1:8080', '127.0.0.1', ['127.0.0.1:49737'], null], // several nodes on one machine
    ['http://10.0.0.2:8080', '10.0.0.2', ['10.0.0.1:49737'], null],
    ['http://10.0.0.2:8080', '0.0.0.0', ['10.0.0.1:49737'], null],
    ['https://node1.example.com', '10.0.0.2', [], null],
    ['http://0.0.0.0:8080', '10.0.0.2', [], 'publicUrl'],
    ['http://[::]:8080', '10.0.0.2', [], 'publicUrl'],
    ['http://127.0.0.1:8080', '10.0.0.2', [], 'publicUrl'], // --dht-host given, --host forgotten
    ['http://127.0.0.1:8080', '0.0.0.0', ['10.0.0.1:49737'], 'publicUrl'],
    ['http://10.0.0.2:8080', '127.0.0.1', ['10.0.0.1:49737'], 'dhtHost'], // loopback socket, remote bootstrap
  ];
  for (const [url, dhtHost, bootstrap, field] of rows) {
    assert.equal(fieldOf(() => checkReachable({ url, dhtHost, bootstrap })), field, `${url} ${dhtHost} ${bootstrap}`);
  }
});

test('nodeAddresses decides everything before binding; without a cluster only the URL matters', () => {
  const base = { host: '0.0.0.0', port: 0, publicUrl: null, dhtHost: null, bootstrap: [] };
  assert.equal(fieldOf(() => nodeAddresses(base, TWO)), 'publicUrl');
  assert.equal(fieldOf(() => nodeAddresses(base, TWO, false)), 'publicUrl');
  const a = nodeAddresses(base, ONE);
  assert.equal(a.dhtHost, '0.0.0.0');
  assert.equal(a.urlFor(41234), 'http://10.0.0.2:41234');
  assert.equal(nodeAddresses({ ...base, host: 'node1.example.com' }, TWO, false).dhtHost, null);
  assert.equal(fieldOf(() => nodeAddresses({ ...base, host: '127.0.0.1', dhtHost: '10.0.0.2' }, TWO)), 'publicUrl');
});

test('bootstrap addresses: a wildcard bind advertises one address or fails naming the flag', () => {
  assert.equal(bootstrapPublicHost('10.0.0.2', null, TWO), '10.0.0.2');
  assert.equal(bootstrapPublicHost('0.0.0.0', null, ONE), '10.0.0.2');
  assert.equal(bootstrapPublicHost('0.0.0.0', '172.17.0.1', TWO), '172.17.0.1');
  assert.equal(fieldOf(() => bootstrapPublicHost('0.0.0.0', null, TWO)), 'publicHost');
  assert.equal(fieldOf(() => bootstrapPublicHost('0.0.0.0', '0.0.0.0', ONE)), 'publicHost');
  assert.equal(fieldOf(() => bootstrapPublicHost('0.0.0.0', 'example.com', ONE)), 'publicHost');
  // The in-process bootstrap follows the DHT host; on 0.0.0.0 it takes the public URL's address.
  assert.equal(bootstrapAddress('127.0.0.1', 'http://127.0.0.1:8080', TWO), '127.0.0.1');
  assert.equal(bootstrapAddress('0.0.0.0', 'http://172.17.0.1:8080', TWO), '172.17.0.1');
  assert.equal(bootstrapAddress('0.0.0.0', 'https://node1.example.com', ONE), '10.0.0.2');
  assert.equal(fieldOf(() => bootstrapAddress('0.0.0.0', 'https://node1.example.com', TWO)), 'dhtHost');
});

test('parseOptions: --public-url, --dht-host, --dht-port and --bootstrap are checked', () => {
  const o = parseOptions({});
  assert.deepEqual([o.host, o.publicUrl, o.dhtHost, o.dhtPort], ['127.0.0.1', null, null, 0]);
  assert.equal(parseOptions({ publicUrl: 'http://10.0.0.2:8080/' }).publicUrl, 'http://10.0.0.2:8080');
  assert.equal(parseOptions({ publicUrl: 'https://Node1.Example.com' }).publicUrl, 'https://node1.example.com');
  assert.equal(parseOptions({ dhtHost: '0.0.0.0', dhtPort: '49738', host: '::' }).dhtPort, 49738);
  const bad: Array<[Record<string, unknown>, string, RegExp]> = [
    [{ publicUrl: 'http://0.0.0.0:8080' }, 'publicUrl', /not an address a peer can dial/],
    [{ publicUrl: 'http://[::]:8080' }, 'publicUrl', /not an address a peer can dial/],
    [{ publicUrl: '10.0.0.2:8080' }, 'publicUrl', /http/],
    [{ publicUrl: 'ftp://10.0.0.2' }, 'publicUrl', /http/],
    [{ publicUrl: 'http://10.0.0.2:8080/hashpub' }, 'publicUrl', /bare origin/],
    [{ publicUrl: 'nonsense' }, 'publicUrl', /not a URL/],
    [{ dhtHost: '::1' }, 'dhtHost', /IPv4/],
    [{ dhtHost: 'example.com' }, 'dhtHost', /IPv4/],
    [{ dhtPort: 70000 }, 'dhtPort', /0-65535/],
    [{ host: '' }, 'host', /address/],
    [{ bootstrap: '0.0.0.0:49737' }, 'bootstrap', /bootstrap's own address/],
  ];
  for (const [input, field, message] of bad) {
    assert.throws(() => parseOptions(input), (err: OptionsError) => err.field === field && message.test(err.message), JSON.stringify(input));
  }
});

test('with --tls-cert the advertised URL is https://; a given http:// --public-url is refused', () => {
  const tls = { host: '0.0.0.0', port: 8443, publicUrl: null, dhtHost: null, bootstrap: [], tlsCert: '/etc/hashpub/node.crt' };
  assert.equal(nodeAddresses(tls, ONE).urlFor(8443), 'https://10.0.0.2:8443');
  assert.equal(nodeAddresses({ ...tls, host: '127.0.0.1' }, TWO, false).urlFor(0), 'https://127.0.0.1:0');
  assert.equal(nodeAddresses({ ...tls, publicUrl: 'https://hub.example.com' }, TWO).urlFor(8443), 'https://hub.example.com');
  assert.equal(fieldOf(() => nodeAddresses({ ...tls, publicUrl: 'http://hub.example.com' }, TWO)), 'publicUrl');
  // Without TLS an https:// public URL stays allowed: TLS ends at a reverse proxy in front of the node.
  assert.equal(nodeAddresses({ ...tls, tlsCert: null, publicUrl: 'https://hub.example.com' }, TWO).urlFor(8080), 'https://hub.example.com');
});
