// The official client's keepalive over WebSocket: a browser page cannot see WebSocket pings, so lib/client asks the node
// for {"type":"ping"} text frames (connect `"ping": true`), answers each, and takes a node silent for its ping period
// plus 15 s for dead. Against a real node, and a small real server that goes silent on purpose.
import assert from 'node:assert/strict';
import type { AddressInfo } from 'node:net';
import { after, before, describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import WebSocket, { WebSocketServer } from 'ws';
import { connect, type ClientState, type StateInfo } from '../../lib/client/client.js';
import { startTestNode, until, type TestNode } from '../../lib/testing/index.js';

const WS = WebSocket as unknown as NonNullable<Parameters<typeof connect>[1]>['WebSocket'];

describe('the official client keeps its WebSocket alive', () => {
  let t: TestNode;
  before(async () => { t = await startTestNode({ pingSeconds: 0.5 }); });
  after(() => t.stop());

  test('it answers the node\'s pings round after round and stays connected', async () => {
    const c = connect(t.url, { token: await t.token('keeper'), transports: ['websocket'], WebSocket: WS });
    const states: ClientState[] = [];
    c.on('state', (s) => states.push(s));
    try {
      await until('connected', 5000, () => c.state === 'connected');
      const pings0 = await t.metric('hashpub_ws_pings_total');
      await sleep(3000); // six rounds of 0.5 s
      assert.ok(await t.metric('hashpub_ws_pings_total') - pings0 >= 4, 'the node pinged it every round');
      assert.equal(await t.metric('hashpub_ws_disconnects_total', { reason: 'pong_timeout' }), 0, 'every ping was answered');
      assert.deepEqual(states, ['connecting', 'connected'], 'no reconnect on the way');
    } finally {
      c.close();
    }
  });
});

test('a node that goes silent is taken for dead after its ping period + 15 s, and the client reconnects', async () => {
  // Answers connect like a node with 1 s pings, then never sends another frame (a host that vanished).
  const wss = new WebSocketServer({ port: 0, host: '127.0.0.1' });
  const connects: Array<Record<string, unknown>> = [];
  wss.on('connection', (ws) => {
    ws.on('message', (raw) => {
      const f = JSON.parse(String(raw)) as Record<string, unknown>;
      if (f.type !== 'connect') return;
      connects.push(f);
      ws.send(JSON.stringify({ type: 'connected', session: 's1', user: null, node: 'silent', resumed: false, ping: 1 }));
    });
  });
  await new Promise((r) => wss.once('listening', r));
  const c = connect(`http://127.0.0.1:${(wss.address() as AddressInfo).port}`, { transports: ['websocket'], WebSocket: WS });
  const states: Array<[ClientState, StateInfo, number]> = [];
  c.on('state', (s, i) => states.push([s, i, Date.now()]));
  try {
    await until('connected', 5000, () => c.state === 'connected');
    const at = Date.now();
    const lost = await until('taken for dead', 30_000, () => states.find(([s]) => s === 'disconnected'));
    const after = lost[2] - at;
    assert.equal(lost[1].reason, 'timeout');
    assert.ok(after >= 16_000 && after < 22_000, `dead after ${after} ms: 1 s period + 15 s, checked every 5 s`);
    assert.equal(connects[0]!.ping, true, 'the client asked for text pings');
    await until('connected again', 5000, () => connects.length >= 2);
    assert.equal(connects[1]!.session, 's1', 'it tries to resume its session');
  } finally {
    c.close();
    await new Promise((r) => wss.close(r));
  }
});
