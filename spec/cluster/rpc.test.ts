// Rpc and ClusterRouter over an in-memory fake membership: answers, error codes across the hop, timeouts,
// a peer leaving, forwarding when views disagree (bounded hops), one-way push messages.
import assert from 'node:assert/strict';
import { EventEmitter } from 'node:events';
import { test } from 'node:test';
import { ClusterRouter, MAX_HOPS } from '../../lib/cluster/remote.js';
import type { FailureStats, FrameHandler, Membership, MembershipEvents } from '../../lib/cluster/membership.js';
import { ownerOf } from '../../lib/cluster/router.js';
import { Rpc } from '../../lib/cluster/rpc.js';
import { HashpubError } from '../../lib/errors.js';
import type { Owner, PushTarget } from '../../lib/owner/owner-api.js';
import type { Message } from '../../lib/protocol/types.js';

/** A membership whose view is set by the test; frames go to the other fakes of the same net, asynchronously. */
class FakeMembership extends EventEmitter<MembershipEvents> implements Membership {
  handler: FrameHandler | null = null;
  view: string[];
  constructor(readonly self: string, private readonly net: Map<string, FakeMembership>) {
    super();
    this.view = [self];
    net.set(self, this);
  }
  members(): string[] { return [...this.view].sort(); }
  urlOf(id: string): string | undefined { return this.view.includes(id) ? `http://${id}` : undefined; }
  send(id: string, frame: Buffer): boolean {
    const peer = this.net.get(id);
    if (id === this.self || !peer || !this.view.includes(id)) return false;
    const copy = Buffer.from(frame);
    setImmediate(() => peer.handler?.(this.self, copy));
    return true;
  }
  onFrame(handler: FrameHandler): void { this.handler = handler; }
  lastHeard(id: string): number | undefined { return this.view.includes(id) ? performance.now() : undefined; }
  failureStats(): FailureStats { return { suspicions: 0, recovered: 0, refutations: 0, deaths: 0, refusedDeaths: 0, healthMultiplier: 1 }; }
  async start(): Promise<void> {}
  async stop(): Promise<void> {}
}

type Calls = Array<{ method: string; args: unknown[] }>;

/** An Owner stub that records calls; getConfig answers which node ran it, history never answers, kick throws. */
function stubOwner(name: string, calls: Calls): Owner {
  const rec = (method: string) => (...args: unknown[]) => {
    calls.push({ method, args });
    if (method === 'getConfig') return Promise.resolve({ ranAt: name });
    if (method === 'history') return new Promise(() => {});
    if (method === 'kick') return Promise.reject(new HashpubError('banned', 'nope', { retryAfter: 7 }));
    return Promise.resolve(null);
  };
  return new Proxy({}, { get: (_t, p) => rec(String(p)) }) as Owner;
}

function stubPush(delivered: Message[]): PushTarget {
  return {
    deliver: (m) => { delivered.push(m); },
    presence: () => {},
    kicked: () => {},
    disconnectUser: async (user) => user.length,
  };
}

function makeNet(ids: string[], timeoutMs = 5000) {
  const net = new Map<string, FakeMembership>();
  const nodes = ids.map((id) => {
    const membership = new FakeMembership(id, net);
    membership.view = [...ids];
    const calls: Calls = [];
    const delivered: Message[] = [];
    const rpc = new Rpc(membership, { timeoutMs });
    const base = stubOwner(id, calls) as unknown as Record<string | symbol, unknown>;
    const owner = base as never;
    const router = new ClusterRouter(id, {
      owner: () => owner, push: () => stubPush(delivered), replication: async () => null, clusterMessage: () => {}, stats: () => null,
    });
    router.attach(membership, rpc);
    return { id, membership, rpc, router, calls, delivered };
  });
  return nodes;
}

/** A channel for which `pick` holds. */
function channelWhere(pick: (c: string) => boolean): string {
  for (let i = 0; i < 10_000; i++) if (pick(`ch-${i}`)) return `ch-${i}`;
  throw new Error('no such channel');
}

test('a request runs at the owner; error codes and retryAfter survive the hop', async () => {
  const [a, b] = makeNet(['a', 'b']);
  const ch = channelWhere((c) => ownerOf(c, ['a', 'b']) === 'b');
  assert.deepEqual(await a!.router.owner(ch).getConfig(ch), { ranAt: 'b' });
  assert.equal(a!.calls.length, 0);
  await assert.rejects(a!.router.owner(ch).kick(ch, 'u'), (e: unknown) =>
    e instanceof HashpubError && e.code === 'banned' && e.retryAfter === 7 && e.message === 'nope');
  // undefined arguments arrive as undefined, not null
  await a!.router.owner(ch).unsubscribe(ch, 'a', 's1', 'x');
  await a!.router.owner(ch).pushNodesOf(ch);
  assert.deepEqual(b!.calls.find((c) => c.method === 'kick')!.args, [ch, 'u', undefined, undefined]);
  assert.ok(a!.rpc.stats.framesSent >= 4 && a!.rpc.stats.bytesReceived > 0);
});

test('a request times out; a peer leaving fails its pending requests with unavailable', async () => {
  const [a, b] = makeNet(['a', 'b'], 100);
  const ch = channelWhere((c) => ownerOf(c, ['a', 'b']) === 'b');
  await assert.rejects(a!.router.owner(ch).history(ch), (e: unknown) => e instanceof HashpubError && e.code === 'timeout');
  const [a2] = makeNet(['a', 'b'], 5000);
  const pending = a2!.router.owner(ch).history(ch);
  await new Promise((r) => setImmediate(r));
  a2!.membership.emit('leave', 'b');
  await assert.rejects(pending, (e: unknown) => e instanceof HashpubError && e.code === 'unavailable' && e.retryAfter === 1);
  void b;
});

test('views that disagree: forwarded once to the owner the receiver sees; a loop stops after MAX_HOPS', async () => {
  const [a, b, c] = makeNet(['a', 'b', 'c']);
  // a sees b as owner; b and c think b is gone, so b forwards to c, which answers.
  const ch = channelWhere((x) => ownerOf(x, ['a', 'b', 'c']) === 'b' && ownerOf(x, ['a', 'c']) === 'c');
  // Links stay up whatever the routing view says.
  for (const n of [b!, c!]) {
    n.membership.view = ['a', 'c'];
    n.membership.send = FakeMembership.prototype.send.bind(Object.assign(Object.create(n.membership), { view: ['a', 'b', 'c'] }));
  }
  assert.deepEqual(await a!.router.owner(ch).getConfig(ch), { ranAt: 'c' });
  assert.equal(c!.calls.length, 1);
  // c now thinks b owns it again: a -> b -> c -> (hop 2) refused.
  c!.membership.view = ['a', 'b'];
  assert.equal(MAX_HOPS, 2);
  await assert.rejects(a!.router.owner(ch).getConfig(ch), (e: unknown) => e instanceof HashpubError && e.code === 'unavailable');
});

test('push: deliver is one-way, disconnectUser a request; only admitted members get a PushTarget', async () => {
  const [a, b] = makeNet(['a', 'b']);
  const m: Message = { channel: 'x', epoch: 'e', offset: 1, data: { v: 1 }, time: 0 } as Message;
  a!.router.push('b')!.deliver(m, { deliverHook: false, term: 0 });
  assert.equal(await a!.router.push('b')!.disconnectUser('four', 'r'), 4);
  assert.deepEqual(b!.delivered, [m]);
  assert.equal(a!.router.push('zzz'), undefined);
});
