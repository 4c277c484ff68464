// Asks the operating system whether anything still listens at a peer's UDP address. A process killed with
// SIGKILL loses its sockets at once and the peer's host answers a datagram with ICMP "port unreachable", which
// a connected UDP socket reports as ECONNREFUSED; a process that is merely stopped or busy keeps its socket, and
// its host stays silent. This is the one signal that tells a crashed node from a stalled one before the stall
// ends. The probe sends empty datagrams, which hyperdht and udx ignore (hyperdht sends the same itself).
import { createSocket } from 'node:dgram';
import { isIPv6 } from 'node:net';

/** A peer's UDP address (its hyperswarm stream's remote end). */
export interface PeerAddress {
  host: string;
  port: number;
}

/** Resolves true if `address` refused a datagram within `waitMs` (nothing listens there), else false. */
export type PortProbe = (address: PeerAddress, waitMs: number) => Promise<boolean>;

const EMPTY = Buffer.alloc(0);

/** The real probe: two empty datagrams from a fresh connected UDP socket, refused if an ICMP error comes back. */
export const probePort: PortProbe = ({ host, port }, waitMs) => new Promise((resolve) => {
  const socket = createSocket(isIPv6(host) ? 'udp6' : 'udp4');
  let done = false;
  const timers: NodeJS.Timeout[] = [];
  const finish = (refused: boolean): void => {
    if (done) return;
    done = true;
    for (const t of timers) clearTimeout(t);
    try { socket.close(); } catch { /* already closed */ }
    resolve(refused);
  };
  socket.on('error', (err: NodeJS.ErrnoException) => finish(err.code === 'ECONNREFUSED'));
  const later = (ms: number, fn: () => void): void => {
    const t = setTimeout(fn, ms);
    t.unref();
    timers.push(t);
  };
  const send = (): void => {
    if (!done) socket.send(EMPTY, (err) => { if (err) finish((err as NodeJS.ErrnoException).code === 'ECONNREFUSED'); });
  };
  later(waitMs, () => finish(false));
  try {
    socket.connect(port, host, () => {
      send();
      later(waitMs / 2, send); // a second try, in case the first was lost
    });
  } catch {
    finish(false);
  }
});
