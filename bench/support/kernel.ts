import { readFileSync } from 'node:fs';

/** Kernel memory that grows with sockets: TCP buffer pages (/proc/net/sockstat) and the slab (/proc/meminfo). */
export function kernel(): { tcpMemBytes: number; slabBytes: number; availableBytes: number; tcpInUse: number } {
  const sockstat = readFileSync('/proc/net/sockstat', 'utf8');
  const tcp = /TCP: inuse (\d+) .* mem (\d+)/.exec(sockstat);
  const meminfo = readFileSync('/proc/meminfo', 'utf8');
  const kb = (k: string) => Number(new RegExp(`^${k}:\\s+(\\d+) kB`, 'm').exec(meminfo)?.[1] ?? 0) * 1024;
  return { tcpMemBytes: Number(tcp?.[2] ?? 0) * 4096, slabBytes: kb('Slab'), availableBytes: kb('MemAvailable'), tcpInUse: Number(tcp?.[1] ?? 0) };
}
