import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { Options } from '../../lib/options.js';
import { startTestNode, TestClient, until, type TestNode } from '../../lib/testing/index.js';

/** Runs `fn` against a fresh node with `options`, stopped afterwards. */
async function withNode(options: Partial<Options>, fn: (t: TestNode) => Promise<void>): Promise<void> {
  const t = await startTestNode({ data: ':memory:', ...options });
  try {
    await fn(t);
  } finally {
    await t.stop();
  }
}

/** `hashpub_refusals_total{limit}` and `hashpub_abuse_disconnects_total` as /metrics shows them. */
async function refusals(t: TestNode): Promise<Record<string, number>> {
  const text = await (await fetch(`${t.url}/metrics`)).text();
  const out: Record<string, number> = {};
  for (const m of text.matchAll(/^hashpub_refusals_total\{limit="(\w+)"\} (\d+)$/gm)) out[m[1]!] = Number(m[2]);
  out.abuse = Number(/^hashpub_abuse_disconnects_total (\d+)$/m.exec(text)?.[1] ?? NaN);
  return out;
}

describe('limits on one WebSocket connection', () => {
  test('commands per second: the burst passes, the next frame is refused rate_limited with its id and retryAfter, unparsed', () =>
    withNode({ maxCommandsPerSecond: 0.01, commandBurst: 6, abuseRefusals: 0, allowAnonymous: true }, async (t) => {
      const { client } = await TestClient.connect(t.url); // 1 frame
      for (let i = 0; i < 4; i++) assert.equal((await client.subscribe(`cmd-${i}`)).type, 'subscribed', 'normal traffic passes');
      client.send({ type: 'ping' });
      await client.next((f) => f.type === 'pong');
      const refused = await client.request({ type: 'subscribe', channel: 'cmd-x' });
      assert.equal(refused.type, 'error');
      assert.equal(refused.code, 'rate_limited');
      assert.ok((refused.retryAfter as number) >= 1, 'says when to retry');
      // Refused before parsing: even a frame that is not JSON gets rate_limited, not bad_request.
      client.send('{"type":"subscribe","id":77,');
      const junk = await client.next((f) => f.type === 'error');
      assert.equal(junk.code, 'rate_limited');
      assert.equal(junk.id, 77, 'the id is read from the start of the frame');
      assert.equal(client.closed, null, 'abuse disconnect is off here');
      assert.equal((await refusals(t)).commands, 2);
      client.close();
    }));

  test('pongs nobody asked for count as commands: a pong flood is refused like any other (only the answer to a ping is free)', () =>
    withNode({ maxCommandsPerSecond: 0.01, commandBurst: 3, abuseRefusals: 0, allowAnonymous: true }, async (t) => {
      const client = new TestClient(t.url.replace(/^http/, 'ws') + '/v1/ws');
      await client.opened;
      client.send({ type: 'connect', ping: true }); // 1 command
      await client.next((f) => f.type === 'connected');
      for (let i = 0; i < 5; i++) client.send({ type: 'pong' });
      const refused = await client.next((f) => f.type === 'error');
      assert.equal(refused.code, 'rate_limited');
      assert.ok((await refusals(t)).commands >= 2, 'the pongs past the burst were refused');
      client.close();
    }));

  test('subscriptions per connection: over the cap is rate_limited at once; $user:U does not count; unsubscribing makes room', () =>
    withNode({ maxSubscriptionsPerConnection: 3 }, async (t) => {
      const { client } = await TestClient.connect(t.url, { token: await t.token('ann') });
      for (const c of ['s-a', 's-b', 's-c']) assert.equal((await client.subscribe(c)).type, 'subscribed');
      const over = await client.subscribe('s-d');
      assert.equal(over.type, 'error');
      assert.equal(over.code, 'rate_limited');
      assert.equal((await client.subscribe('s-a')).type, 'subscribed', 'a channel it already has is no new subscription');
      assert.equal((await client.request({ type: 'unsubscribe', channel: 's-a' })).ok, true);
      assert.equal((await client.subscribe('s-d')).type, 'subscribed');
      const presence = await t.api('GET', '/v1/channels/s-d/presence');
      assert.deepEqual(presence.body.users, ['ann']);
      assert.equal((await refusals(t)).subscriptions, 1);
      // Messages to the user still arrive: its $user:U subscription was never refused.
      assert.equal((await t.api('POST', '/v1/users/ann/messages', { data: 'hi' })).body.delivered, true);
      await client.waitMessages('$user:ann', 1);
      client.close();
    }));

  test('abuse: refused abuseRefusals times within the window closes 4429 and ends the session', () =>
    withNode({ maxCommandsPerSecond: 0.01, commandBurst: 3, abuseRefusals: 4, abuseWindowSeconds: 60, allowAnonymous: true }, async (t) => {
      const { client, connected } = await TestClient.connect(t.url);
      assert.equal((await client.subscribe('abuse-a')).type, 'subscribed');
      for (let i = 0; i < 20; i++) client.send({ type: 'ping' });
      const closed = await client.waitClosed();
      assert.equal(closed.code, 4429);
      assert.equal(closed.reason, '60', 'the reason is the seconds to wait');
      assert.equal(client.frames.filter((f) => f.code === 'rate_limited').length, 4, 'nothing is answered after the close');
      await until('the session ended', 5000, async () => (await t.api('GET', '/v1/channels/abuse-a/presence')).body.count === 0);
      const again = await TestClient.connect(t.url, { session: connected.session as string });
      assert.equal(again.connected.resumed, false, 'its session is gone');
      const r = await refusals(t);
      assert.equal(r.commands, 4);
      assert.equal(r.abuse, 1);
      again.client.close();
    }));

  test('defaults: one anonymous socket subscribing to 2,000 channels at once is refused after the burst and closed 4429', () =>
    withNode({ allowAnonymous: true }, async (t) => {
      const { client } = await TestClient.connect(t.url);
      for (let i = 1; i <= 2000; i++) client.send({ type: 'subscribe', id: i, channel: `flood-${i}` });
      assert.equal((await client.waitClosed(10_000)).code, 4429);
      const accepted = client.frames.filter((f) => f.type === 'subscribed').length;
      assert.ok(accepted <= 200, `at most the subscription cap was accepted (${accepted})`);
      assert.equal(await t.metric('hashpub_abuse_disconnects_total'), 1);
      await until('its subscriptions are gone', 5000, async () => (await t.metric('hashpub_subscriptions')) === 0);
    }));
});

