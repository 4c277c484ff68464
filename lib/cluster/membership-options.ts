// Options of HyperswarmMembership, their defaults and their validation.
import type DHT from 'hyperdht';
import { OptionsError } from '../errors.js';

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
  /** Heartbeats go to every peer this often; a peer silent for 3 intervals is suspected. @default 250 */
  heartbeatMs?: number;
  /**
   * A suspected peer is declared dead after this long once another member confirms it cannot hear it either
   * (twice as long unconfirmed), or as soon as its address refuses a probe (its process is gone). @default 3000
   */
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

/** Options after validation, defaults filled in. */
export type ResolvedMembershipOptions = Required<Omit<HyperswarmMembershipOptions, 'keyPair' | 'topic'>>;

/** Longest advertised URL, bytes. */
export const MAX_URL_BYTES = 2048;

/** Validates the options and fills in defaults; throws OptionsError naming the bad field. */
export function parseMembershipOptions(o: HyperswarmMembershipOptions): ResolvedMembershipOptions {
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
  const heartbeatMs = positive('heartbeatMs', o.heartbeatMs, 250);
  const failureTimeoutMs = positive('failureTimeoutMs', o.failureTimeoutMs, 3000);
  checkFailureTiming(heartbeatMs, failureTimeoutMs);
  return {
    bootstrap: o.bootstrap, cluster: o.cluster, secret: o.secret, url: o.url, host: o.host ?? '127.0.0.1',
    port: o.port ?? 0, heartbeatMs, failureTimeoutMs,
    admissionTimeoutMs: positive('admissionTimeoutMs', o.admissionTimeoutMs, 5000),
    maxFrameBytes: Math.min(positive('maxFrameBytes', o.maxFrameBytes, 16 * 1024 * 1024), 0xfffffffe),
  };
}

/** Heartbeats of at least 10 ms, and a failure timeout of at least two heartbeats; throws OptionsError. */
export function checkFailureTiming(heartbeatMs: number, failureTimeoutMs: number): void {
  if (heartbeatMs < 10) throw new OptionsError('heartbeatMs', `must be at least 10 ms, got ${heartbeatMs}`);
  if (failureTimeoutMs < 2 * heartbeatMs) {
    throw new OptionsError('failureTimeoutMs', `must be at least twice heartbeatMs (${2 * heartbeatMs} ms), got ${failureTimeoutMs}`);
  }
}
