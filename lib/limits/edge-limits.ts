import type { IncomingMessage } from 'node:http';
import { HashpubError } from '../errors.js';
import type { Metrics } from '../metrics.js';
import type { CommandBudget, LimitName, LimitOptions, Limits } from './limits.js';
import { BucketMap, fullBucket, isFull, take, type Bucket } from './token-bucket.js';

/** Seconds a client refused by a connection cap is told to wait (a connection must close first). */
const CAP_RETRY_SECONDS = 5;

/** "::ffff:10.0.0.1" (IPv4 on a dual-stack socket) -> "10.0.0.1". */
const plain = (a: string): string => (a.startsWith('::ffff:') && a.includes('.') ? a.slice(7) : a);

/**
 * The limits of one node (lib/limits/limits.ts): token buckets per connection, per source address and per
 * channel, counts of connections per address. Refusals are counted by limit in `metrics.refusals`.
 */
export class EdgeLimits implements Limits {
  private readonly attempts: BucketMap | null;
  private readonly publishes: BucketMap | null;
  private readonly perAddress = new Map<string, number>();
  private readonly exempt: ReadonlySet<string>;

  constructor(private readonly o: LimitOptions, private readonly metrics: Metrics, private readonly now: () => number = Date.now,
    /** The client's address (proxy-aware: lib/transport/client-address.ts); the socket's peer by default. */
    private readonly address: (req: IncomingMessage) => string = (req) => req.socket.remoteAddress ?? '') {
    this.attempts = o.maxConnectionAttemptsPerSecond > 0
      ? new BucketMap(o.maxConnectionAttemptsPerSecond, Math.max(1, o.connectionAttemptBurst), now) : null;
    this.publishes = o.maxChannelPublishesPerSecond > 0
      ? new BucketMap(o.maxChannelPublishesPerSecond, Math.max(1, o.channelPublishBurst), now) : null;
    this.exempt = new Set(o.limitExemptAddresses.map(plain));
  }

  clientAddress(req: IncomingMessage): string {
    return plain(this.address(req));
  }

  attempt(address: string): void {
    if (!this.attempts || this.exempt.has(address)) return;
    const wait = this.attempts.take(address);
    if (wait > 0) throw this.refusal('connection_attempts', `more than ${this.o.maxConnectionAttemptsPerSecond} connection attempts per second from this address`, wait);
  }

  opened(address: string): void {
    if (this.o.maxConnectionsPerAddress <= 0 || this.exempt.has(address)) return;
    const n = this.perAddress.get(address) ?? 0;
    if (n >= this.o.maxConnectionsPerAddress) {
      throw this.refusal('connections_per_address', `this address has ${n} open connections, the most this node allows`, CAP_RETRY_SECONDS);
    }
    this.perAddress.set(address, n + 1);
  }

  closed(address: string): void {
    const n = this.perAddress.get(address);
    if (n === undefined) return;
    if (n <= 1) this.perAddress.delete(address);
    else this.perAddress.set(address, n - 1);
  }

  userConnection(current: number): void {
    const max = this.o.maxConnectionsPerUser;
    if (max > 0 && current >= max) throw this.refusal('connections_per_user', `this user has ${current} connections on this node, the most it allows`, CAP_RETRY_SECONDS);
  }

  subscription(current: number): void {
    const max = this.o.maxSubscriptionsPerConnection;
    if (max > 0 && current >= max) throw this.refusal('subscriptions', `a connection may hold at most ${max} subscriptions: unsubscribe first`);
  }

  channelPublish(channel: string): void {
    if (!this.publishes) return;
    const wait = this.publishes.take(channel);
    if (wait > 0) throw this.refusal('channel_publishes', `more than ${this.o.maxChannelPublishesPerSecond} client publishes per second on this channel`, wait);
  }

  budget(): CommandBudget {
    return new Budget(this);
  }

  refusal(limit: LimitName, message: string, retryAfter?: number): HashpubError {
    this.metrics.refusals.inc({ limit });
    return new HashpubError('rate_limited', message, retryAfter === undefined ? {} : { retryAfter: Math.max(1, Math.ceil(retryAfter)) });
  }

  /** Internal to Budget. */
  get options(): LimitOptions {
    return this.o;
  }

  /** Internal to Budget. */
  clock(): number {
    return this.now();
  }
}

/**
 * A connection's command bucket and refusal count; created on its first frame and forgotten once it is full again
 * (idle connections hold none: a subscriber that sent connect and subscribe an hour ago costs nothing here).
 */
class Budget implements CommandBudget {
  private readonly bucket: Bucket;
  private strikes = 0;
  private windowStart = 0;

  constructor(private readonly limits: EdgeLimits) {
    this.bucket = fullBucket(commandBurst(limits.options), limits.clock());
  }

  take(): void {
    const o = this.limits.options;
    if (o.maxCommandsPerSecond <= 0) return;
    const wait = take(this.bucket, o.maxCommandsPerSecond, commandBurst(o), this.limits.clock());
    if (wait > 0) throw this.limits.refusal('commands', `more than ${o.maxCommandsPerSecond} commands per second on this connection`, wait);
  }

  strike(): boolean {
    const o = this.limits.options;
    if (o.abuseRefusals <= 0) return false;
    const now = this.limits.clock();
    if (now - this.windowStart > o.abuseWindowSeconds * 1000) {
      this.windowStart = now;
      this.strikes = 0;
    }
    return ++this.strikes >= o.abuseRefusals;
  }

  forgettable(): boolean {
    const o = this.limits.options;
    const now = this.limits.clock();
    if (this.strikes > 0 && now - this.windowStart <= o.abuseWindowSeconds * 1000) return false;
    return o.maxCommandsPerSecond <= 0 || isFull(this.bucket, o.maxCommandsPerSecond, commandBurst(o), now);
  }
}

/** A connection's command burst: at least one command. */
const commandBurst = (o: LimitOptions): number => Math.max(1, o.commandBurst);
