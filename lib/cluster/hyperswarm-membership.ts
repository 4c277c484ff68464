// Membership over hyperswarm: discovery on a topic derived from (cluster, secret), admission by
// challenge/response over the Noise-encrypted stream, then length-prefixed frames, batched per tick.
//
// Wire (both directions): [u32 BE body length][body], body = [kind u8][payload].
//   HELLO  kind 1: [version u8][nonce 32]                      sent first, by both sides
//   PROOF  kind 2: [mac 32][advertised URL, UTF-8]             answers the other side's HELLO
//   DATA   kind 3: [frame]                                     only after admission, both ways
// mac = HMAC-SHA256(secret, "hashpub/admit/v1\0" | nonce | prover's public key | u16 len | cluster
//                          | u16 len | url). The prover's key is the Noise-authenticated conn.remotePublicKey
// on the verifier's side, so an answer cannot be relayed or replayed by another key or on another connection.
import { randomBytes, timingSafeEqual } from 'node:crypto';
import { EventEmitter } from 'node:events';
import DHT from 'hyperdht';
import Hyperswarm from 'hyperswarm';
import { OptionsError } from '../errors.js';
import { admissionProof, clusterTopic, FrameKind, frameOf, WIRE_VERSION } from './admission.js';
import type { FrameHandler, LinkStats, Membership, MembershipEvents, StatsSource } from './membership.js';

export { admissionProof, clusterTopic, FrameKind, WIRE_VERSION } from './admission.js';

/** Options of a hyperswarm membership. */
export interface HyperswarmMembershipOptions {
  /** DHT bootstrap nodes; must not be empty (hashpub never falls back to the public DHT). */
  bootstrap: Array<{ host: string; port: number }>;
  /** Cluster name: part of the discovery topic and of every admission proof. */
  cluster: string;
  /** Shared cluster secret: a peer is admitted only once it proved it knows it. */
  secret: string;
  /** This node's HTTP URL, advertised to peers. */
  url: string;
  /** This node's key pair; its public key is the node id. @default a fresh key pair */
  keyPair?: DHT.KeyPair;
  /** A peer silent this long is dropped (keepalives go every third of it). @default 3000 */
  failureTimeoutMs?: number;
  /** A peer that has not proved the secret this long after connecting is dropped. @default 5000 */
  admissionTimeoutMs?: number;
  /** Address the DHT node binds to and advertises. @default '127.0.0.1' */
  host?: string;
  /** UDP port the DHT node binds to; 0 = any free port. @default 0 */
  port?: number;
  /** Largest frame sent or accepted, in bytes; a peer sending a larger one is dropped. @default 16 MiB */
  maxFrameBytes?: number;
  /** Discovery topic override (tests: an intruder that knows the topic, not the secret). @default clusterTopic() */
  topic?: Buffer;
}

const NONCE_BYTES = 32;
const MAC_BYTES = 32;
const MAX_URL_BYTES = 2048;
/** Bodies larger than this are refused before admission: an unknown peer cannot make us buffer much. */
const PRE_ADMISSION_MAX = 1 + MAC_BYTES + MAX_URL_BYTES;
/** secret-stream refuses writes of 16 MiB or more: larger batches are written in slices. */
const MAX_WRITE = 8 * 1024 * 1024;

/** Options after validation, defaults filled in. */
type ResolvedOptions = Required<Omit<HyperswarmMembershipOptions, 'keyPair' | 'topic'>>;

/** One connection to one peer. */
interface Link {
  readonly conn: Hyperswarm.Connection;
  readonly id: string;
  readonly nonce: Buffer;
  gotHello: boolean;
  admitted: boolean;
  closed: boolean;
  url: string;
  timer: NodeJS.Timeout | null;
  /** Received bytes not yet parsed into frames. */
  chunks: Buffer[];
  buffered: number;
  /** Frames queued for the next flush. */
  queue: Buffer[];
  queuedBytes: number;
  scheduled: boolean;
}

/** Cluster membership over hyperswarm: admitted peers, each with a framed, batched link. */
export class HyperswarmMembership extends EventEmitter<MembershipEvents> implements Membership, StatsSource {
  /** This node's id: its public key, hex. */
  readonly self: string;
  private readonly opts: ResolvedOptions;
  private readonly keyPair: DHT.KeyPair;
  private readonly topic: Buffer;
  private readonly links = new Map<string, Link>();
  private view: string[];
  private handler: FrameHandler | null = null;
  private swarm: Hyperswarm | null = null;
  private started = false;
  private stopped = false;
  private stopping: Promise<void> | null = null;
  private dirty: Link[] = [];
  private flushScheduled = false;
  private readonly counters: LinkStats = {
    framesSent: 0, writes: 0, bytesSent: 0, framesReceived: 0, bytesReceived: 0, admitted: 0, rejected: 0,
  };

