/**
 * Bench load-client child for bench/presence.ts: connects its share of users (one WebSocket each, its own signed
 * token), subscribes each to one channel with a bounded number of attempts in flight, and per user records when
 * the subscription was answered, how many presence frames arrived, and when the user's member list became
 * complete (every user of the run present), from whatever presence frames the server sends: per-change frames
 * ({join}/{leave}), batched diffs ({joins, leaves}) and snapshots ({members}). One user in SAMPLE keeps the real
 * set of names and checks it; the others keep only the size the frames imply (a set of 20,000 names for each
 * of 20,000 users would not fit in a load client), reading the frame's `count` without parsing the names.
 * Reports to the parent over IPC.
 */
import WebSocket from 'ws';
import { signToken } from '../../lib/auth/tokens.js';
import { nowMs } from '../support/ipc.js';

if (!process.send) throw new Error('start this script with child_process.fork (it needs an IPC channel)');

export type PresenceClientRequest =
  | { cmd: 'join'; url: string; channel: string; jwtSecret: string; users: string[]; total: number; inFlight: number; t0: number; deadlineMs: number }
  | { cmd: 'report' }
  | { cmd: 'close' };

export interface PresenceClientReport {
  ev: 'report';
  subscribed: number;
  failed: number;
  errors: string[];
  /** ms after t0 of the last subscription answer. */
  lastSubscribedMs: number | null;
  presenceFrames: number;
  presenceBytes: number;
  complete: number;
  /** ms after t0 when the last of this process's users had a complete member list. */
  lastCompleteMs: number | null;
  /** Sampled users whose list reached the right size with the wrong names. */
  sampledWrong: number;
}

interface User { ws: WebSocket; members: Set<string> | null; size: number; complete: boolean }

/** Every SAMPLE-th user keeps and checks the full set of names. */
const SAMPLE = 100;
const COUNT = Buffer.from('"count":');
let sampledWrong = 0;

const users: User[] = [];
let subscribed = 0;
let failed = 0;
let lastSubscribed: number | null = null;
let presenceFrames = 0;
let presenceBytes = 0;
let complete = 0;
let lastComplete: number | null = null;
let total = 0;
let t0 = 0;
const errors = new Map<string, number>();

function onPresence(u: User, data: Buffer): void {
  if (u.members) {
    const m = JSON.parse(data.toString('utf8')) as { join?: string; leave?: string; joins?: string[]; leaves?: string[]; members?: string[] };
    if (m.members) u.members = new Set(m.members);
    if (m.join) u.members.add(m.join);
    if (m.leave) u.members.delete(m.leave);
    for (const j of m.joins ?? []) u.members.add(j);
    for (const l of m.leaves ?? []) u.members.delete(l);
    u.size = u.members.size;
  } else {
    const at = data.lastIndexOf(COUNT);
    if (at >= 0) u.size = parseInt(data.subarray(at + COUNT.length, at + COUNT.length + 12).toString(), 10);
    else if (data.includes('"join"')) u.size++;
    else if (data.includes('"leave"')) u.size--;
  }
  if (!u.complete && u.size >= total) {
    if (u.members && u.members.size !== total) sampledWrong++;
    u.complete = true;
    complete++;
    lastComplete = nowMs() - t0;
  }
}

function join(url: string, channel: string, token: string, timeoutMs: number, sample: boolean): Promise<void> {
  return new Promise((resolve) => {
    const ws = new WebSocket(`${url.replace(/^http/, 'ws')}/v1/ws`, { perMessageDeflate: false, handshakeTimeout: timeoutMs });
    const u: User = { ws, members: sample ? new Set() : null, size: 0, complete: false };
    let settled = false;
    const timer = setTimeout(() => fail('timed out'), timeoutMs);
    const fail = (why: string) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      failed++;
      errors.set(why, (errors.get(why) ?? 0) + 1);
      ws.terminate();
      resolve();
    };
    ws.on('error', (err) => fail(err.message));
    ws.on('close', () => fail('closed'));
    ws.on('open', () => ws.send(JSON.stringify({ type: 'connect', token })));
    ws.on('message', (data: Buffer) => {
      if (data.includes('"type":"presence"')) {
        presenceFrames++;
        presenceBytes += data.length;
        onPresence(u, data);
        return;
      }
      const m = JSON.parse(data.toString('utf8'));
      if (m.type === 'connected') {
        ws.send(JSON.stringify({ type: 'subscribe', id: 1, channel }));
      } else if (m.type === 'subscribed' && !settled) {
        settled = true;
        clearTimeout(timer);
        subscribed++;
        lastSubscribed = nowMs() - t0;
        users.push(u);
        resolve();
      } else if (m.type === 'error' && !settled) fail(`${m.code}`);
    });
  });
}

process.on('message', async (raw) => {
  const req = raw as PresenceClientRequest;
  if (req.cmd === 'join') {
    total = req.total;
    t0 = req.t0;
    const tokens = await Promise.all(req.users.map((u) => signToken(req.jwtSecret, u, { ttlSeconds: 3600 })));
    process.send!({ ev: 'ready' });
    let next = 0;
    const deadline = Date.now() + req.deadlineMs;
    await Promise.all(Array.from({ length: req.inFlight }, async () => {
      while (next < tokens.length && Date.now() < deadline) {
        const i = next++;
        await join(req.url, req.channel, tokens[i]!, Math.max(1000, deadline - Date.now()), i % SAMPLE === 0);
      }
    }));
    process.send!({ ev: 'joined' });
  } else if (req.cmd === 'report') {
    const r: PresenceClientReport = {
      ev: 'report', subscribed, failed, errors: [...errors].map(([e, n]) => `${n}x ${e}`), lastSubscribedMs: lastSubscribed,
      presenceFrames, presenceBytes, complete, lastCompleteMs: lastComplete, sampledWrong,
    };
    process.send!(r);
  } else if (req.cmd === 'close') {
    for (const u of users) u.ws.terminate();
    process.exit(0);
  }
});
