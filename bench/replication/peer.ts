/*
 * One side (writer = channel owner, reader = replica) of bench/replication-choice.ts, in its own process,
 * driven over IPC. Both sides join one hyperswarm topic on the parent's loopback DHT bootstrap (writer as
 * server, reader as client: exactly one encrypted hyperswarm connection between them) and then replicate with
 * one of these backends:
 *   hypercore       corestore 7 / hypercore 11: one core per channel, one block per entry (block index = channel
 *                   offset), store.replicate(connection); the reader downloads live; the writer knows the reader
 *                   holds entries when the core's 'remote-contiguous-length' (what the reader announces after
 *                   writing them to its storage) reaches them.
 *   hypercore-1block  the same, but each commit is ONE block (the batch as a JSON array): fewer signatures, proofs
 *                   and requests, at the price of block index != channel offset (a side index would be needed).
 *   pb-level        a minimal primary-backup prototype over `level` (NOT product code): group commit across
 *                   channels; each round is one chained batch on the writer and, at the same time, one frame over
 *                   the hyperswarm connection that the reader writes as one chained batch before it answers; the
 *                   round is acknowledged when both are done. sync: false (the product's default).
 *   pb-level-fsync  the same with sync: true on both sides (fsync before each side counts its copy).
 *   pb-memory       the same with a Map instead of level (the `--data :memory:` case: network + framing only).
 * The writer runs the measurements (latency, pipelined throughput, N-channel fill) and reports them.
 *
 *   node dist/bench/replication/peer.js <mode> <writer|reader> <dir> <bootstrapPort> <topicHex>
 */
import { readdirSync } from 'node:fs';
import { performance } from 'node:perf_hooks';
import Corestore from 'corestore';
import type Hypercore from 'hypercore';
import DHT from 'hyperdht';
import Hyperswarm from 'hyperswarm';
import { Level } from 'level';
import { Histogram } from '../support/histogram.js';
import { entry } from './entry.js';

export type Mode = 'hypercore' | 'hypercore-1block' | 'pb-level' | 'pb-level-fsync' | 'pb-memory';
export type PeerCommand =
  | { cmd: 'open'; from: number; count: number; keys?: string[] }
  | { cmd: 'wait-peers' }
  | { cmd: 'latency'; batch: number; iterations: number; warmup: number; channels: number }
  | { cmd: 'throughput'; batch: number; channels: number; window: number; durationMs: number }
  | { cmd: 'fill'; channels: number; concurrency: number }
  | { cmd: 'stats' }
  | { cmd: 'exit' };
export interface PeerStats { rssMB: number; heapUsedMB: number; externalMB: number; openFds: number; cpuUserMs: number; cpuSystemMs: number }
export type PeerEvent =
  | { ev: 'ready' } | { ev: 'connected' } | { ev: 'fatal'; error: string }
  | { ev: 'opened'; keys: string[] } | { ev: 'ok'; ms: number }
  | { ev: 'latency'; ack: ReturnType<Histogram['summary']>; local: ReturnType<Histogram['summary']> }
  | { ev: 'throughput'; entries: number; batches: number; elapsedMs: number; ack: ReturnType<Histogram['summary']>; rounds: number | null }
  | { ev: 'stats'; stats: PeerStats };

const now = () => performance.now();
const send = (m: PeerEvent) => process.send?.(m);

/** The writer's view of a replication backend: commit resolves once both copies hold the entries. */
interface Writer {
  open(from: number, count: number): Promise<string[]>;
  waitPeers(): Promise<void>;
  /** Appends `entries` to channel `ch`; `onLocal` runs when the local copy is written; resolves on the ack. */
  commit(ch: number, entries: string[], onLocal: () => void): Promise<void>;
  close(): Promise<void>;
  rounds(): number | null;
}
interface Reader {
  open(keys: string[]): Promise<void>;
  attach(conn: Hyperswarm.Connection): void;
  close(): Promise<void>;
}

/** One commit waiting for its round. */
interface Pending { ch: number; first: number; entries: string[]; onLocal: () => void; resolve: () => void; reject: (e: unknown) => void }

// ---------------------------------------------------------------- hypercore ----------------------------------

class HypercoreWriter implements Writer {
  private readonly cores: Hypercore[] = [];
  private readonly waiters: Array<Array<{ length: number; resolve: () => void }>> = [];
  private readonly queues: Array<Array<Omit<Pending, 'ch' | 'first'>>> = [];
  private readonly appending: boolean[] = [];
  private appendCount = 0;
  constructor(private readonly store: Corestore, private readonly oneBlock: boolean) {}