  constructor(options: HyperswarmMembershipOptions) {
    super();
    this.opts = parseMembershipOptions(options);
    this.keyPair = options.keyPair ?? DHT.keyPair();
    this.self = this.keyPair.publicKey.toString('hex');
    this.topic = options.topic ?? clusterTopic(options.cluster, options.secret);
    this.view = [this.self];
  }

  /** Admitted live node ids, this one included, sorted. */
  members(): string[] {
    return this.view.slice();
  }

  /** The advertised HTTP URL of a member (this node's included). */
  urlOf(id: string): string | undefined {
    if (id === this.self) return this.opts.url;
    const link = this.links.get(id);
    return link?.admitted ? link.url : undefined;
  }

  /** Queues `frame` for admitted peer `id`; every frame queued in one tick leaves in one write. */
  send(id: string, frame: Buffer): boolean {
    const link = this.links.get(id);
    if (!link || !link.admitted || link.closed || frame.length > this.opts.maxFrameBytes) return false;
    link.queue.push(frame);
    link.queuedBytes += 5 + frame.length;
    if (!link.scheduled) {
      link.scheduled = true;
      this.dirty.push(link);
      if (!this.flushScheduled) {
        this.flushScheduled = true;
        queueMicrotask(this.flush);
      }
    }
    return true;
  }

  /** Sets the handler for frames from admitted peers. */
  onFrame(handler: FrameHandler): void {
    this.handler = handler;
  }

  /** Traffic counters since start. */
  stats(): LinkStats {
    return { ...this.counters };
  }

  /** Joins the cluster topic; resolves once announced and looking for peers. */
  async start(): Promise<void> {
    if (this.started) throw new Error('HyperswarmMembership: start() called twice');
    this.started = true;
    if (this.stopped) return;
    const dht = new DHT({
      bootstrap: this.opts.bootstrap.map(({ host, port }) => ({ host, port })),
      host: this.opts.host,
      // A fixed port binds exactly that port (dht-rpc would otherwise try the next four, then any).
      ...(this.opts.port !== 0 ? { port: [this.opts.port, this.opts.port + 1], anyPort: false } : {}),
      ephemeral: false,
      firewalled: false,
    });
    const swarm = new Hyperswarm({ dht, keyPair: this.keyPair });
    this.swarm = swarm;
    swarm.on('connection', (conn) => this.onConnection(conn));
    const discovery = swarm.join(this.topic, { server: true, client: true });
    try {
      await discovery.flushed();
    } catch (err) {
      if (this.stopped) return;
      throw err;
    }
    // Nodes that join at the same moment miss each other, and the next automatic refresh is minutes away.
    if (!this.stopped) discovery.refresh().catch(() => {});
  }

  /**
   * Resolves once the peers discovery found are connected and admitted (or `maxMs` passed): a node that starts
   * should know who is there before it acts on its own.
   */
  async settled(maxMs = 3000): Promise<void> {
    const deadline = Date.now() + maxMs;
    const pause = (ms: number) => new Promise<void>((r) => setTimeout(r, Math.max(0, ms)).unref());
    if (this.swarm) await Promise.race([this.swarm.flush().catch(() => {}), pause(maxMs)]);
    while (Date.now() < deadline && [...this.links.values()].some((l) => !l.admitted && !l.closed)) await pause(20);
  }

  /** Drops every link (queued frames are lost) and destroys the swarm and its DHT node. */
  stop(): Promise<void> {
    if (this.stopping) return this.stopping;
    this.stopped = true;
    for (const link of this.links.values()) this.close(link);
    this.links.clear();
    this.dirty = [];
    this.view = [this.self];
    const swarm = this.swarm;
    this.stopping = swarm ? swarm.destroy() : Promise.resolve();
    return this.stopping;
  }

