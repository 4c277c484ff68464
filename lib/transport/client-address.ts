// The address a client request comes from, for the connect hook's `ip` and per-address limits. Behind a
// reverse proxy the socket's peer is the proxy; the proxy names the client in X-Forwarded-For. That header is
// believed only when the direct peer is one of `--trusted-proxies`, and only as far as the chain of trusted
// hops goes: anyone can put anything on the left of the header, so it is read from the right.
import type { IncomingMessage } from 'node:http';
import net from 'node:net';
import { OptionsError } from '../errors.js';

/** The set of proxy addresses (IPs and CIDR ranges, IPv4 and IPv6) whose X-Forwarded-For is believed. */
export class TrustedProxies {
  private readonly list = new net.BlockList();
  /** True when no proxy is trusted (X-Forwarded-For is never read). */
  readonly empty: boolean;

  /** Parses entries such as "10.0.0.1", "10.0.0.0/8", "::1", "fd00::/8"; throws OptionsError (trustedProxies). */
  constructor(entries: readonly string[]) {
    for (const raw of entries) {
      const entry = raw.trim();
      const slash = entry.indexOf('/');
      const ip = slash === -1 ? entry : entry.slice(0, slash);
      const family = net.isIPv4(ip) ? 'ipv4' : net.isIPv6(ip) ? 'ipv6' : null;
      if (family === null) throw new OptionsError('trustedProxies', `"${raw}" is not an IP address or CIDR range (e.g. 10.0.0.1 or 10.0.0.0/8)`);
      if (slash === -1) {
        this.list.addAddress(ip, family);
        continue;
      }
      const bitsText = entry.slice(slash + 1);
      const bits = Number(bitsText);
      if (!/^\d{1,3}$/.test(bitsText) || bits > (family === 'ipv4' ? 32 : 128)) {
        throw new OptionsError('trustedProxies', `"${raw}" has a bad prefix length (IPv4 0-32, IPv6 0-128)`);
      }
      this.list.addSubnet(ip, bits, family);
    }
    this.empty = entries.length === 0;
  }

  /** True when `address` (as a socket reports it, IPv4-mapped IPv6 included) is a trusted proxy. */
  has(address: string): boolean {
    if (this.empty) return false;
    const a = plainAddress(address);
    if (net.isIPv4(a)) return this.list.check(a, 'ipv4');
    if (net.isIPv6(a)) return this.list.check(a, 'ipv6');
    return false;
  }
}

/** "::ffff:10.0.0.1" -> "10.0.0.1" (how a dual-stack socket reports an IPv4 peer); others unchanged. */
export function plainAddress(address: string): string {
  const m = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(address);
  return m ? m[1]! : address;
}

/**
 * One X-Forwarded-For entry as an address, or null when it is not one. Accepts what proxies write:
 * "1.2.3.4", "1.2.3.4:5678", "2001:db8::1", "[2001:db8::1]" and "[2001:db8::1]:5678".
 */
export function forwardedAddress(entry: string): string | null {
  let e = entry.trim();
  const bracket = /^\[([^\]]+)\](?::\d+)?$/.exec(e);
  if (bracket) e = bracket[1]!;
  else if (/^\d+\.\d+\.\d+\.\d+:\d+$/.test(e)) e = e.slice(0, e.lastIndexOf(':'));
  return net.isIP(e) ? plainAddress(e) : null;
}

/**
 * The client address of a request: the socket's peer, unless that peer is a trusted proxy; then the
 * X-Forwarded-For chain is walked from the right, skipping trusted hops, and the first hop that is not a
 * trusted proxy is the client. A malformed entry ends the walk at the last address known to be sound (the
 * proxy that forwarded it). An empty string when the socket has no peer address (already closed).
 */
export function clientAddress(req: IncomingMessage, trusted: TrustedProxies): string {
  const peer = plainAddress(req.socket.remoteAddress ?? '');
  if (!trusted.has(peer)) return peer;
  const header = req.headers['x-forwarded-for'];
  if (header === undefined) return peer;
  const hops = (Array.isArray(header) ? header.join(',') : header).split(',');
  let client = peer;
  for (let i = hops.length - 1; i >= 0; i--) {
    const hop = forwardedAddress(hops[i]!);
    if (hop === null) return client;
    client = hop;
    if (!trusted.has(hop)) return hop;
  }
  return client;
}
