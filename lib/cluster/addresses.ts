// Which addresses a node binds and which it advertises: pure decisions over the options and the machine's
// interface list (os.networkInterfaces() is passed in, so every rule is a table test).
//
// A node has two sockets a peer must reach: HTTP (TCP, `--host`/`--port`, advertised as `--public-url`) and
// the DHT/UDX socket (UDP, `--dht-host`/`--dht-port`) that carries membership and node-to-node frames.
import net from 'node:net';
import type { NetworkInterfaceInfo } from 'node:os';
import { OptionsError } from '../errors.js';

/** The machine's interfaces, as os.networkInterfaces() lists them. */
export type Interfaces = NodeJS.Dict<NetworkInterfaceInfo[]>;

/** True for 0.0.0.0 and :: (listen on every address; never something a peer can dial). */
export function isUnspecified(host: string): boolean {
  const h = unbracket(host);
  return h === '0.0.0.0' || (net.isIPv6(h) && /^[0:]+$/.test(h));
}

/** True for 127.0.0.0/8, ::1 and "localhost": reachable from this machine only. */
export function isLoopback(host: string): boolean {
  const h = unbracket(host).toLowerCase();
  return h === 'localhost' || h.endsWith('.localhost') || /^127\.\d+\.\d+\.\d+$/.test(h) || h === '::1' ||
    /^::ffff:127\./.test(h);
}

/** Addresses of this machine other hosts could dial: non-internal IPv4 first, then global IPv6. */
export function externalAddresses(interfaces: Interfaces, family: 'IPv4' | 'IPv6' | 'any' = 'any'): string[] {
  const all = Object.values(interfaces).flatMap((list) => list ?? []).filter((a) => !a.internal);
  const v4 = all.filter((a) => a.family === 'IPv4').map((a) => a.address);
  const v6 = all.filter((a) => a.family === 'IPv6' && !/^fe80:/i.test(a.address)).map((a) => a.address);
  const out = family === 'IPv4' ? v4 : family === 'IPv6' ? v6 : [...v4, ...v6];
  return [...new Set(out)];
}

/**
 * The IPv4 address the node's DHT socket binds: `--dht-host` when given, else `--host` (an IPv4 address
 * as is; "::" becomes 0.0.0.0, "localhost" 127.0.0.1). The DHT is IPv4 only.
 */
export function dhtBindHost(host: string, dhtHost: string | null): string {
  if (dhtHost !== null) return dhtHost;
  if (net.isIPv4(host)) return host;
  if (isUnspecified(host)) return '0.0.0.0';
  if (host.toLowerCase() === 'localhost' || host === '::1') return '127.0.0.1';
  throw new OptionsError('dhtHost', `the DHT socket needs an IPv4 address and --host ${host} is not one: pass --dht-host with this machine's IPv4 address`);
}

/** The one address a wildcard bind stands for, or null when the machine has several (or none but loopback: 127.0.0.1). */
function soleAddress(interfaces: Interfaces, family: 'IPv4' | 'any'): { address: string | null; candidates: string[] } {
  const candidates = externalAddresses(interfaces, family);
  if (candidates.length === 0) return { address: '127.0.0.1', candidates };
  return { address: candidates.length === 1 ? candidates[0]! : null, candidates };
}

/** What advertisedUrl() decides from. */
export interface AdvertiseInput {
  /** `--public-url` (already checked by parseOptions), or null to derive. */
  publicUrl: string | null;
  /** `--host`: the HTTP bind address. */
  host: string;
  /** The HTTP port actually bound. */
  port: number;
  /** The DHT bind address (dhtBindHost()). */
  dhtHost: string;
  interfaces: Interfaces;
  /** The port serves HTTPS (`--tls-cert`): a derived URL is https://. */
  tls?: boolean;
}

/**
 * The HTTP URL this node advertises to peers and clients: `--public-url` when given; else `--host` when it
 * is one address; else (a wildcard bind) the DHT address when it is one, else the machine's only external
 * address. Several candidates and no hint throw an OptionsError naming --public-url.
 */
export function advertisedUrl(i: AdvertiseInput): string {
  if (i.publicUrl !== null) return i.publicUrl;
  const url = (host: string) => `${i.tls ? 'https' : 'http'}://${net.isIPv6(host) ? `[${host}]` : host}:${i.port}`;
  if (!isUnspecified(i.host)) return url(unbracket(i.host));
  if (!isUnspecified(i.dhtHost)) return url(i.dhtHost);
  const { address, candidates } = soleAddress(i.interfaces, i.host === '0.0.0.0' ? 'IPv4' : 'any');
  if (address !== null) return url(address);
  throw new OptionsError('publicUrl', `--host ${i.host} listens on every address and this machine has ${candidates.length} ` +
    `(${candidates.join(', ')}): pass the URL peers and clients should use, e.g. --public-url ${url(candidates[0]!)}`);
}

/**
 * The address an in-process bootstrap (bound on `dhtHost`) advertises: `dhtHost` itself, or for 0.0.0.0 the
 * IPv4 host of the public URL, else the machine's only external IPv4 address. Throws naming --dht-host.
 */
export function bootstrapAddress(dhtHost: string, publicUrl: string, interfaces: Interfaces): string {
  if (!isUnspecified(dhtHost)) return dhtHost;
  const urlHost = new URL(publicUrl).hostname;
  if (net.isIPv4(urlHost)) return urlHost;
  return soleIPv4(interfaces, 'dhtHost', 'the in-process DHT bootstrap binds 0.0.0.0 and must advertise one address');
}

