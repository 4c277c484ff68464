// --trusted-proxies: the client address the node uses (the connect hook's `ip`, and per-address limits) is
// the X-Forwarded-For client only when the request comes from a trusted proxy.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { ConnectEvent, Hooks } from '../../lib/hooks/hooks.js';
import { startTestNode, TestClient, type TestNode } from '../../lib/testing/index.js';

async function connectIp(t: TestNode, seen: ConnectEvent[], transport: 'ws' | 'poll', xff: string): Promise<string> {
  const before = seen.length;
  if (transport === 'ws') {
    const c = new TestClient(t.url.replace(/^http/, 'ws') + '/v1/ws', { headers: { 'x-forwarded-for': xff } });
    await c.opened;
    c.send({ type: 'connect' });
    await c.next((f) => f.type === 'connected');
    c.ws.close();
  } else {
    const res = await fetch(`${t.url}/v1/poll?channel=a&timeout=0`, { headers: { 'x-forwarded-for': xff } });
    assert.equal(res.status, 200);
  }
  assert.equal(seen.length, before + 1);
  return seen[before]!.ip;
}

for (const trusted of [true, false]) {
  describe(`X-Forwarded-For with the test client ${trusted ? 'a trusted proxy' : 'not trusted'}`, () => {
    let t: TestNode;
    const seen: ConnectEvent[] = [];
    const hooks: Hooks = { connect(ev) { seen.push(ev); return { allow: true }; } };
    before(async () => {
      t = await startTestNode({ data: ':memory:', allowAnonymous: true, trustedProxies: trusted ? ['127.0.0.0/8', '::1'] : ['10.0.0.0/8'] }, { hooks });
    });
    after(async () => { await t.stop(); });

    for (const transport of ['ws', 'poll'] as const) {
      test(`${transport}: the connect hook sees ${trusted ? 'the forwarded client' : 'the socket peer'}`, async () => {
        const ip = await connectIp(t, seen, transport, '6.6.6.6, 198.51.100.9');
        assert.equal(ip, trusted ? '198.51.100.9' : '127.0.0.1');
      });
    }
  });
}