  async open(from: number, count: number): Promise<string[]> {
    const keys: string[] = [];
    for (let i = from; i < from + count; i++) {
      const core = this.store.get({ name: `ch-${i}` });
      await core.ready();
      this.cores[i] = core;
      this.waiters[i] = [];
      this.queues[i] = [];
      core.on('remote-contiguous-length', (length: number) => this.settle(i, length));
      keys.push(core.key.toString('hex'));
    }
    return keys;
  }

  async waitPeers(): Promise<void> {
    const deadline = Date.now() + 120_000;
    while (this.cores.some((c) => c.peers.length === 0)) {
      if (Date.now() > deadline) throw new Error(`cores without a peer: ${this.cores.filter((c) => c.peers.length === 0).length}`);
      await new Promise((r) => setTimeout(r, 20));
    }
  }

  /**
   * Group commit per core (a core has one signer, so rounds cannot span channels): commits that arrive while an
   * append of the same core is in flight go out together in its next append; the ack waits for the reader.
   */
  commit(ch: number, entries: string[], onLocal: () => void): Promise<void> {
    return new Promise((resolve, reject) => {
      this.queues[ch]!.push({ entries, onLocal, resolve, reject });
      if (!this.appending[ch]) void this.flush(ch);
    });
  }

  private async flush(ch: number): Promise<void> {
    const core = this.cores[ch]!;
    this.appending[ch] = true;
    while (this.queues[ch]!.length > 0) {
      const round = this.queues[ch]!;
      this.queues[ch] = [];
      this.appendCount++;
      const all = round.flatMap((p) => p.entries);
      const blocks = this.oneBlock ? [Buffer.from(`[${all.join(',')}]`)] : all.map((e) => Buffer.from(e));
      try {
        const { length } = await core.append(blocks);
        for (const p of round) p.onLocal();
        if (core.remoteContiguousLength >= length) for (const p of round) p.resolve();
        else this.waiters[ch]!.push({ length, resolve: () => { for (const p of round) p.resolve(); } });
      } catch (err) {
        for (const p of round) p.reject(err);
      }
    }
    this.appending[ch] = false;
  }

  private settle(ch: number, length: number): void {
    const list = this.waiters[ch]!;
    while (list.length > 0 && list[0]!.length <= length) list.shift()!.resolve();
  }

  rounds(): number { return this.appendCount; }
  async close(): Promise<void> { await this.store.close(); }
}

class HypercoreReader implements Reader {
  private readonly cores: Hypercore[] = [];
  constructor(private readonly store: Corestore) {}
  async open(keys: string[]): Promise<void> {
    for (const key of keys) {
      const core = this.store.get({ key: Buffer.from(key, 'hex') });
      await core.ready();
      core.download({ start: 0, end: -1 });
      this.cores.push(core);
    }
  }
  attach(conn: Hyperswarm.Connection): void { this.store.replicate(conn); }
  async close(): Promise<void> { await this.store.close(); }
}

// ------------------------------------------- primary-backup prototype (level / memory) -------------------------

/** Where one side keeps its copy: level (chained batch, sync or not) or a Map (`:memory:`). */
class Copy {
  private readonly db: Level<string, string> | null;
  private readonly mem = new Map<string, string>();
  constructor(dir: string, kind: Mode, private readonly sync = kind === 'pb-level-fsync') {
    this.db = kind === 'pb-memory' ? null : new Level<string, string>(dir, { valueEncoding: 'utf8' });
  }
  async open(): Promise<void> { await this.db?.open(); }
  /** One atomic write of a round: [channel, first offset, entries] per batch, plus each channel's position. */
  async write(batches: Array<[number, number, string[]]>): Promise<void> {
    if (this.db === null) {
      for (const [ch, first, entries] of batches) {
        entries.forEach((e, i) => this.mem.set(`${ch}\x00${first + i}`, e));
        this.mem.set(`${ch}\x00pos`, String(first + entries.length));
      }
      return;
    }
    const b = this.db.batch();
    for (const [ch, first, entries] of batches) {
      entries.forEach((e, i) => b.put(`${ch}\x00${String(first + i).padStart(12, '0')}`, e));
      b.put(`${ch}\x00pos`, String(first + entries.length));
    }
    await b.write({ sync: this.sync });
  }
  async close(): Promise<void> { await this.db?.close(); }
}

