/**
 * WebSocket subscribers for the chaos run, behaving like a careful client: each holds a token, subscribes to
 * every channel, and when its connection drops (or goes silent: no frame, not even a pong, for `staleMs`)
 * reconnects to a random reachable node with backoff: session id first, then `since` per channel for any
 * channel the session did not bring back. A refused or kicked subscription is retried from its last position.
 * Every frame received (and every subscribe sent, as `>subscribe`) goes into the subscriber's log.
 */
import WebSocket from 'ws';
import { signToken } from '../../lib/auth/tokens.js';
import { sleep } from '../support/proc.js';
import { reachable, type ClusterControl } from './cluster.js';
import type { Frame, Position, SubscriberLog } from './history.js';
import type { Rng } from './rng.js';

export interface SubscriberOptions {
  channels: string[];
  /** A connection that received nothing for this long is dropped and replaced. */
  staleMs: number;
  /** The client pings this often (the server's pong keeps a quiet connection fresh). */
  pingMs: number;
  /** Deadline for the WebSocket handshake and the `connected` frame. */
  connectTimeoutMs: number;
  /** Channels a resumed session did not answer for within this time are subscribed again with `since`. */
  resumeCheckMs: number;
  /** Wait before retrying a refused subscribe or after a `kicked`. */
  resubscribeMs: number;
  minBackoffMs: number;
  maxBackoffMs: number;
}

export interface SubscriberContext {
  control: ClusterControl;
  now: () => number;
  rng: Rng;
}

export class ChaosSubscriber {
  readonly log: SubscriberLog;
  /** Last position per channel: what `since` says on a resubscribe. */
  readonly positions = new Map<string, Position>();
  private session: string | null = null;
  private ws: WebSocket | null = null;
  private stopped = false;
  private loop: Promise<void> | null = null;
  private everSubscribed = new Set<string>();

  constructor(name: string, private readonly user: string, private readonly ctx: SubscriberContext, private readonly o: SubscriberOptions) {
    this.log = { name, user, frames: [], connections: 0 };
  }

  /** Starts the connection loop; resolves once every channel has been subscribed (rejects after `ms`). */
  async start(ms = 30_000): Promise<void> {
    this.loop = this.run();
    const deadline = Date.now() + ms;
    while (this.everSubscribed.size < this.o.channels.length) {
      if (Date.now() > deadline) throw new Error(`${this.log.name}: subscribed to ${this.everSubscribed.size}/${this.o.channels.length} channels in ${ms} ms`);
      await sleep(50);
    }
  }

  /** True when every channel's last position is at least `want` (same epoch, offset >=). */
  caughtUp(want: Map<string, Position>): boolean {
    for (const [c, w] of want) {
      const p = this.positions.get(c);
      if (!p || p.epoch !== w.epoch || p.offset < w.offset) return false;
    }
    return true;
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.ws?.terminate();
    await this.loop;
  }

  private async run(): Promise<void> {
    let failures = 0;
    while (!this.stopped) {
      const node = this.ctx.rng.pick(reachable(this.ctx.control));
      const lived = node ? await this.connection(node.url) : 0;
      if (this.stopped) return;
      failures = lived > 5000 ? 0 : failures + 1;
      const cap = Math.min(this.o.maxBackoffMs, this.o.minBackoffMs * 2 ** Math.min(failures, 10));
      await sleep(this.ctx.rng.between(this.o.minBackoffMs, cap));
    }
  }

  /** One connection, from open to close; resolves with how long it lived (ms). */
  private connection(url: string): Promise<number> {
    const conn = ++this.log.connections;
    const opened = Date.now();
    const ws = new WebSocket(url.replace(/^http/, 'ws') + '/v1/ws', { handshakeTimeout: this.o.connectTimeoutMs });
    this.ws = ws;
    let lastFrame = Date.now();
    let connected = false;
    const requests = new Map<number, string>();
    const answered = new Set<string>();
    let nextId = 1;
    const timers = new Set<NodeJS.Timeout>();
    const later = (ms: number, fn: () => void) => {
      const t = setTimeout(() => { timers.delete(t); if (this.ws === ws && ws.readyState === WebSocket.OPEN) fn(); }, ms);
      timers.add(t);
    };
    const send = (f: unknown) => { if (ws.readyState === WebSocket.OPEN) ws.send(JSON.stringify(f)); };
    const subscribe = (channel: string) => {
      const id = nextId++;
      requests.set(id, channel);
      const since = this.positions.get(channel);
      this.log.frames.push({ t: this.ctx.now(), conn, frame: { type: '>subscribe', channel, ...(since ? { since: { ...since } } : {}) } });
      send({ type: 'subscribe', id, channel, ...(since ? { since } : {}) });
    };
    const onFrame = (f: Frame) => {
      const channel = typeof f.channel === 'string' ? f.channel : undefined;
      switch (f.type) {
        case 'connected':
          connected = true;
          this.session = f.session as string;
          if (f.resumed === true) later(this.o.resumeCheckMs, () => { for (const c of this.o.channels) if (!answered.has(c)) subscribe(c); });
          else for (const c of this.o.channels) subscribe(c);
          break;
        case 'subscribed': {
          if (typeof f.id === 'number') requests.delete(f.id);
          if (!channel) break;
          answered.add(channel);
          this.everSubscribed.add(channel);
          const pos = this.positions.get(channel);
          if (!pos || (f.recovered === false && pos.epoch !== f.epoch)) this.positions.set(channel, { epoch: f.epoch as string, offset: f.offset as number });
          break;
        }
        case 'message':
          if (channel) this.positions.set(channel, { epoch: f.epoch as string, offset: f.offset as number });
          break;
        case 'error': {
          const c = typeof f.id === 'number' ? requests.get(f.id) : channel;
          if (typeof f.id === 'number') requests.delete(f.id);
          if (!connected) { ws.terminate(); break; }
          if (c && f.code !== 'banned') {
            answered.add(c);
            later(this.o.resubscribeMs, () => subscribe(c));
          }
          break;
        }
        case 'kicked':
          if (channel) later(this.o.resubscribeMs, () => subscribe(channel));
          break;
      }
    };
    return new Promise((resolve) => {
      const tick = setInterval(() => {
        if (Date.now() - lastFrame > this.o.staleMs) ws.terminate();
        else send({ type: 'ping' });
      }, this.o.pingMs);
      const connectDeadline = setTimeout(() => { if (!connected) ws.terminate(); }, this.o.connectTimeoutMs);
      ws.on('open', async () => {
        const token = await signToken(this.ctx.control.jwtSecret, this.user, { ttlSeconds: 86_400 });
        // Resuming a session, say where this client really is: frames written to the dropped socket may never
        // have arrived (spec/protocol.md, connect.since).
        const since = this.session ? { since: Object.fromEntries(this.positions) } : {};
        send({ type: 'connect', token, ...(this.session ? { session: this.session } : {}), ...since });
      });
      ws.on('message', (data) => {
        lastFrame = Date.now();
        let f: Frame;
        try { f = JSON.parse(data.toString()) as Frame; } catch { return; }
        if (f.type === 'pong') return;
        this.log.frames.push({ t: this.ctx.now(), conn, frame: f });
        onFrame(f);
      });
      ws.on('error', () => {});
      ws.on('close', () => {
        clearInterval(tick);
        clearTimeout(connectDeadline);
        for (const t of timers) clearTimeout(t);
        if (this.ws === ws) this.ws = null;
        resolve(Date.now() - opened);
      });
    });
  }
}
