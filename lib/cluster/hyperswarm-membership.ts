// Membership over hyperswarm: discovery on a topic derived from (cluster, secret), admission by
// challenge/response over the Noise-encrypted stream, then length-prefixed frames, batched per tick, and a
// failure detector (failure/lifeguard-detector.ts) that decides when a silent peer is dead.
//
// Wire (both directions): [u32 BE body length][body], body = [kind u8][payload].
//   HELLO    kind 1: [version u8][nonce 32]                      sent first, by both sides
//   PROOF    kind 2: [mac 32][advertised URL, UTF-8]             answers the other side's HELLO
//   DATA     kind 3: [frame]                                     only after admission, both ways
//   CONTROL  kind 4: [failure-detector message]                  only after admission (failure/messages.ts)
// mac = HMAC-SHA256(secret, "hashpub/admit/v1\0" | nonce | prover's public key | u16 len | cluster
//                          | u16 len | url). The prover's key is the Noise-authenticated conn.remotePublicKey
// on the verifier's side, so an answer cannot be relayed or replayed by another key or on another connection.
// A link that closes takes its peer out of the view at once; a link that goes silent is for the detector.
import { randomBytes, timingSafeEqual } from 'node:crypto';
import { EventEmitter } from 'node:events';
import DHT from 'hyperdht';
import Hyperswarm from 'hyperswarm';
import { isNodeId } from '../protocol/names.js';
import { admissionProof, clusterTopic, FrameKind, frameOf, WIRE_VERSION } from './admission.js';
import type { FailureDetector, FailureStats } from './failure/failure-detector.js';
import { LifeguardDetector } from './failure/lifeguard-detector.js';
import type { PeerAddress } from './failure/port-probe.js';
import { peekLength, take } from './link-buffer.js';
import { LinkWriter, type Link } from './link-writer.js';
import { MAX_URL_BYTES, parseMembershipOptions, type HyperswarmMembershipOptions, type ResolvedMembershipOptions } from './membership-options.js';
import type { FrameHandler, LinkStats, Membership, MembershipEvents, StatsSource } from './membership.js';
import { PeerSeeker } from './peer-seeker.js';

export { admissionProof, clusterTopic, FrameKind, WIRE_VERSION } from './admission.js';
export type { HyperswarmMembershipOptions } from './membership-options.js';

/** Reconnect delays after 1, 2, 3 and more failed attempts (with hyperswarm's jitter). */
const RECONNECT_BACKOFFS: [number, number, number, number] = [250, 500, 1000, 2000];
const NONCE_BYTES = 32;
const MAC_BYTES = 32;
/** Bodies larger than this are refused before admission: an unknown peer cannot make us buffer much. */
const PRE_ADMISSION_MAX = 1 + MAC_BYTES + MAX_URL_BYTES;
/** secret-stream refuses writes of 16 MiB or more: larger batches are written in slices. */
const MAX_WRITE = 8 * 1024 * 1024;


/** Cluster membership over hyperswarm: admitted peers, each with a framed, batched link. */
export class HyperswarmMembership extends EventEmitter<MembershipEvents> implements Membership, StatsSource {
  /** This node's id: its public key, hex. */
  readonly self: string;
  private readonly opts: ResolvedMembershipOptions;
  private readonly detector: FailureDetector;
  private readonly keyPair: DHT.KeyPair;
  private readonly topic: Buffer;
  private readonly links = new Map<string, Link>();
  /** Dials lost and missing members directly (see peer-seeker.ts). */
  private readonly seeker = new PeerSeeker(() => this.swarm, (id) => this.links.get(id)?.admitted === true,
    () => void this.discovery?.refresh().catch(() => {}));
  private discovery: Hyperswarm.PeerDiscoverySession | null = null;
  private view: string[];
  private handler: FrameHandler | null = null;
  private swarm: Hyperswarm | null = null;
  private started = false;
  private stopped = false;
  private stopping: Promise<void> | null = null;
  private readonly counters: LinkStats = {
    framesSent: 0, writes: 0, bytesSent: 0, framesReceived: 0, bytesReceived: 0, admitted: 0, rejected: 0,
    controlSent: 0, controlReceived: 0,
  };
  private readonly writer: LinkWriter;

  constructor(options: HyperswarmMembershipOptions) {
    super();
    this.opts = parseMembershipOptions(options);
    this.keyPair = options.keyPair ?? DHT.keyPair();
    this.self = this.keyPair.publicKey.toString('hex');
    this.topic = options.topic ?? clusterTopic(options.cluster, options.secret);
    this.view = [this.self];
    this.writer = new LinkWriter(this.counters, this.opts.maxFrameBytes);
    this.detector = new LifeguardDetector({
      self: this.self, heartbeatMs: this.opts.heartbeatMs, failureTimeoutMs: this.opts.failureTimeoutMs,
      links: {
        send: (id, payload) => this.writer.queue(this.links.get(id), payload, true),
        beat: (id, payload) => this.writer.beat(this.links.get(id), payload),
        dead: (id) => this.onDead(id),
      },
    });
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
    return this.writer.queue(this.links.get(id), frame, false);
  }

