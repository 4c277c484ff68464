import { performance } from 'node:perf_hooks';
import { messageFrame, Prepared, PreparedRun } from '../protocol/prepared.js';
import type { Message } from '../protocol/types.js';
import type { Hub, Variant } from './hub.js';
import { writesRuns, type Session } from './session.js';

/** A fan-out pass that has run this long continues in the next turn of the event loop (setImmediate). */
export const FANOUT_SLICE_MS = 4;
/** Subscribers served between two reads of the clock. */
const CHECK_EVERY = 32;
/** Most channels whose batches one pass writes together (each subscriber: one write for all of them). */
const MAX_GROUP = 16;
/**
 * After a pass that took D ms to write, the next one waits min(LINGER_MAX_MS, D / LINGER_SHARE) before it starts,
 * so messages that arrive meanwhile (other channels' commits, a replica's ack a moment later) join it: a node
 * busy writing to tens of thousands of sockets makes fewer, fuller writes, and a small pass (D under a few ms,
 * every quiet node) starts in the next turn as before. The delay stays a small share of the pass it saves.
 */
const LINGER_MAX_MS = 20;
const LINGER_SHARE = 8;

/** One channel's share of a pass: messages (in offset order) to fan out together, or a task to run in their order. */
interface Job {
  channel: string;
  messages: Message[];
  /** A deliver hook's per-recipient decisions (then `messages` holds exactly one message). */
  variants: Map<Session, Variant> | undefined;
  task: (() => void) | undefined;
  /** The live subscriber set being walked, once the job started (null: not started). */
  walk: Iterator<Session> | null;
  /** Whether every message has the same epoch and offsets follow one another (then a subscriber can take them as one run). */
  oneRun: boolean;
  frames: Prepared[] | null;
  run: PreparedRun | null;
}

/** Counters of the fan-out (metrics, tests). */
export interface FanOutStats {
  /** Slices run (a pass that yields is several slices). */
  slices: number;
  /** Slices that ran out of time and continued in the next turn. */
  yields: number;
  /** Most messages fanned out together for one channel. */
  largestBatch: number;
  /** Writes of message runs to WebSocket subscribers (one per subscriber per pass, however many channels it takes). */
  writes: number;
  /** Most channels written together in one pass. */
  largestGroup: number;
}

/**
 * Consecutive plain jobs (distinct channels, no task, no deliver-hook variants) fanned out together: a subscriber
 * of several of their channels is written all it takes in one write, when the walk of the first of them meets it.
 */
interface Group {
  jobs: Job[];
  /** The job whose subscribers are being walked. */
  index: number;
  /** Subscribers already served by this group (null for a group of one job). */
  served: Set<Session> | null;
}

/**
 * The push node's fan-out. Deliveries are not written when they arrive: every message handed over during one turn
 * of the event loop (whatever made them ready: a store round, a replica's ack, a frame from the owner) joins its
 * channel's pending batch, and the next pass (setImmediate) writes each subscriber the whole batch at once: the
 * frames are encoded once and concatenated once, so a WebSocket subscriber costs one write per pass, however many
 * messages the batch holds. A pass that has run FANOUT_SLICE_MS continues in the next turn: a burst to tens of
 * thousands of sockets never holds the event loop (heartbeats, probe answers, new publishes go in between).
 *
 * Batches of several channels waiting together form a group: a subscriber of several of them gets all its
 * messages in one write (a client in four busy rooms: one syscall per pass, not four). After a long pass the
 * next one lingers a little (LINGER_MAX_MS at most) so that more messages join it.
 *
 * Order: batches and tasks run first in, first out, so each channel's messages reach every subscriber in offset
 * order; a message that arrives while its channel's batch is being written goes into the next batch. Per
 * subscriber, an offset already delivered is never sent again, and a subscriber still waiting for its subscribe
 * answer gets the messages in its `pending` list instead (as before).
 */
export class FanOut {
  private readonly queue: Array<Job | undefined> = [];
  private head = 0;
  /** Per channel, its newest job if messages may still join it (not started, no deliver-hook variants). */
  private readonly open = new Map<string, Job>();
  /** Jobs queued per channel (so a task with nothing queued before it runs at once). */
  private readonly queued = new Map<string, number>();
  private scheduled = false;
  private idle: Array<() => void> = [];
  private group: Group | null = null;
  /** When the current drain of the queue began (its first slice), and how long the last complete one took. */
  private drainStartedAt = -1;
  private lastDrainMs = 0;
  readonly stats: FanOutStats = { slices: 0, yields: 0, largestBatch: 0, writes: 0, largestGroup: 0 };

  /**
   * `onDeliver` is called with the number of messages written to subscribers (one per subscriber and message).
   * `missed` is called when a message shows that a subscriber missed some (an offset skipped, or another epoch):
   * its deliveries are held from then on (`pending`) and the caller fetches what is missing, that message included,
   * from the owner's history: a lost delivery (an owner that moved between two messages) becomes a catch-up, not a gap.
   */
  constructor(private readonly hub: Hub, private readonly onDeliver?: (messages: number) => void,
    private readonly missed: (s: Session, channel: string) => void = () => {}) {}

