import dgram from 'node:dgram';
import net from 'node:net';
import { networkInterfaces } from 'node:os';
import DHT from 'hyperdht';
import { OptionsError } from '../errors.js';
import { bootstrapPublicHost, type Interfaces } from './addresses.js';

/** A running DHT bootstrap node (what `hashpub bootstrap` runs): cluster nodes find each other through it. */
export interface Bootstrap {
  /** The address it advertises, which nodes pass as --bootstrap HOST:PORT (never 0.0.0.0). */
  host: string;
  /** The address its socket is bound to (0.0.0.0 = every address). */
  bindHost: string;
  /** The UDP port it is bound to. */
  port: number;
  /** Stops it and releases its sockets. */
  close(): Promise<void>;
}

/** hyperdht's conventional ports, tried in order when no port is given. */
const DEFAULT_PORTS = [49737, 49738, 49739, 49740, 49741];

/** Where a bootstrap's address comes from when it binds 0.0.0.0. */
export interface BootstrapAddressOptions {
  /** The one IPv4 address nodes dial (the DHT identity is derived from it); null = derived. @default null */
  publicHost?: string | null;
  /** The machine's interfaces (tests). @default os.networkInterfaces() */
  interfaces?: Interfaces;
}

/**
 * Starts a DHT bootstrap node on `host:port` (an IPv4 address, loopback by default; 0.0.0.0 binds every
 * address and advertises `publicHost`, or the machine's only external IPv4 address). Port 0 tries
 * 49737-49741, then a random free port; the answer holds the port actually bound.
 */
export async function startBootstrap(host = '127.0.0.1', port = 0, opts: BootstrapAddressOptions = {}): Promise<Bootstrap> {
  if (!net.isIPv4(host)) {
    throw new OptionsError('bootstrap.host', `must be an IPv4 address (0.0.0.0 = every address; the DHT is IPv4 only), got ${host}`);
  }
  // The DHT identity of a bootstrap is derived from the address it advertises: a wildcard bind still needs one.
  let advertised: string;
  try {
    advertised = bootstrapPublicHost(host, opts.publicHost ?? null, opts.interfaces ?? networkInterfaces());
  } catch (err) {
    if (err instanceof OptionsError) throw new OptionsError(`bootstrap.${err.field}`, err.message.slice(err.field.length + 2));
    throw err;
  }
  if (!Number.isInteger(port) || port < 0 || port > 65535) {
    throw new OptionsError('bootstrap.port', `must be an integer in 0..65535, got ${port}`);
  }
  // A hyperdht bootstrapper that fails to bind leaks a native handle (the process never exits), so every
  // port is probed with a plain UDP socket first; only a port taken between probe and bind can still fail.
  const candidates = port !== 0 ? [port] : DEFAULT_PORTS;
  for (const p of candidates) {
    const why = await udpBindError(host, p);
    if (why === null) return open(host, advertised, p);
    if (port !== 0 || why.code !== 'EADDRINUSE') {
      throw Object.assign(new Error(`bootstrap: cannot bind UDP ${host}:${p}: ${why.message}`), { code: why.code });
    }
  }
  let lastError: unknown;
  for (let attempt = 0; attempt < 5; attempt++) {
    const p = await freeUdpPort(host);
    try {
      return await open(host, advertised, p);
    } catch (err) {
      lastError = err;
    }
  }
  throw new Error('bootstrap: could not bind a free UDP port', { cause: lastError });
}

async function open(bindHost: string, host: string, port: number): Promise<Bootstrap> {
  const dht = DHT.bootstrapper(port, host, { host: bindHost });
  try {
    await dht.ready();
  } catch (err) {
    await dht.destroy().catch(() => {});
    throw err;
  }
  let closing: Promise<void> | null = null;
  return {
    host,
    bindHost,
    port: dht.address()?.port ?? port,
    close: () => (closing ??= dht.destroy()),
  };
}

/**
 * Why a UDP socket cannot bind `host:port` right now (EADDRINUSE, EADDRNOTAVAIL, ...), or null if it can.
 * hyperdht sockets that fail to bind leak native handles and reject in the background, so callers probe first.
 */
export function udpBindError(host: string, port: number): Promise<NodeJS.ErrnoException | null> {
  return new Promise((resolve) => {
    const sock = dgram.createSocket('udp4');
    sock.once('error', (err) => {
      closeQuietly(sock);
      resolve(err);
    });
    sock.bind({ port, address: host, exclusive: true }, () => {
      sock.close(() => resolve(null));
    });
  });
}

/** A UDP port the OS considers free on `host`. */
function freeUdpPort(host: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const sock = dgram.createSocket('udp4');
    sock.once('error', (err) => {
      closeQuietly(sock);
      reject(err);
    });
    sock.bind({ port: 0, address: host, exclusive: true }, () => {
      const { port } = sock.address();
      sock.close(() => resolve(port));
    });
  });
}

function closeQuietly(sock: dgram.Socket): void {
  try {
    sock.close();
  } catch {
    // never bound: nothing to close
  }
}
