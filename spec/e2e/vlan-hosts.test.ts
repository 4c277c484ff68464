// Many machines for real: three "hosts" (Linux network namespaces on a bridge), each running `hashpub start
// --host <its address>` from the CLI, and a `hashpub bootstrap` on a fourth, exactly as an operator would on
// three machines. The cluster forms, members advertise their own addresses, and a message crosses hosts.
// Then the address flags as an operator meets them: a wildcard bind, a bootstrap on 0.0.0.0, the embedded
// bootstrap on a network address, and the clear refusals. Needs root: fails (never skips) without it.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { createVlanCluster, HASHPUB_BIN, spawnProcess, TestClient, type TestProcess, type VlanCluster } from '../../lib/testing/index.js';
import type { LanHost } from '../../lib/testing/vlan.js';
import { channelOwnedBy, members, until } from './vlan-support.js';

let cluster: VlanCluster;
const clients: TestClient[] = [];
const procs: TestProcess[] = [];

before(async () => {
  cluster = await createVlanCluster({ hosts: 3, bind: 'host' });
});

after(async () => {
  for (const c of clients) c.close();
  await Promise.all(procs.map((p) => p.kill()));
  await cluster?.close();
});

/** Runs `hashpub ...argv` inside `host` (killed in after()). */
function hashpub(host: LanHost, argv: string[]): TestProcess {
  const [file, args] = cluster.lan.command(host, [process.execPath, HASHPUB_BIN, ...argv]);
  const p = spawnProcess(file, args);
  procs.push(p);
  return p;
}

test('three hosts form one cluster; every member is listed with the URL of its own host', async () => {
  const { nodes } = cluster;
  const want = nodes.map((n) => ({ id: n.id, url: `http://${n.host.address}:8080` })).sort((a, b) => a.id.localeCompare(b.id));
  for (const n of nodes) {
    assert.equal(n.url, `http://${n.host.address}:8080`, `node ${n.index} printed ${n.url}`);
    const r = await n.api('GET', '/v1/cluster');
    assert.equal(r.status, 200);
    assert.equal(r.body.self, n.id);
    assert.deepEqual(members(r.body), want, `node ${n.index}'s view`);
  }
});

test('a subscriber on host 2 gets a message published on host 3 for a channel owned by host 1', async () => {
  const [h1, h2, h3] = cluster.nodes;
  const channel = await channelOwnedBy(h2!, h1!.id, 'cross');
  for (const n of cluster.nodes) assert.equal((await n.api('GET', `/v1/channels/${channel}/owner`)).body.owner, h1!.id);
  const { client } = await TestClient.connect(h2!.url, { token: await h2!.token('alice') });
  clients.push(client);
  assert.equal((await client.subscribe(channel)).type, 'subscribed');
  const r = await h3!.api('POST', `/v1/channels/${channel}/messages`, { data: { from: 'host 3' } });
  assert.equal(r.status, 200, JSON.stringify(r.body));
  const [m] = await client.waitMessages(channel, 1, 10_000);
  assert.deepEqual(m!.data, { from: 'host 3' });
  assert.equal(m!.offset, r.body.offset);
});

test('--host 0.0.0.0 on a host with two addresses refuses to start and asks for --public-url', async () => {
  const h = cluster.nodes[0]!.host;
  const p = hashpub(h, ['start', '--host', '0.0.0.0', '--port', '8091', '--data', ':memory:', '--bootstrap', cluster.bootstrap]);
  assert.equal(await p.exited, 2, p.stderr());
  assert.match(p.stderr(), /--public-url/);
  assert.ok(p.stderr().includes(h.address) && p.stderr().includes(h.control), p.stderr());
  assert.doesNotMatch(p.stdout(), /ready/);
});

test('a node that joins over the network refuses a loopback DHT socket or a loopback URL, naming the flag', async () => {
  const h = cluster.nodes[0]!.host;
  const dht = hashpub(h, ['start', '--host', '127.0.0.1', '--port', '8092', '--data', ':memory:', '--bootstrap', cluster.bootstrap]);
  assert.equal(await dht.exited, 2, dht.stderr());
  assert.match(dht.stderr(), /--dht-host/);
  const url = hashpub(h, ['start', '--host', '127.0.0.1', '--dht-host', h.address, '--port', '8093', '--data', ':memory:',
    '--bootstrap', cluster.bootstrap]);
  assert.equal(await url.exited, 2, url.stderr());
  assert.match(url.stderr(), /loopback.*(--host|--public-url)/);
  const zero = hashpub(h, ['start', '--public-url', 'http://0.0.0.0:8080', '--data', ':memory:', '--bootstrap', cluster.bootstrap]);
  assert.equal(await zero.exited, 2, zero.stderr());
  assert.match(zero.stderr(), /bad value for --public-url/);
});

