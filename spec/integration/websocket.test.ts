import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { startTestNode, TestClient, until, type TestNode } from '../../lib/testing/index.js';

describe('WebSocket clients on one node', () => {
  let t: TestNode;
  before(async () => { t = await startTestNode(); });
  after(async () => { await t.stop(); });

  test('connect with a token: connected frame names session, user and node', async () => {
    const { client, connected } = await TestClient.connect(t.url, { token: await t.token('alice') });
    assert.equal(connected.user, 'alice');
    assert.equal(typeof connected.session, 'string');
    assert.equal(connected.node, t.node.id);
    assert.equal(connected.resumed, false);
    client.close();
  });

  test('REST publish reaches subscribers with offsets 1, 2, 3 and the epoch of subscribed', async () => {
    const { client } = await TestClient.connect(t.url, { token: await t.token('bob') });
    const sub = await client.subscribe('ws-offsets');
    assert.equal(sub.type, 'subscribed');
    assert.equal(sub.offset, 0);
    for (let i = 0; i < 3; i++) {
      const r = await t.api('POST', '/v1/channels/ws-offsets/messages', { data: { n: i } });
      assert.equal(r.status, 200);
      assert.equal(r.body.offset, i + 1);
      assert.equal(r.body.epoch, sub.epoch);
    }
    const msgs = await client.waitMessages('ws-offsets', 3);
    assert.deepEqual(msgs.map((m) => m.offset), [1, 2, 3]);
    assert.deepEqual(msgs.map((m) => (m.data as { n: number }).n), [0, 1, 2]);
    assert.ok(msgs.every((m) => m.epoch === sub.epoch && m.from === undefined));
    client.close();
  });

  test('client publish needs a publish right or clientPublish; from carries the user', async () => {
    const { client: reader } = await TestClient.connect(t.url, { token: await t.token('reader') });
    await reader.subscribe('ws-client-pub');
    const { client: noRight } = await TestClient.connect(t.url, { token: await t.token('mallory') });
    const denied = await noRight.request({ type: 'publish', channel: 'ws-client-pub', data: 'x' });
    assert.equal(denied.type, 'error');
    assert.equal(denied.code, 'forbidden');
    const { client: writer } = await TestClient.connect(t.url, { token: await t.token('writer', { publish: ['ws-client-pub'] }) });
    const ok = await writer.request({ type: 'publish', channel: 'ws-client-pub', data: { hi: 1 } });
    assert.equal(ok.type, 'reply');
    assert.equal(ok.offset, 1);
    const [m] = await reader.waitMessages('ws-client-pub', 1);
    assert.equal(m!.from, 'writer');
    assert.deepEqual(reader.messages('ws-client-pub').length, 1, 'the denied publish never reached anyone');
    for (const c of [reader, noRight, writer]) c.close();
  });

  test('resume with since: missed messages and recovered true; unknown epoch or trimmed history: recovered false', async () => {
    const ch = 'ws-resume';
    for (let i = 1; i <= 5; i++) await t.api('POST', `/v1/channels/${ch}/messages`, { data: i });
    const hist = await t.api('GET', `/v1/channels/${ch}/history`);
    const epoch = hist.body.epoch;
    const { client } = await TestClient.connect(t.url, { token: await t.token('carol') });
    const sub = await client.subscribe(ch, { epoch, offset: 2 });
    assert.equal(sub.recovered, true);
    assert.equal(sub.offset, 5);
    const msgs = await client.waitMessages(ch, 3);
    assert.deepEqual(msgs.map((m) => m.data), [3, 4, 5]);

    const { client: c2 } = await TestClient.connect(t.url, { token: await t.token('carol') });
    const wrong = await c2.subscribe(ch, { epoch: 'deadbeef', offset: 2 });
    assert.equal(wrong.recovered, false);
    await t.api('PUT', `/v1/channels/${ch}/config`, { history: { size: 2 } });
    for (let i = 6; i <= 9; i++) await t.api('POST', `/v1/channels/${ch}/messages`, { data: i });
    const { client: c3 } = await TestClient.connect(t.url, { token: await t.token('carol') });
    const gap = await c3.subscribe(ch, { epoch, offset: 5 });
    assert.equal(gap.recovered, false, 'offsets 6 and 7 were trimmed: the client must be told');
    for (const c of [client, c2, c3]) c.close();
  });

  test('a session survives its socket: reconnect with the session id keeps the user and resumes without gaps', async () => {
    const ch = 'ws-session';
    const { client, connected } = await TestClient.connect(t.url, { token: await t.token('dave') });
    await client.subscribe(ch);
    await t.api('POST', `/v1/channels/${ch}/messages`, { data: 1 });
    await client.waitMessages(ch, 1);
    client.close();
    await t.api('POST', `/v1/channels/${ch}/messages`, { data: 2 });
    await t.api('POST', `/v1/channels/${ch}/messages`, { data: 3 });
    const { client: again, connected: c2 } = await TestClient.connect(t.url, { session: connected.session as string });
    assert.equal(c2.session, connected.session);
    assert.equal(c2.user, 'dave');
    assert.equal(c2.resumed, true);
    const resumed = await again.next((f) => f.type === 'subscribed');
    assert.equal(resumed.channel, ch);
    assert.equal(resumed.recovered, true);
    await t.api('POST', `/v1/channels/${ch}/messages`, { data: 4 });
    const msgs = await again.waitMessages(ch, 3);
    assert.deepEqual(msgs.map((m) => m.data), [2, 3, 4]);
    again.close();
  });

  test('an unknown session id falls back to a fresh session (token required)', async () => {
    const { connected } = await TestClient.connect(t.url, { token: await t.token('erin'), session: 'no-such-session' });
    assert.equal(connected.resumed, false);
    assert.notEqual(connected.session, 'no-such-session');
  });

  test('bad frames get coded error frames and the connection stays usable', async () => {
    const { client } = await TestClient.connect(t.url, { token: await t.token('frank') });
    client.send('this is not json');
    assert.equal((await client.next((f) => f.type === 'error')).code, 'bad_request');
    client.send({ type: 'teleport', id: 7 });
    const unknown = await client.next((f) => f.type === 'error');
    assert.equal(unknown.code, 'bad_request');
    assert.equal(unknown.id, 7);
    client.send('['.repeat(30_000) + ']'.repeat(30_000)); // 60 KB: under maxPayload, far over maxJsonDepth
    assert.equal((await client.next((f) => f.type === 'error')).code, 'bad_request');
    const badName = await client.request({ type: 'subscribe', channel: 'bad name!' });
    assert.equal(badName.code, 'bad_request');
    const system = await client.request({ type: 'subscribe', channel: '$user:alice' });
    assert.equal(system.code, 'bad_request', '$ names are not valid client channel names');
    client.ws.send(Buffer.from([1, 2, 3]), { binary: true });
    assert.equal((await client.next((f) => f.type === 'error')).code, 'bad_request');
    client.send({ type: 'ping' });
    assert.equal((await client.next((f) => f.type === 'pong' || f.type === 'error')).type, 'pong');
    client.close();
  });

  test('a frame over maxPayload closes the connection with 1009', async () => {
    const { client } = await TestClient.connect(t.url, { token: await t.token('gina') });
    client.send({ type: 'publish', id: 1, channel: 'x', data: 'a'.repeat(70_000) });
    const closed = await client.waitClosed();
    assert.equal(closed.code, 1009);
  });

  test('frames before connect are refused; a missing token is refused without --allow-anonymous', async () => {
    const client = new TestClient(t.url.replace('http', 'ws') + '/v1/ws');
    await client.opened;
    client.send({ type: 'subscribe', id: 1, channel: 'a' });
    assert.equal((await client.next()).code, 'bad_request');
    client.send({ type: 'connect' });
    assert.equal((await client.next((f) => f.type === 'error')).code, 'unauthorized');
    assert.equal((await client.waitClosed()).code, 4401);
  });

  for (const [name, make] of [
    ['wrong signature', async () => (await t.token('h')).slice(0, -3) + 'AAA'],
    ['expired', async () => t.token('h', { ttlSeconds: -10 })],
    ['alg none', async () => {
      const b64 = (o: unknown) => Buffer.from(JSON.stringify(o)).toString('base64url');
      return `${b64({ alg: 'none', typ: 'JWT' })}.${b64({ sub: 'h', exp: Math.floor(Date.now() / 1000) + 60 })}.`;
    }],
    ['missing sub', async () => {
      const { SignJWT } = await import('jose');
      return new SignJWT({}).setProtectedHeader({ alg: 'HS256' }).setExpirationTime('1h').sign(new TextEncoder().encode('test-jwt-secret-0123456789'));
    }],
  ] as const) {
    test(`bad token (${name}) is refused with unauthorized and close 4401`, async () => {
      const client = new TestClient(t.url.replace('http', 'ws') + '/v1/ws');
      await client.opened;
      client.send({ type: 'connect', token: await make() });
      assert.equal((await client.next()).code, 'unauthorized');
      assert.equal((await client.waitClosed()).code, 4401);
    });
  }

  test('messaging one user reaches every connection of that user; delivered false when offline', async () => {
    const token = await t.token('ursula');
    const { client: a } = await TestClient.connect(t.url, { token });
    const { client: b } = await TestClient.connect(t.url, { token });
    const r = await t.api('POST', '/v1/users/ursula/messages', { data: { dm: 'hi' } });
    assert.equal(r.status, 200);
    assert.deepEqual(r.body, { user: 'ursula', delivered: true });
    for (const c of [a, b]) {
      const [m] = await c.waitMessages('$user:ursula', 1);
      assert.deepEqual(m!.data, { dm: 'hi' });
    }
    const none = await t.api('POST', '/v1/users/nobody-online/messages', { data: 1 });
    assert.deepEqual(none.body, { user: 'nobody-online', delivered: false });
    const d = await t.api('POST', '/v1/users/ursula/disconnect', { reason: 'bye' });
    assert.deepEqual(d.body, { disconnected: 2 });
    assert.equal((await a.waitClosed()).code, 4000);
    assert.equal((await b.waitClosed()).code, 4000);
  });
});