  private onConnection(conn: Hyperswarm.Connection): void {
    conn.on('error', () => {}); // every failure also ends in 'close'
    if (this.stopped) {
      conn.destroy();
      return;
    }
    const id = conn.remotePublicKey.toString('hex');
    conn.setKeepAlive(Math.max(1, Math.floor(this.opts.failureTimeoutMs / 3)));
    conn.setTimeout(this.opts.failureTimeoutMs);
    const link: Link = {
      conn, id, nonce: randomBytes(NONCE_BYTES), gotHello: false, admitted: false, closed: false, url: '',
      timer: null, chunks: [], buffered: 0, queue: [], queuedBytes: 0, scheduled: false,
    };
    // Hyperswarm keeps one connection per peer and hands us the newest: it replaces any older link.
    const previous = this.links.get(id);
    if (previous) this.detach(previous);
    this.links.set(id, link);
    link.timer = setTimeout(() => this.reject(link), this.opts.admissionTimeoutMs);
    link.timer.unref();
    conn.on('data', (chunk: Buffer) => this.onData(link, chunk));
    conn.on('close', () => this.detach(link));
    this.writeRaw(link, frameOf(FrameKind.HELLO, Buffer.from([WIRE_VERSION]), link.nonce));
  }

  private onData(link: Link, chunk: Buffer): void {
    if (link.closed) return;
    this.counters.bytesReceived += chunk.length;
    link.chunks.push(chunk);
    link.buffered += chunk.length;
    while (link.buffered >= 4 && !link.closed) {
      const length = peekLength(link);
      const limit = link.admitted ? this.opts.maxFrameBytes + 1 : PRE_ADMISSION_MAX;
      if (length === 0 || length > limit) return this.reject(link);
      if (link.buffered < 4 + length) return;
      const body = take(link, 4 + length).subarray(4);
      this.onBody(link, body);
    }
  }

  private onBody(link: Link, body: Buffer): void {
    const kind = body[0];
    if (kind === FrameKind.DATA && link.admitted) {
      this.counters.framesReceived++;
      this.handler?.(link.id, body.subarray(1));
    } else if (kind === FrameKind.HELLO && !link.gotHello) {
      if (body.length !== 2 + NONCE_BYTES || body[1] !== WIRE_VERSION) return this.reject(link);
      link.gotHello = true;
      const { secret, cluster, url } = this.opts;
      const mac = admissionProof(secret, body.subarray(2), this.keyPair.publicKey, cluster, url);
      this.writeRaw(link, frameOf(FrameKind.PROOF, mac, Buffer.from(url)));
    } else if (kind === FrameKind.PROOF && link.gotHello && !link.admitted && body.length > 1 + MAC_BYTES) {
      const url = body.subarray(1 + MAC_BYTES).toString();
      const expected = admissionProof(this.opts.secret, link.nonce, link.conn.remotePublicKey, this.opts.cluster, url);
      if (!timingSafeEqual(expected, body.subarray(1, 1 + MAC_BYTES))) return this.reject(link);
      this.admit(link, url);
    } else {
      // DATA before admission, a second HELLO or PROOF, an unknown kind: never delivered, the link is dropped.
      this.reject(link);
    }
  }

  private admit(link: Link, url: string): void {
    if (link.timer) clearTimeout(link.timer);
    link.timer = null;
    link.admitted = true;
    link.url = url;
    this.counters.admitted++;
    this.updateView();
    this.emit('join', link.id);
    this.emit('change');
  }

  private reject(link: Link): void {
    if (link.closed) return;
    this.counters.rejected++;
    this.detach(link);
  }

  /** Closes `link`; if it was the admitted link of a member, that member leaves. */
  private detach(link: Link): void {
    if (link.closed) return;
    this.close(link);
    if (this.links.get(link.id) !== link) return;
    this.links.delete(link.id);
    if (!link.admitted || this.stopped) return;
    this.updateView();
    this.emit('leave', link.id);
    this.emit('change');
  }

  private close(link: Link): void {
    link.closed = true;
    if (link.timer) clearTimeout(link.timer);
    link.timer = null;
    link.chunks = [];
    link.queue = [];
    link.conn.destroy();
  }

  private updateView(): void {
    const ids = [this.self];
    for (const link of this.links.values()) if (link.admitted) ids.push(link.id);
    this.view = ids.sort();
  }