test('a bootstrap on 0.0.0.0 advertises its one address, and nodes on two hosts join through it', async () => {
  const boot = hashpub(cluster.lan.bootstrapHost, ['bootstrap', '--host', '0.0.0.0', '--port', '49800']);
  const [, addr] = await boot.waitFor(/bootstrap listening on (\S+) \(bound to 0\.0\.0\.0:49800\)/, 15_000);
  assert.equal(addr, `${cluster.lan.bootstrapHost.address}:49800`);
  const started = await Promise.all(cluster.nodes.slice(0, 2).map(async (n) => {
    const p = hashpub(n.host, ['start', '--host', n.host.address, '--port', '8094', '--data', ':memory:', '--bootstrap', addr!,
      '--cluster', 'wildcard-bootstrap', '--secret', 'another-secret', '--api-key', 'k2', '--log-level', 'warn']);
    const [, url] = await p.waitFor(/hashpub node ready at (\S+)/, 30_000);
    assert.equal(url, `http://${n.host.address}:8094`);
    return url!;
  }));
  await until('both nodes list each other', 30_000, async () => {
    const views = await Promise.all(started.map((u) => fetch(`${u}/v1/cluster`, { headers: { authorization: 'Bearer k2' } })
      .then((r) => r.json() as Promise<{ members: unknown[] }>)));
    return views.every((v) => v.members.length === 2) ? true : undefined;
  });
  // On a host with two addresses, a wildcard bootstrap needs --public-host.
  const two = hashpub(cluster.nodes[2]!.host, ['bootstrap', '--host', '0.0.0.0', '--port', '49801']);
  assert.equal(await two.exited, 2, two.stderr());
  assert.match(two.stderr(), /--public-host/);
});

test('the embedded bootstrap follows --dht-host: a node on another host joins it', async () => {
  const [a, b] = cluster.nodes;
  const first = hashpub(a!.host, ['start', '--host', '0.0.0.0', '--dht-host', a!.host.address, '--port', '8095', '--dht-port', '49810',
    '--data', ':memory:', '--cluster', 'embedded', '--secret', 'embedded-secret', '--api-key', 'k3', '--log-level', 'warn']);
  const [, url, boot] = await first.waitFor(/hashpub node ready at (\S+)[\s\S]*bootstrap\s+(\S+)\n/, 30_000);
  assert.equal(url, `http://${a!.host.address}:8095`);
  assert.match(boot!, new RegExp(`^${a!.host.address.replace(/\./g, '\\.')}:\\d+$`));
  assert.match(first.stdout(), /join it: +hashpub start --host <that machine's address> --bootstrap/);
  const second = hashpub(b!.host, ['start', '--host', b!.host.address, '--port', '8095', '--bootstrap', boot!, '--data', ':memory:',
    '--cluster', 'embedded', '--secret', 'embedded-secret', '--api-key', 'k3', '--log-level', 'warn']);
  await second.waitFor(/hashpub node ready at/, 30_000);
  await until('the embedded cluster has 2 members on both hosts', 30_000, async () => {
    const views = await Promise.all([url!, `http://${b!.host.address}:8095`].map((u) =>
      fetch(`${u}/v1/cluster`, { headers: { authorization: 'Bearer k3' } }).then((r) => r.json() as Promise<{ members: Array<{ url: string }> }>)));
    return views.every((v) => v.members.map((m) => m.url).sort().join() === [url!, `http://${b!.host.address}:8095`].sort().join())
      ? true : undefined;
  });
});

test('in-memory nodes that all bind 0.0.0.0:8080 on three hosts are three members, each with its own id', async () => {
  const memory = await createVlanCluster({ hosts: 3, data: ':memory:' });
  try {
    const ids = new Set(memory.nodes.map((n) => n.id));
    assert.equal(ids.size, 3, [...ids].join());
    for (const n of memory.nodes) assert.equal((await n.view())?.length, 3);
  } finally {
    await memory.close();
  }
});