describe('limits per channel', () => {
  test('client publishes per second on a channel: WebSocket and REST refused over the rate, API-key publishes and other channels not', () =>
    withNode({ maxChannelPublishesPerSecond: 0.01, channelPublishBurst: 2 }, async (t) => {
      const token = await t.token('pub', { publish: ['pr-1', 'pr-2'] });
      const { client } = await TestClient.connect(t.url, { token });
      assert.equal((await client.request({ type: 'publish', channel: 'pr-1', data: 1 })).type, 'reply');
      const viaRest = await fetch(`${t.url}/v1/channels/pr-1/messages`, { method: 'POST',
        headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' }, body: '{"data":2}' });
      assert.equal(viaRest.status, 200);
      const refused = await client.request({ type: 'publish', channel: 'pr-1', data: 3 });
      assert.equal(refused.code, 'rate_limited');
      const rest = await fetch(`${t.url}/v1/channels/pr-1/messages`, { method: 'POST',
        headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' }, body: 'not even JSON' });
      assert.equal(rest.status, 429, 'refused before the body is read');
      assert.ok(Number(rest.headers.get('retry-after')) >= 1, '429 carries Retry-After');
      assert.equal(((await rest.json()) as { error: { code: string } }).error.code, 'rate_limited');
      assert.equal((await t.api('POST', '/v1/channels/pr-1/messages', { data: 'server' })).status, 200, 'the API key is not limited');
      assert.equal((await client.request({ type: 'publish', channel: 'pr-2', data: 1 })).type, 'reply', 'another channel has its own rate');
      const history = await t.api('GET', '/v1/channels/pr-1/history');
      assert.deepEqual(history.body.messages.map((m: { data: unknown }) => m.data), [1, 2, 'server'], 'refused publishes were not applied');
      assert.equal((await refusals(t)).channel_publishes, 2);
      client.close();
    }));
});