/** Length-prefixed JSON frames over one hyperswarm connection. */
class FrameLink {
  private buf: Buffer = Buffer.alloc(0);
  constructor(private readonly conn: Hyperswarm.Connection, onFrame: (f: any) => void) {
    conn.on('data', (chunk: Buffer) => {
      this.buf = this.buf.length === 0 ? chunk : Buffer.concat([this.buf, chunk]);
      while (this.buf.length >= 4) {
        const len = this.buf.readUInt32BE(0);
        if (this.buf.length < 4 + len) break;
        const body = this.buf.subarray(4, 4 + len);
        this.buf = this.buf.subarray(4 + len);
        onFrame(JSON.parse(body.toString('utf8')));
      }
    });
  }
  send(frame: unknown): void {
    const body = Buffer.from(JSON.stringify(frame));
    const head = Buffer.allocUnsafe(4);
    head.writeUInt32BE(body.length, 0);
    this.conn.write(Buffer.concat([head, body]));
  }
}

class PbWriter implements Writer {
  private link: FrameLink | null = null;
  private readonly offsets: number[] = [];
  private queue: Pending[] = [];
  private writing = false;
  private seq = 0;
  private readonly acks = new Map<number, () => void>();
  private roundCount = 0;
  constructor(private readonly copy: Copy) {}

  attach(conn: Hyperswarm.Connection): void {
    this.link = new FrameLink(conn, (f: { ack: number }) => { this.acks.get(f.ack)?.(); this.acks.delete(f.ack); });
  }
  async open(from: number, count: number): Promise<string[]> {
    for (let i = from; i < from + count; i++) this.offsets[i] = 0;
    return [];
  }
  async waitPeers(): Promise<void> {}

  commit(ch: number, entries: string[], onLocal: () => void): Promise<void> {
    const first = this.offsets[ch]!;
    this.offsets[ch] = first + entries.length;
    return new Promise((resolve, reject) => {
      this.queue.push({ ch, first, entries, onLocal, resolve, reject });
      if (!this.writing) void this.flush();
    });
  }

  /** Group commit: everything queued while a round is in flight goes out as the next round. */
  private async flush(): Promise<void> {
    this.writing = true;
    while (this.queue.length > 0) {
      const round = this.queue;
      this.queue = [];
      this.roundCount++;
      const batches = round.map((p): [number, number, string[]] => [p.ch, p.first, p.entries]);
      const s = ++this.seq;
      const acked = new Promise<void>((r) => this.acks.set(s, r));
      this.link!.send({ s, b: batches });
      try {
        await Promise.all([this.copy.write(batches).then(() => { for (const p of round) p.onLocal(); }), acked]);
        for (const p of round) p.resolve();
      } catch (err) {
        for (const p of round) p.reject(err);
      }
    }
    this.writing = false;
  }

  rounds(): number { return this.roundCount; }
  async close(): Promise<void> { await this.copy.close(); }
}

class PbReader implements Reader {
  private chain: Promise<void> = Promise.resolve();
  constructor(private readonly copy: Copy) {}
  async open(): Promise<void> {}
  attach(conn: Hyperswarm.Connection): void {
    const link: FrameLink = new FrameLink(conn, (f: { s: number; b: Array<[number, number, string[]]> }) => {
      this.chain = this.chain.then(() => this.copy.write(f.b)).then(() => link.send({ ack: f.s }));
    });
  }
  async close(): Promise<void> { await this.copy.close(); }
}

// ------------------------------------------------------------ measurements ------------------------------------

async function latency(w: Writer, c: Extract<PeerCommand, { cmd: 'latency' }>, next: number[]): Promise<PeerEvent> {
  const ack = new Histogram();
  const local = new Histogram();
  for (let i = 0; i < c.warmup + c.iterations; i++) {
    const ch = i % c.channels;
    const entries = Array.from({ length: c.batch }, (_, k) => entry(ch, next[ch]! + k));
    next[ch]! += c.batch;
    let tLocal = 0;
    const t0 = now();
    await w.commit(ch, entries, () => { tLocal = now(); });
    const t1 = now();
    if (i >= c.warmup) { ack.record(t1 - t0); local.record(tLocal - t0); }
  }
  return { ev: 'latency', ack: ack.summary(), local: local.summary() };
}

