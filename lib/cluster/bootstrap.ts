import dgram from 'node:dgram';
import net from 'node:net';
import DHT from 'hyperdht';
import { OptionsError } from '../errors.js';

/** A running DHT bootstrap node (what `hashpub bootstrap` runs): cluster nodes find each other through it. */
export interface Bootstrap {
  /** The address it is bound to and advertises. */
  host: string;
  /** The UDP port it is bound to. */
  port: number;
  /** Stops it and releases its sockets. */
  close(): Promise<void>;
}

/** hyperdht's conventional ports, tried in order when no port is given. */
const DEFAULT_PORTS = [49737, 49738, 49739, 49740, 49741];

/**
 * Starts a DHT bootstrap node on `host:port` (an IPv4 address, loopback by default). Port 0 tries
 * 49737-49741, then a random free port; the answer holds the port actually bound.
 */
export async function startBootstrap(host = '127.0.0.1', port = 0): Promise<Bootstrap> {
  if (!net.isIPv4(host) || host === '0.0.0.0') {
    throw new OptionsError('bootstrap.host', `must be one IPv4 address (not 0.0.0.0, not IPv6), got ${host}`);
  }
  if (!Number.isInteger(port) || port < 0 || port > 65535) {
    throw new OptionsError('bootstrap.port', `must be an integer in 0..65535, got ${port}`);
  }
  // A hyperdht bootstrapper that fails to bind leaks a native handle (the process never exits), so every
  // port is probed with a plain UDP socket first; only a port taken between probe and bind can still fail.
  const candidates = port !== 0 ? [port] : DEFAULT_PORTS;
  for (const p of candidates) {
    if (await udpPortFree(host, p)) return open(host, p);
  }
  if (port !== 0) {
    throw Object.assign(new Error(`bootstrap: UDP port ${host}:${port} is in use`), { code: 'EADDRINUSE' });
  }
  let lastError: unknown;
  for (let attempt = 0; attempt < 5; attempt++) {
    const p = await freeUdpPort(host);
    try {
      return await open(host, p);
    } catch (err) {
      lastError = err;
    }
  }
  throw new Error('bootstrap: could not bind a free UDP port', { cause: lastError });
}

async function open(host: string, port: number): Promise<Bootstrap> {
  const dht = DHT.bootstrapper(port, host, { host });
  try {
    await dht.ready();
  } catch (err) {
    await dht.destroy().catch(() => {});
    throw err;
  }
  let closing: Promise<void> | null = null;
  return {
    host,
    port: dht.address()?.port ?? port,
    close: () => (closing ??= dht.destroy()),
  };
}

/** True if a UDP socket can bind `host:port` right now. */
function udpPortFree(host: string, port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const sock = dgram.createSocket('udp4');
    sock.once('error', () => {
      closeQuietly(sock);
      resolve(false);
    });
    sock.bind({ port, address: host, exclusive: true }, () => {
      sock.close(() => resolve(true));
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