  /** performance.now() time a frame last arrived from member `id` (now for this node). */
  lastHeard(id: string): number | undefined {
    return this.detector.lastHeard(id);
  }

  /** Failure-detector counters since start. */
  failureStats(): FailureStats {
    return this.detector.stats();
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
    // hyperswarm's default reconnect delays (1, 5, 15 s, then give up) keep a member that was paused or cut off for
    // a few seconds out of the cluster for 15-20 s; a cluster wants its members back within a second or two.
    const swarm = new Hyperswarm({ dht, keyPair: this.keyPair, backoffs: RECONNECT_BACKOFFS });
    this.swarm = swarm;
    swarm.on('connection', (conn) => this.onConnection(conn));
    this.detector.start();
    const discovery = swarm.join(this.topic, { server: true, client: true });
    this.discovery = discovery;
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
    this.detector.stop();
    this.seeker.stop();
    for (const link of this.links.values()) this.close(link);
    this.links.clear();
    this.writer.clear();
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
    // No stream timeout: silence is the failure detector's to judge (a busy peer is not a dead one).
    const link: Link = {
      conn, id, nonce: randomBytes(NONCE_BYTES), gotHello: false, admitted: false, closed: false, url: '',
      timer: null, chunks: [], buffered: 0, control: [], queue: [], queuedBytes: 0, scheduled: false, datagrams: false,
    };
    // Hyperswarm keeps one connection per peer and hands us the newest: it replaces any older link.
    const previous = this.links.get(id);
    if (previous) this.detach(previous);
    this.links.set(id, link);
    link.timer = setTimeout(() => this.reject(link), this.opts.admissionTimeoutMs);
    link.timer.unref();
    conn.on('data', (chunk: Buffer) => this.onData(link, chunk));
    conn.on('message', (datagram: Buffer) => this.onDatagram(link, datagram));
    conn.on('close', () => this.detach(link));
    this.writer.write(link, frameOf(FrameKind.HELLO, Buffer.from([WIRE_VERSION]), link.nonce));
  }

  private onData(link: Link, chunk: Buffer): void {
    if (link.closed) return;
    this.counters.bytesReceived += chunk.length;
    if (link.admitted) this.detector.heard(link.id);
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

  /**
   * A datagram from the peer (secret-stream decrypted and authenticated it with the link's keys): a CONTROL
   * message, a heartbeat so far. It proves the peer reads datagrams too, so its heartbeats stop going by stream.
   * Anything else is ignored (a datagram is not part of the stream's framing).
   */
  private onDatagram(link: Link, datagram: Buffer): void {
    if (link.closed || !link.admitted || datagram.length < 2 || datagram[0] !== FrameKind.CONTROL) return;
    link.datagrams = true;
    this.counters.bytesReceived += datagram.length;
    this.counters.controlReceived++;
    this.detector.heard(link.id);
    this.detector.receive(link.id, datagram.subarray(1));
  }


  private onBody(link: Link, body: Buffer): void {
    const kind = body[0];
    if (kind === FrameKind.DATA && link.admitted) {
      this.counters.framesReceived++;
      this.handler?.(link.id, body.subarray(1));
    } else if (kind === FrameKind.CONTROL && link.admitted) {
      this.counters.controlReceived++;
      if (!this.detector.receive(link.id, body.subarray(1))) this.reject(link);
    } else if (kind === FrameKind.HELLO && !link.gotHello) {
      if (body.length !== 2 + NONCE_BYTES || body[1] !== WIRE_VERSION) return this.reject(link);
      link.gotHello = true;
      const { secret, cluster, url } = this.opts;
      const mac = admissionProof(secret, body.subarray(2), this.keyPair.publicKey, cluster, url);
      this.writer.write(link, frameOf(FrameKind.PROOF, mac, Buffer.from(url)));
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
    this.seeker.found(link.id);
    this.detector.add(link.id, () => remoteAddress(link.conn));
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
    this.detector.remove(link.id);
    this.updateView();
    this.seeker.seek(link.id);
    this.emit('leave', link.id);
    this.emit('change');
  }

  /** Dials the members in `ids` this node has no link to (see Membership.seek), as it dials a lost one. */
  seek(ids: readonly string[]): void {
    for (const id of ids) if (isNodeId(id) && id !== this.self) this.seeker.seekMissing(id);
  }

  private close(link: Link): void {
    link.closed = true;
    if (link.timer) clearTimeout(link.timer);
    link.timer = null;
    link.chunks = [];
    link.control = [];
    link.queue = [];
    link.conn.destroy();
  }

  private updateView(): void {
    const ids = [this.self];
    for (const link of this.links.values()) if (link.admitted) ids.push(link.id);
    this.view = ids.sort();
  }


  /** The detector declared `id` dead: its link is closed and it leaves the view. */
  private onDead(id: string): void {
    const link = this.links.get(id);
    if (link) this.detach(link);
  }


}

/** Where the peer's end of the link is (the UDP address of its stream), if hyperswarm says. */
function remoteAddress(conn: Hyperswarm.Connection): PeerAddress | null {
  const raw = conn.rawStream;
  return raw && raw.remoteHost && raw.remotePort > 0 ? { host: raw.remoteHost, port: raw.remotePort } : null;
}