  private readonly flush = (): void => {
    this.flushScheduled = false;
    const dirty = this.dirty;
    this.dirty = [];
    for (const link of dirty) {
      link.scheduled = false;
      if (link.closed || link.queue.length === 0) continue;
      const out = Buffer.allocUnsafe(link.queuedBytes);
      let offset = 0;
      for (const frame of link.queue) {
        out.writeUInt32BE(frame.length + 1, offset);
        out[offset + 4] = FrameKind.DATA;
        frame.copy(out, offset + 5);
        offset += 5 + frame.length;
      }
      this.counters.framesSent += link.queue.length;
      link.queue = [];
      link.queuedBytes = 0;
      for (let at = 0; at < out.length; at += MAX_WRITE) this.writeRaw(link, out.subarray(at, at + MAX_WRITE));
    }
  };

  private writeRaw(link: Link, bytes: Buffer): void {
    this.counters.writes++;
    this.counters.bytesSent += bytes.length;
    link.conn.write(bytes);
  }
}

/** Reads the u32 length prefix at the start of the link's receive buffer (it may span chunks). */
function peekLength(link: Link): number {
  const first = link.chunks[0]!;
  if (first.length >= 4) return first.readUInt32BE(0);
  const head = Buffer.allocUnsafe(4);
  let offset = 0;
  for (const chunk of link.chunks) {
    offset += chunk.copy(head, offset, 0, Math.min(chunk.length, 4 - offset));
    if (offset === 4) break;
  }
  return head.readUInt32BE(0);
}

/** Removes and returns the first `n` received bytes (a view if they lie in one chunk, a copy otherwise). */
function take(link: Link, n: number): Buffer {
  link.buffered -= n;
  const first = link.chunks[0]!;
  if (first.length >= n) {
    if (first.length === n) link.chunks.shift();
    else link.chunks[0] = first.subarray(n);
    return first.subarray(0, n);
  }
  const out = Buffer.allocUnsafe(n);
  let offset = 0;
  while (offset < n) {
    const chunk = link.chunks[0]!;
    const k = Math.min(chunk.length, n - offset);
    chunk.copy(out, offset, 0, k);
    offset += k;
    if (k === chunk.length) link.chunks.shift();
    else link.chunks[0] = chunk.subarray(k);
  }
  return out;
}

/** Validates the options and fills in defaults; throws OptionsError naming the bad field. */
function parseMembershipOptions(o: HyperswarmMembershipOptions): ResolvedOptions {
  if (!Array.isArray(o.bootstrap) || o.bootstrap.length === 0) {
    throw new OptionsError('bootstrap', 'at least one DHT bootstrap node is required (the public DHT is never used)');
  }
  for (const b of o.bootstrap) {
    if (!b || typeof b.host !== 'string' || b.host === '' || !Number.isInteger(b.port) || b.port < 1 || b.port > 65535) {
      throw new OptionsError('bootstrap', `each entry needs a host and a port in 1..65535, got ${JSON.stringify(b)}`);
    }
  }
  for (const field of ['cluster', 'secret', 'url'] as const) {
    if (typeof o[field] !== 'string' || o[field] === '') throw new OptionsError(field, 'must be a non-empty string');
  }
  if (Buffer.byteLength(o.url) > MAX_URL_BYTES) throw new OptionsError('url', `longer than ${MAX_URL_BYTES} bytes`);
  if (Buffer.byteLength(o.cluster) > 0xffff) throw new OptionsError('cluster', 'too long');
  const positive = (field: string, value: number | undefined, fallback: number): number => {
    if (value === undefined) return fallback;
    if (!Number.isFinite(value) || value <= 0) throw new OptionsError(field, `must be a positive number, got ${value}`);
    return value;
  };
  if (o.port !== undefined && (!Number.isInteger(o.port) || o.port < 0 || o.port > 65535)) {
    throw new OptionsError('port', `must be an integer in 0..65535, got ${o.port}`);
  }
  if (o.keyPair && o.keyPair.publicKey?.length !== 32) throw new OptionsError('keyPair', 'needs a 32-byte publicKey');
  if (o.topic && o.topic.length !== 32) throw new OptionsError('topic', 'must be 32 bytes');
  return {
    bootstrap: o.bootstrap, cluster: o.cluster, secret: o.secret, url: o.url, host: o.host ?? '127.0.0.1',
    port: o.port ?? 0,
    failureTimeoutMs: positive('failureTimeoutMs', o.failureTimeoutMs, 3000),
    admissionTimeoutMs: positive('admissionTimeoutMs', o.admissionTimeoutMs, 5000),
    maxFrameBytes: Math.min(positive('maxFrameBytes', o.maxFrameBytes, 16 * 1024 * 1024), 0xfffffffe),
  };
}