  /** Fans `m` out to the local subscribers of its channel in the next pass. */
  deliver(m: Message, variants?: Map<Session, Variant>): void {
    if (!this.hub.has(m.channel)) return;
    const open = variants === undefined ? this.open.get(m.channel) : undefined;
    if (open) {
      open.messages.push(m);
      return;
    }
    const job = this.push(m.channel, [m], variants, undefined);
    if (variants === undefined) this.open.set(m.channel, job);
  }

  /** Runs `task` after everything queued for `channel` so far is written (at once when nothing is). */
  after(channel: string, task: () => void): void {
    if (!this.queued.has(channel)) return task();
    this.push(channel, [], undefined, task);
  }

  /** Resolves once nothing is queued (tests; a stop). */
  settled(): Promise<void> {
    if (this.head === this.queue.length) return Promise.resolve();
    return new Promise((resolve) => this.idle.push(resolve));
  }

  /** Messages waiting to be written, over every channel (metrics). */
  get backlog(): number {
    let n = 0;
    for (let i = this.head; i < this.queue.length; i++) n += this.queue[i]!.messages.length;
    return n;
  }

  private push(channel: string, messages: Message[], variants: Job['variants'], task: Job['task']): Job {
    const job: Job = { channel, messages, variants, task, walk: null, oneRun: false, frames: null, run: null };
    this.open.delete(channel); // later messages go after this job
    this.queue.push(job);
    this.queued.set(channel, (this.queued.get(channel) ?? 0) + 1);
    if (!this.scheduled) {
      this.scheduled = true;
      const linger = Math.min(LINGER_MAX_MS, this.lastDrainMs / LINGER_SHARE);
      if (this.drainStartedAt < 0 && linger >= 1) setTimeout(this.pass, linger);
      else setImmediate(this.pass);
    }
    return job;
  }

  private readonly pass = (): void => {
    this.scheduled = false;
    if (this.head === this.queue.length) return; // a pass scheduled from inside the one that emptied the queue
    this.stats.slices++;
    const now = performance.now();
    if (this.drainStartedAt < 0) this.drainStartedAt = now;
    const deadline = now + FANOUT_SLICE_MS;
    let delivered = 0;
    while (this.head < this.queue.length) {
      const job = this.queue[this.head]!;
      const r = job.task || job.variants ? this.runJob(job, deadline) : this.runGroup(deadline);
      delivered += r.delivered;
      if (!r.done) {
        this.stats.yields++;
        this.scheduled = true;
        setImmediate(this.pass);
        break;
      }
      for (let n = job.task || job.variants ? 1 : this.group!.jobs.length; n > 0; n--) this.finish(this.queue[this.head]!);
      this.group = null;
    }
    if (delivered > 0) this.onDeliver?.(delivered);
    if (this.head === this.queue.length) {
      this.lastDrainMs = performance.now() - this.drainStartedAt;
      this.drainStartedAt = -1;
      this.queue.length = 0;
      this.head = 0;
      const idle = this.idle;
      this.idle = [];
      for (const resolve of idle) resolve();
    } else if (this.head > 1024 && this.head * 2 > this.queue.length) {
      this.queue.splice(0, this.head);
      this.head = 0;
    }
  };

  /** The job at the head of the queue is done: drop it. */
  private finish(job: Job): void {
    this.queue[this.head++] = undefined;
    const left = this.queued.get(job.channel)! - 1;
    if (left === 0) this.queued.delete(job.channel);
    else this.queued.set(job.channel, left);
  }

  /** Closes `job` to further messages and prepares its walk. */
  private start(job: Job): void {
    if (this.open.get(job.channel) === job) this.open.delete(job.channel);
    job.walk = this.hub.sessions(job.channel)[Symbol.iterator]();
    job.oneRun = job.variants === undefined && isOneRun(job.messages);
    if (job.messages.length > this.stats.largestBatch) this.stats.largestBatch = job.messages.length;
  }

  /** Runs a task, or a job with deliver-hook variants, until it is done or the slice's time is up. */
  private runJob(job: Job, deadline: number): { done: boolean; delivered: number } {
    if (job.task) {
      job.task();
      return { done: true, delivered: 0 };
    }
    if (!job.walk) this.start(job);
    let delivered = 0;
    let n = 0;
    for (let r = job.walk!.next(); !r.done; r = job.walk!.next()) {
      delivered += this.deliverTo(job, r.value);
      if (++n % CHECK_EVERY === 0 && performance.now() >= deadline) return { done: false, delivered };
    }
    return { done: true, delivered };
  }