describe('origins and anonymous clients', () => {
  let t: TestNode;
  before(async () => { t = await startTestNode({ allowedOrigins: ['https://app.example'], allowAnonymous: true }); });
  after(async () => { await t.stop(); });

  test('an Origin outside --allowed-origins gets 403 before the upgrade', async () => {
    const bad = new TestClient(t.url.replace('http', 'ws') + '/v1/ws', { headers: { origin: 'https://evil.example' } });
    await assert.rejects(bad.opened, /403/);
    const good = new TestClient(t.url.replace('http', 'ws') + '/v1/ws', { headers: { origin: 'https://app.example' } });
    await good.opened;
    good.send({ type: 'connect' });
    const c = await good.next();
    assert.equal(c.type, 'connected');
    assert.equal(c.user, null, 'anonymous connection');
    good.close();
  });
});

describe('session expiry', () => {
  let t: TestNode;
  before(async () => { t = await startTestNode({ sessionTtlSeconds: 1 }); });
  after(async () => { await t.stop(); });

  test('a session whose socket is gone past the TTL cannot be resumed and its subscriptions end', async () => {
    const { client, connected } = await TestClient.connect(t.url, { token: await t.token('ttl-user') });
    await client.subscribe('ttl-room');
    assert.equal((await t.api('GET', '/v1/channels/ttl-room/presence')).body.count, 1);
    client.close();
    const deadline = Date.now() + 5000;
    while ((await t.api('GET', '/v1/channels/ttl-room/presence')).body.count !== 0) {
      assert.ok(Date.now() < deadline, 'subscription still held 5 s after a 1 s TTL');
      await new Promise((r) => setTimeout(r, 100));
    }
    const { connected: again } = await TestClient.connect(t.url, { token: await t.token('ttl-user'), session: connected.session as string });
    assert.equal(again.resumed, false);
    assert.notEqual(again.session, connected.session);
  });
});

