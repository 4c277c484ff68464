import { pino, type Logger } from 'pino';

/** The node's one logger (pino, JSON lines on stderr so stdout stays for the CLI's own output). */
export function createLogger(level: string, bindings: Record<string, unknown> = {}): Logger {
  return pino({ level, base: { ...bindings } }, pino.destination(2));
}

export type { Logger };

/**
 * At most one log line per key per `everyMs` for an event that can come in floods (a hook failing for every
 * connection, an owner too busy to answer thousands of unsubscribes): `take(key)` says whether to write the line
 * now, and the number of lines left out since the last one (a line written carries it as `suppressed`). Without a
 * key type, `take()` throttles the one event.
 */
export class LogThrottle<K = void> {
  private readonly last = new Map<K, { at: number; suppressed: number }>();
  constructor(private readonly everyMs = 1000, private readonly now: () => number = Date.now) {}

  /** null: leave this line out (it is counted); a number: write it, with that many left out before it. */
  take(key: K): number | null {
    const now = this.now();
    const last = this.last.get(key);
    if (last && now - last.at < this.everyMs) {
      last.suppressed++;
      return null;
    }
    this.last.set(key, { at: now, suppressed: 0 });
    return last?.suppressed ?? 0;
  }
}