  /** Runs the group of plain jobs at the head of the queue (formed on its first slice) until done or out of time. */
  private runGroup(deadline: number): { done: boolean; delivered: number } {
    const g = (this.group ??= this.formGroup());
    let delivered = 0;
    let n = 0;
    for (; g.index < g.jobs.length; g.index++) {
      const walk = g.jobs[g.index]!.walk!;
      for (let r = walk.next(); !r.done; r = walk.next()) {
        const s = r.value;
        if (g.served) {
          if (g.served.has(s)) continue;
          g.served.add(s);
        }
        delivered += this.deliverGroup(g, s);
        if (++n % CHECK_EVERY === 0 && performance.now() >= deadline) return { done: false, delivered };
      }
    }
    return { done: true, delivered };
  }

  private formGroup(): Group {
    const jobs: Job[] = [];
    const channels = new Set<string>();
    for (let i = this.head; i < this.queue.length && jobs.length < MAX_GROUP; i++) {
      const job = this.queue[i]!;
      if (job.task || job.variants || channels.has(job.channel)) break;
      channels.add(job.channel);
      jobs.push(job);
      this.start(job);
    }
    if (jobs.length > this.stats.largestGroup) this.stats.largestGroup = jobs.length;
    return { jobs, index: 0, served: jobs.length > 1 ? new Set() : null };
  }

  /**
   * Writes subscriber `s` what it takes of the group's jobs from the one being walked on (it was not met in the
   * walks before): the runs of every channel it takes whole in one write, anything else frame by frame.
   */
  private deliverGroup(g: Group, s: Session): number {
    const conn = s.conn;
    if (g.jobs.length === 1 || !conn || !writesRuns(conn)) {
      let n = 0;
      for (let k = g.index; k < g.jobs.length; k++) n += this.deliverTo(g.jobs[k]!, s);
      return n;
    }
    let n = 0;
    let runs: PreparedRun[] | null = null;
    let only: PreparedRun | null = null;
    for (let k = g.index; k < g.jobs.length; k++) {
      const job = g.jobs[k]!;
      const sub = s.subs.get(job.channel);
      if (!sub) continue;
      const first = job.messages[0]!;
      if (job.oneRun && !sub.pending && first.epoch === sub.epoch && first.offset === sub.offset + 1) {
        sub.offset = job.messages[job.messages.length - 1]!.offset;
        const run = (job.run ??= new PreparedRun(this.frames(job)));
        if (only === null) only = run;
        else (runs ??= [only]).push(run);
        n += job.messages.length;
      } else n += this.deliverTo(job, s);
    }
    if (runs) conn.sendRuns(runs, s);
    else if (only) conn.sendRun(only, s);
    if (only) this.stats.writes++;
    return n;
  }

  /** Writes `job`'s messages to one subscriber; returns how many it wrote. */
  private deliverTo(job: Job, s: Session): number {
    const channel = job.channel;
    const sub = s.subs.get(channel);
    if (!sub) return 0;
    const messages = job.messages;
    if (sub.pending) {
      for (const m of messages) sub.pending.push(m);
      return 0;
    }
    const conn = s.conn;
    if (!conn) return 0;
    const first = messages[0]!;
    if (job.oneRun && first.epoch === sub.epoch && first.offset === sub.offset + 1 && writesRuns(conn)) {
      sub.offset = messages[messages.length - 1]!.offset;
      conn.sendRun(job.run ??= new PreparedRun(this.frames(job)), s);
      this.stats.writes++;
      return messages.length;
    }
    // One message at a time: a deliver hook's variants, a subscriber part-way through the batch, SSE (whose ids
    // carry the position after each message) and long-poll.
    let n = 0;
    for (let i = 0; i < messages.length; i++) {
      const m = messages[i]!;
      if (m.epoch === sub.epoch ? m.offset > sub.offset + 1 : sub.epoch !== '') {
        sub.pending = messages.slice(i + 1);
        this.missed(s, channel);
        return n;
      }
      if (m.offset <= sub.offset) continue;
      const v = job.variants?.get(s);
      sub.offset = m.offset; // a skipped message still advances: a resume must not replay it
      if (v === undefined) conn.send(this.frames(job)[i]!, s);
      else if ('data' in v) conn.send(variantFrame(job, m, v.data), s);
      else continue;
      n++;
    }
    return n;
  }

  private frames(job: Job): Prepared[] {
    return (job.frames ??= job.messages.map(messageFrame));
  }
}

/** Frames of deliver-hook data, shared by the recipients that got equal data. */
const variantFrames = new WeakMap<Job, Map<string, Prepared>>();

function variantFrame(job: Job, m: Message, data: unknown): Prepared {
  let byData = variantFrames.get(job);
  if (!byData) variantFrames.set(job, (byData = new Map()));
  const key = JSON.stringify(data) ?? 'null';
  let p = byData.get(key);
  if (!p) byData.set(key, (p = messageFrame({ ...m, data })));
  return p;
}

function isOneRun(messages: Message[]): boolean {
  for (let i = 1; i < messages.length; i++) {
    if (messages[i]!.epoch !== messages[0]!.epoch || messages[i]!.offset !== messages[i - 1]!.offset + 1) return false;
  }
  return true;
}