async function throughput(w: Writer, c: Extract<PeerCommand, { cmd: 'throughput' }>, next: number[]): Promise<PeerEvent> {
  const ack = new Histogram();
  let entries = 0;
  let batches = 0;
  const rounds0 = w.rounds();
  const t0 = now();
  const stopAt = t0 + c.durationMs;
  const lane = async (ch: number) => {
    while (now() < stopAt) {
      const batch = Array.from({ length: c.batch }, (_, k) => entry(ch, next[ch]! + k));
      next[ch]! += c.batch;
      const t = now();
      await w.commit(ch, batch, () => {});
      ack.record(now() - t);
      entries += c.batch;
      batches++;
    }
  };
  const lanes: Array<Promise<void>> = [];
  for (let ch = 0; ch < c.channels; ch++) for (let k = 0; k < c.window; k++) lanes.push(lane(ch));
  await Promise.all(lanes);
  const elapsedMs = now() - t0;
  const r1 = w.rounds();
  return { ev: 'throughput', entries, batches, elapsedMs, ack: ack.summary(), rounds: r1 === null || rounds0 === null ? null : r1 - rounds0 };
}

async function fill(w: Writer, c: Extract<PeerCommand, { cmd: 'fill' }>, next: number[]): Promise<number> {
  const t0 = now();
  let ch = 0;
  const worker = async () => {
    while (ch < c.channels) {
      const mine = ch++;
      await w.commit(mine, [entry(mine, next[mine] ?? 0)], () => {});
      next[mine] = (next[mine] ?? 0) + 1;
    }
  };
  await Promise.all(Array.from({ length: c.concurrency }, worker));
  return now() - t0;
}

function stats(): PeerStats {
  (globalThis as { gc?: () => void }).gc?.();
  const m = process.memoryUsage();
  const cpu = process.cpuUsage();
  const mb = (v: number) => Math.round((v / 1048576) * 10) / 10;
  return {
    rssMB: mb(m.rss), heapUsedMB: mb(m.heapUsed), externalMB: mb(m.external + m.arrayBuffers),
    openFds: readdirSync('/proc/self/fd').length, cpuUserMs: cpu.user / 1000, cpuSystemMs: cpu.system / 1000,
  };
}

// ----------------------------------------------------------------- main ---------------------------------------

async function main(): Promise<void> {
  const [mode, role, dir, port, topicHex] = process.argv.slice(2) as [Mode, 'writer' | 'reader', string, string, string];
  const dht = new DHT({ bootstrap: [{ host: '127.0.0.1', port: Number(port) }], host: '127.0.0.1', ephemeral: false, firewalled: false });
  const swarm = new Hyperswarm({ dht });
  const store = mode.startsWith('hypercore') ? new Corestore(dir) : null;
  const copy = store ? null : new Copy(dir, mode);
  await store?.ready();
  await copy?.open();
  const writer: Writer | null = role !== 'writer' ? null : store ? new HypercoreWriter(store, mode === 'hypercore-1block') : new PbWriter(copy!);
  const reader: Reader | null = role !== 'reader' ? null : store ? new HypercoreReader(store) : new PbReader(copy!);
  let connected = false;
  swarm.on('connection', (conn) => {
    conn.on('error', () => {});
    if (connected) { conn.destroy(); return; } // one link, like a node pair
    connected = true;
    if (store && writer) store.replicate(conn);
    if (writer instanceof PbWriter) writer.attach(conn);
    reader?.attach(conn);
    send({ ev: 'connected' });
  });
  const discovery = swarm.join(Buffer.from(topicHex, 'hex'), { server: role === 'writer', client: role === 'reader' });
  await discovery.flushed();
  send({ ev: 'ready' });

  const next: number[] = [];
  let queue: Promise<void> = Promise.resolve();
  process.on('message', (raw) => {
    const c = raw as PeerCommand;
    queue = queue.then(async () => {
      switch (c.cmd) {
        case 'open': {
          if (writer) send({ ev: 'opened', keys: await writer.open(c.from, c.count) });
          else { await reader!.open(c.keys ?? []); send({ ev: 'opened', keys: [] }); }
          for (let i = c.from; i < c.from + c.count; i++) next[i] ??= 0;
          return;
        }
        case 'wait-peers': { const t0 = now(); await writer!.waitPeers(); send({ ev: 'ok', ms: now() - t0 }); return; }
        case 'latency': send(await latency(writer!, c, next)); return;
        case 'throughput': send(await throughput(writer!, c, next)); return;
        case 'fill': send({ ev: 'ok', ms: await fill(writer!, c, next) }); return;
        case 'stats': send({ ev: 'stats', stats: stats() }); return;
        case 'exit':
          await Promise.race([Promise.all([writer?.close(), reader?.close(), swarm.destroy()]), new Promise((r) => setTimeout(r, 5000))]);
          process.exit(0);
      }
    }).catch((err) => { send({ ev: 'fatal', error: String((err as Error)?.stack ?? err) }); });
  });
}

main().catch((err) => {
  send({ ev: 'fatal', error: String((err as Error)?.stack ?? err) });
  process.exit(1);
});
