import { randomFillSync } from 'node:crypto';
import type { Prepared, PreparedRun } from '../protocol/prepared.js';
import type { Claims, Message, UserId } from '../protocol/types.js';
import { SmallMap } from './small-map.js';

/**
 * A new session id: 16 bytes of the system's CSPRNG as base64url (the id alone resumes a session, so it must not be
 * guessable). The bytes are drawn 256 ids at a time: one randomFillSync per id cost the node 1.8% of its CPU while
 * it resumed 2,000 clients a second (bench/reconnect-storm.ts profile), the call, not the bytes, being the cost.
 */
export function newSessionId(): string {
  if (idPoolAt === ID_POOL.length) {
    randomFillSync(ID_POOL);
    idPoolAt = 0;
  }
  idPoolAt += 16;
  return ID_POOL.toString('base64url', idPoolAt - 16, idPoolAt);
}
const ID_POOL = Buffer.alloc(16 * 256);
let idPoolAt = ID_POOL.length;

/** The client edge of a session: a WebSocket, an SSE response or a long-poll mailbox. */
export interface Connection {
  readonly kind: 'ws' | 'sse' | 'poll';
  /** Sends a shared frame; `session` lets formats with per-connection parts (SSE ids) add them. */
  send(frame: Prepared, session: Session): void;
  /** Closes the connection; the session stays for a resume unless the push service ends it. */
  close(code: number, reason: string): void;
}

/** A connection that takes several message frames as one pre-framed run (WebSocket): one write for a batch. */
export interface RunWriter {
  /** Sends the frames of `run`, in order, in one write. */
  sendRun(run: PreparedRun, session: Session): void;
  /** Sends several runs (of different channels), each in order, in one write. */
  sendRuns(runs: readonly PreparedRun[], session: Session): void;
}

/** Whether `c` can take runs (otherwise the fan-out sends one frame at a time). */
export function writesRuns(c: Connection): c is Connection & RunWriter {
  return typeof (c as Partial<RunWriter>).sendRuns === 'function';
}

/** One subscription of a session, as the push node sees it. */
export interface Sub {
  epoch: string;
  /** Last offset delivered to the client (resume point). */
  offset: number;
  /** Messages that arrived while the subscribe/resume round trip was in flight; null when live. */
  pending: Message[] | null;
}

/**
 * A client's state on its push node; it outlives its connection for the session TTL so the client can
 * reconnect and resume. Kept small on purpose: this object exists once per connection.
 */
export class Session {
  conn: Connection | null = null;
  /** ms since the epoch when the connection went away (0 while attached). */
  detachedAt = 0;
  readonly subs = new SmallMap<string, Sub>();
  /** Frames for the client that happened while it was away (kicks), sent when it resumes. */
  awayFrames: Prepared[] | null = null;
  /** Subscribe round trips in flight, per channel (null when none: most sessions most of the time). */
  flows: Map<string, Promise<void>> | null = null;
  /** Unregistered at its channels' owners after the presence grace (positions kept for a resume). */
  away = false;
  ended = false;

  constructor(
    readonly id: string,
    readonly user: UserId,
    readonly claims: Claims,
    /** `info` from the connect hook, passed to deliver hooks. */
    readonly info: Record<string, unknown>,
  ) {}

  /** Positions of every live subscription (SSE and long-poll cursors). */
  positions(): Array<[string, Sub]> {
    return [...this.subs];
  }
}
