// kill -9 of the node a page's client is connected to, in a 3-node cluster of CLI processes (3, not 2: with
// majority quorum a lone survivor refuses writes). The victim also owns the channel. The page keeps publishing
// before, during and after the kill; every publish the client saw acknowledged must reach the page's own
// subscription exactly once, in order; a new epoch must be surfaced as a gap. Each transport in turn; the
// victim restarts on its data dir between rounds (same node id: a fresh node would leave the dead one counting
// against the majority, and the next kill would leave no quorum).
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { signToken } from '../../lib/index.js';
import { until } from '../../lib/testing/index.js';
import { cleanupProcesses, launch, tempDir, waitFor, type Proc } from '../e2e/cli-process.js';
import { launchChromium, pageServer, type Browser } from './chromium.js';
import { clientPage } from './page-client.js';

const API_KEY = 'browser-kill-api-key';
const JWT_SECRET = 'browser-kill-jwt-secret-0123456789';
const SECRET = 'browser-kill-cluster-secret';
const CLUSTER = `browser-kill-${process.pid}`;
const TRANSPORTS = ['websocket', 'sse', 'poll'];
/** Publishes per round and the pause between them: the kill lands in the middle. */
const PUBLISHES = 40;
const PUBLISH_GAP_MS = 50;

interface Node { proc: Proc; url: string; id: string; data: string }

async function api(url: string, method: string, path: string): Promise<{ status: number; body: any }> {
  const res = await fetch(url + path, { method, headers: { authorization: `Bearer ${API_KEY}` }, signal: AbortSignal.timeout(5000) });
  return { status: res.status, body: await res.json().catch(() => null) };
}

describe('kill -9 of the client\'s node in a 3-node cluster', () => {
  let browser: Browser;
  let app: Awaited<ReturnType<typeof pageServer>>;
  let bootstrap: string;
  const nodes: Node[] = [];

  /** Starts a node (again, on `data` of a killed one: the same node id, so the majority counts the same nodes). */
  async function startNode(data = tempDir('hashpub-browser-kill-')): Promise<Node> {
    const proc = launch(['start', '--host', '127.0.0.1', '--port', '0', '--data', data, '--bootstrap', bootstrap, '--cluster', CLUSTER,
      '--secret', SECRET, '--api-key', API_KEY, '--jwt-secret', JWT_SECRET, '--allowed-origins', app.origin, '--log-level', 'warn'], data);
    const [, url] = await waitFor(proc, /hashpub node ready at (http:\/\/\S+)/);
    return { proc, url: url!, id: (await api(url!, 'GET', '/v1/cluster')).body.self as string, data };
  }

  /** Every live node lists exactly the live nodes. */
  async function converged(): Promise<void> {
    const want = nodes.map((n) => n.id).sort().join(',');
    await until('the cluster converges', 20_000, async () => {
      const views = await Promise.all(nodes.map(async (n) => (await api(n.url, 'GET', '/v1/cluster')).body.members.map((m: { id: string }) => m.id).sort().join(',')));
      return views.every((v) => v === want);
    });
  }

  before(async () => {
    app = await pageServer();
    const boot = launch(['bootstrap', '--host', '127.0.0.1', '--port', '0'], tempDir('hashpub-browser-kill-'));
    bootstrap = (await waitFor(boot, /bootstrap listening on (127\.\d+\.\d+\.\d+:\d+)/, 15_000))[1]!;
    nodes.push(...await Promise.all([0, 1, 2].map(() => startNode())));
    await converged();
    browser = await launchChromium();
  });
  after(async () => {
    await browser?.close();
    await app?.close();
    await cleanupProcesses();
  });

  for (const [round, transport] of TRANSPORTS.entries()) {
    test(`${transport}: every acknowledged publish arrives once, in order, across the kill`, async (t) => {
      const victim = nodes[round % nodes.length]!;
      const others = nodes.filter((n) => n !== victim);
      let channel = '';
      for (let i = 0; !channel && i < 500; i++) {
        const c = `kill-${transport}-${i}`;
        if ((await api(victim.url, 'GET', `/v1/channels/${c}/owner`)).body.owner === victim.id) channel = c;
      }
      assert.ok(channel, 'a channel the victim owns');
      const token = await signToken(JWT_SECRET, `killer-${transport}`, { publish: [channel] });
      const pc = await clientPage(browser, `${app.origin}/`, [victim.url, ...others.map((n) => n.url)], { token, transports: [transport], channel });
      await pc.until(`h.sub.state === 'subscribed'`);
      assert.equal((await pc.record()).url, victim.url);

      await pc.publishLoop(1, PUBLISHES, PUBLISH_GAP_MS);
      await pc.until('h.acks.length >= 10');
      const killedAt = Date.now();
      victim.proc.child.kill('SIGKILL');
      await victim.proc.exited;
      nodes.splice(nodes.indexOf(victim), 1);
      t.after(async () => { // the victim restarts, so the next round again kills one node of three
        await pc.page.close().catch(() => {});
        nodes.push(await startNode(victim.data));
        await converged();
      });
      await pc.until('h.looped', 60_000).catch(async (err) => {
        const r = await pc.record();
        assert.fail(`${err}\nthe page: ${JSON.stringify({ states: r.states, subStates: r.subStates, acks: r.acks.length, failed: r.failed, gaps: r.gaps }).slice(0, 4000)}`);
      });
      const settled = await pc.record();
      const acked = settled.acks.map((a) => a.data.seq as number);
      t.diagnostic(`${transport}: ${acked.length}/${PUBLISHES} publishes acknowledged, ${settled.failed.length} failed ` +
        `(${[...new Set(settled.failed.map((f) => f.code))].join(',')}); on ${settled.url} when the last one settled, +${Date.now() - killedAt} ms after the kill`);
      // Wait for the subscription to catch up with the last acknowledged publish (or time out and report).
      const last = acked.at(-1);
      await pc.until(`h.got.some((m) => m.data && m.data.seq === ${last})`, 20_000).catch(() => {});
      const r = await pc.record();
      const received = r.got.filter((m) => m.data && typeof m.data.seq === 'number').map((m) => m.data.seq as number);
      t.diagnostic(`${transport}: received ${received.length}, epochs ${[...new Set(r.got.map((m) => m.epoch))].join(' -> ')}, gaps ${JSON.stringify(r.gaps)}`);
      assert.notEqual(r.url, victim.url, 'the client moved to a surviving node');
      assert.equal(r.client, 'connected');
      assert.ok(acked.length > 10, 'publishing went on after the kill');
      const missing = acked.filter((s) => !received.includes(s));
      const twice = received.filter((s, i) => received.indexOf(s) !== i);
      const disorder = received.filter((s, i) => i > 0 && s <= received[i - 1]!);
      const epochs = new Set(r.got.map((m) => m.epoch));
      if (epochs.size > 1) assert.ok(r.gaps.length > 0, 'a new epoch without a gap event: a silent loss');
      assert.deepEqual({ missing, twice, disorder }, { missing: [], twice: [], disorder: [] },
        `acknowledged ${acked.join(',')}; received ${received.join(',')}; epochs ${[...epochs].join(' -> ')}`);

    });
  }
});