describe('kicks while away', () => {
  let t: TestNode;
  before(async () => { t = await startTestNode(); });
  after(async () => { await t.stop(); });

  test('a kick that happens while the socket is away is told on resume; the disconnect reason reaches the client', async () => {
    const { client, connected } = await TestClient.connect(t.url, { token: await t.token('wanderer') });
    await client.subscribe('away-room');
    client.close();
    await t.api('POST', '/v1/channels/away-room/kick', { user: 'wanderer', reason: 'flooding' });
    const { client: back } = await TestClient.connect(t.url, { session: connected.session as string });
    const kicked = await back.next((f) => f.type === 'kicked');
    assert.equal(kicked.channel, 'away-room');
    assert.equal(kicked.reason, 'flooding');
    await t.api('POST', '/v1/users/wanderer/disconnect', { reason: 'account closed' });
    const closed = await back.waitClosed();
    assert.deepEqual(closed, { code: 4000, reason: 'account closed' });
  });
});

/** `hashpub_ws_disconnects_total{reason}` as the node's /metrics shows it. */
const disconnects = (t: TestNode, reason: string) => t.metric('hashpub_ws_disconnects_total', { reason });

describe('keepalive', () => {
  let t: TestNode;
  before(async () => { t = await startTestNode({ pingSeconds: 0.5 }); });
  after(async () => { await t.stop(); });

  test('a client that stops answering pings is dropped and keeps its session; one that answers stays', async () => {
    const mute = new TestClient(t.url.replace(/^http/, 'ws') + '/v1/ws', { autoPong: false });
    let pings = 0;
    mute.ws.on('ping', () => pings++);
    await mute.opened;
    mute.send({ type: 'connect', token: await t.token('mute') });
    const connected = await mute.next((f) => f.type === 'connected');
    await mute.subscribe('keepalive-room');
    const { client: live } = await TestClient.connect(t.url, { token: await t.token('live') });
    const closed = await mute.waitClosed(5000);
    assert.equal(closed.code, 1006, 'dropped without a close handshake (a dead peer would not answer one)');
    assert.ok(pings >= 1, 'it was pinged before being dropped');
    assert.equal(await disconnects(t, 'pong_timeout'), 1, '/metrics counts the drop as a pong timeout');
    await new Promise((r) => setTimeout(r, 1000));
    assert.equal(live.closed, null, 'a client that answers its pings stays connected');
    const { client: back, connected: again } = await TestClient.connect(t.url, { session: connected.session as string });
    assert.equal(again.resumed, true, 'the dropped client resumes its session');
    live.ws.close(1000); // a goodbye
    back.close(); // the socket vanishes (no close frame)
    await until('both ends counted', 5000, async () => await disconnects(t, 'client_closed') === 1 && await disconnects(t, 'dropped') === 1);
    assert.equal(await disconnects(t, 'pong_timeout'), 1);
  });

  test('a client that keeps talking is not pinged, a silent one is, and a talker that goes mute is still dropped', async () => {
    const talker = new TestClient(t.url.replace(/^http/, 'ws') + '/v1/ws', { autoPong: false });
    const silent = new TestClient(t.url.replace(/^http/, 'ws') + '/v1/ws');
    let talkerPings = 0;
    let silentPings = 0;
    talker.ws.on('ping', () => talkerPings++);
    silent.ws.on('ping', () => silentPings++);
    await Promise.all([talker.opened, silent.opened]);
    talker.send({ type: 'connect', token: await t.token('talker') });
    silent.send({ type: 'connect', token: await t.token('silent') });
    await Promise.all([talker.next((f) => f.type === 'connected'), silent.next((f) => f.type === 'connected')]);
    const pings0 = await t.metric('hashpub_ws_pings_total');
    // lib/client's liveness check, sped up: {"type":"ping"} well within every 0.5 s round.
    const chatter = setInterval(() => talker.send({ type: 'ping' }), 150);
    try {
      await new Promise((r) => setTimeout(r, 2500));
    } finally {
      clearInterval(chatter);
    }
    assert.equal(talkerPings, 0, 'a client that sent frames every round got no ping (and needed no pong)');
    assert.equal(talker.closed, null);
    assert.ok(silentPings >= 3, `a silent client was pinged every round (${silentPings} in 2.5 s)`);
    assert.ok(await t.metric('hashpub_ws_pings_total') - pings0 >= 3, '/metrics counts the pings sent');
    // Mute now (it answers no ping): it is pinged once it has been quiet a round, then dropped.
    const closed = await talker.waitClosed(5000);
    assert.equal(closed.code, 1006);
    assert.ok(talkerPings >= 1, 'pinged once it went quiet');
    assert.equal(silent.closed, null);
    silent.close();
  });

  test('a client that asks for text pings gets {"type":"ping"} frames instead, stays while it answers, and is dropped when it stops', async () => {
    const c = new TestClient(t.url.replace(/^http/, 'ws') + '/v1/ws');
    let wsPings = 0;
    c.ws.on('ping', () => wsPings++);
    await c.opened;
    c.send({ type: 'connect', ping: true, token: await t.token('page') });
    const connected = await c.next((f) => f.type === 'connected');
    assert.equal(connected.ping, 0.5, '`connected` tells the client the period to expect pings at');
    const drops0 = await disconnects(t, 'pong_timeout');
    // Answer every ping for 2.5 s (five rounds).
    const until = Date.now() + 2500;
    let answered = 0;
    while (Date.now() < until) {
      await c.next((f) => f.type === 'ping', 2000);
      c.send({ type: 'pong' });
      answered++;
    }
    assert.ok(answered >= 3, `pinged every round while it answered (${answered} pings)`);
    assert.equal(wsPings, 0, 'no WebSocket-level pings (a browser page could not see them)');
    assert.equal(c.closed, null, 'a client that answers stays connected');
    // Stop answering: dropped at the round after the unanswered ping.
    const closed = await c.waitClosed(5000);
    assert.equal(closed.code, 1006);
    assert.equal(await disconnects(t, 'pong_timeout'), drops0 + 1);
  });

  test('a bad ping flag in connect is refused with bad_request', async () => {
    const c = new TestClient(t.url.replace(/^http/, 'ws') + '/v1/ws');
    await c.opened;
    c.send({ type: 'connect', ping: 'yes' });
    const err = await c.next((f) => f.type === 'error');
    assert.equal(err.code, 'bad_request');
    assert.match(String(err.message), /ping must be a boolean/);
    c.close();
  });

  test('a socket that never sends connect is closed after 10 s with the protocol error code', async () => {
    const idle = new TestClient(t.url.replace(/^http/, 'ws') + '/v1/ws');
    await idle.opened;
    const closed = await idle.waitClosed(15_000);
    assert.equal(closed.code, 4002);
    assert.equal(closed.reason, 'no connect frame');
  });
});
