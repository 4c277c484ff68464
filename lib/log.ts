import { pino, type Logger } from 'pino';

/** The node's one logger (pino, JSON lines on stderr so stdout stays for the CLI's own output). */
export function createLogger(level: string, bindings: Record<string, unknown> = {}): Logger {
  return pino({ level, base: { ...bindings } }, pino.destination(2));
}

export type { Logger };
