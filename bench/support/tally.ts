/**
 * The per-phase bookkeeping of the load-client children (bench/clients/*): messages tagged with the current
 * phase per socket, publish-to-delivery latency, and the PhaseReport sent to the parent. Payload fields are
 * found with Buffer.indexOf instead of JSON.parse to keep the clients cheap.
 */
import { Histogram } from './histogram.js';
import type { PhaseReport } from './ipc.js';

export const P_KEY = Buffer.from('"__p":');
export const T_KEY = Buffer.from('"__t":');

/** The decimal integer at `at` in `buf`. */
export function readInt(buf: Buffer, at: number): number {
  let n = 0;
  for (let i = at; i < buf.length; i++) {
    const c = buf[i]!;
    if (c < 48 || c > 57) break;
    n = n * 10 + (c - 48);
  }
  return n;
}

export class PhaseTally {
  /** Messages of the current phase per socket (index = socket slot). */
  perSocket = new Uint32Array(0);
  phase = -1;
  expectPerSocket = 0;
  received = 0;
  firstAt = 0;
  lastAt = 0;
  hist = new Histogram();
  cpuAtPhase = process.cpuUsage();
  doneSent = false;

  /** Starts counting `phase`: every socket should get `expectPerSocket` messages. */
  begin(phase: number, expectPerSocket: number): void {
    this.phase = phase;
    this.expectPerSocket = expectPerSocket;
    this.perSocket.fill(0);
    this.received = 0;
    this.firstAt = this.lastAt = 0;
    this.hist = new Histogram();
    this.doneSent = false;
    this.cpuAtPhase = process.cpuUsage();
  }

  /** One message of the current phase on socket `idx`, received at `at`; its "__t" timestamp is at `t` in `data` (-1: none). */
  record(idx: number, at: number, data: Buffer, t: number): void {
    if (t >= 0) this.hist.record(at - parseFloat(data.toString('latin1', t + T_KEY.length, t + T_KEY.length + 24)));
    this.perSocket[idx]!++;
    this.received++;
    if (this.firstAt === 0) this.firstAt = at;
    this.lastAt = at;
  }

  /** The report over socket slots 0..slots-1, of which `live` are counted as sockets. */
  report(done: boolean, slots: number, live: number, closed: number): PhaseReport {
    let complete = 0;
    let over = 0;
    for (let i = 0; i < slots; i++) {
      if (this.perSocket[i] === this.expectPerSocket) complete++;
      else if (this.perSocket[i]! > this.expectPerSocket) over++;
    }
    const cpu = process.cpuUsage(this.cpuAtPhase);
    return {
      ev: 'report', phase: this.phase, sockets: live, received: this.received, expected: this.expectPerSocket * live,
      completeSockets: complete, overSockets: over, firstAt: this.firstAt, lastAt: this.lastAt, latency: this.hist.toJSON(),
      cpuUs: cpu.user + cpu.system, closed, done,
    };
  }
}