/**
 * The address a bootstrap bound on `host` advertises: `publicHost` when given, `host` when it is one
 * address, else the machine's only external IPv4 address. Throws naming --public-host.
 */
export function bootstrapPublicHost(host: string, publicHost: string | null, interfaces: Interfaces): string {
  if (publicHost !== null) {
    if (!net.isIPv4(publicHost) || isUnspecified(publicHost)) {
      throw new OptionsError('publicHost', `must be the one IPv4 address nodes dial, got ${publicHost}`);
    }
    return publicHost;
  }
  if (!isUnspecified(host)) return host;
  return soleIPv4(interfaces, 'publicHost', `--host ${host} binds every address and nodes must be told one`);
}

function soleIPv4(interfaces: Interfaces, field: string, why: string): string {
  const { address, candidates } = soleAddress(interfaces, 'IPv4');
  if (address !== null) return address;
  const flag = `--${field.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)}`;
  throw new OptionsError(field, `${why}; this machine has ${candidates.length} (${candidates.join(', ')}): pass ${flag} ${candidates[0]}`);
}

/** What checkReachable() looks at. */
export interface ReachInput {
  /** The advertised HTTP URL. */
  url: string;
  /** The DHT bind address. */
  dhtHost: string;
  /** "HOST:PORT" bootstrap nodes given (empty: an in-process one on dhtHost). */
  bootstrap: string[];
}

/**
 * Refuses combinations a peer on another host could not use, naming the flag to fix: an advertised URL
 * on 0.0.0.0/::, a loopback URL while the node joins over a network address, a loopback DHT socket that
 * cannot reach a bootstrap on another host.
 */
export function checkReachable(r: ReachInput): void {
  const urlHost = unbracket(new URL(r.url).hostname);
  if (isUnspecified(urlHost)) {
    throw new OptionsError('publicUrl', `${r.url} is not an address a peer can dial: pass --public-url with this machine's address`);
  }
  const remote = r.bootstrap.map((b) => b.slice(0, b.lastIndexOf(':'))).filter((h) => !isLoopback(h));
  if (isLoopback(r.dhtHost) && remote.length > 0) {
    throw new OptionsError('dhtHost', `the DHT socket binds ${r.dhtHost} (loopback) and cannot reach bootstrap ${remote[0]}: ` +
      'pass --dht-host (or --host) with this machine\'s address on that network');
  }
  const overNetwork = !isLoopback(r.dhtHost) && !isUnspecified(r.dhtHost) ? `the DHT socket binds ${r.dhtHost}`
    : remote.length > 0 ? `it joins bootstrap ${remote[0]}` : null;
  if (isLoopback(urlHost) && overNetwork !== null) {
    throw new OptionsError('publicUrl', `this node advertises ${r.url} (loopback) but ${overNetwork}, so peers on other hosts ` +
      'could not use it: pass --host with this machine\'s address, or --public-url');
  }
}

/** Checks a `--public-url` value; returns it without a trailing slash. Throws a message (no field). */
export function checkPublicUrl(value: string): string {
  let u: URL;
  try {
    u = new URL(value);
  } catch {
    throw new Error(`"${value}" is not a URL (e.g. http://10.0.0.2:8080)`);
  }
  if (u.protocol !== 'http:' && u.protocol !== 'https:') throw new Error(`must be an http:// or https:// URL, got ${value}`);
  if (isUnspecified(u.hostname)) throw new Error(`${value} is not an address a peer can dial (0.0.0.0 and :: only mean "every address")`);
  if (u.username || u.password || u.search || u.hash || (u.pathname !== '/' && u.pathname !== '')) {
    throw new Error(`must be a bare origin like http://10.0.0.2:8080 (no path, query or credentials), got ${value}`);
  }
  return u.origin;
}

/** A node's address settings, as in Options. */
export interface AddressOptions {
  host: string;
  port: number;
  publicUrl: string | null;
  dhtHost: string | null;
  bootstrap: string[];
  /** `--tls-cert`: when set the port serves HTTPS, so the URL is https:// (a given http:// one is refused). */
  tlsCert?: string | null;
}

/** A node's addresses, decided and checked (see nodeAddresses()). */
export interface NodeAddresses {
  /** Where the DHT socket binds (null without a cluster). */
  dhtHost: string | null;
  /** The advertised URL once the HTTP port is bound (the same checks already passed for `port`). */
  urlFor(boundPort: number): string;
}

/**
 * Decides and checks a node's addresses before anything binds, so a bad combination fails at once with an
 * OptionsError naming the flag to fix. A node without a cluster (`clustered` false) has no DHT socket.
 */
export function nodeAddresses(o: AddressOptions, interfaces: Interfaces, clustered = true): NodeAddresses {
  const tls = o.tlsCert !== undefined && o.tlsCert !== null;
  if (tls && o.publicUrl !== null && !o.publicUrl.startsWith('https:')) {
    throw new OptionsError('publicUrl', `this node serves HTTPS (--tls-cert), so its URL is https://, got ${o.publicUrl}`);
  }
  const dhtHost = clustered ? dhtBindHost(o.host, o.dhtHost) : null;
  const urlFor = (port: number) =>
    advertisedUrl({ publicUrl: o.publicUrl, host: o.host, port, dhtHost: dhtHost ?? '0.0.0.0', interfaces, tls });
  const url = urlFor(o.port);
  if (dhtHost !== null) checkReachable({ url, dhtHost, bootstrap: o.bootstrap });
  return { dhtHost, urlFor };
}

function unbracket(host: string): string {
  return host.startsWith('[') && host.endsWith(']') ? host.slice(1, -1) : host;
}
