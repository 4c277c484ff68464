// A virtual LAN for cluster tests: Linux network namespaces ("hosts") on bridges in the root namespace.
// Needs root (CAP_NET_ADMIN) and iproute2; it throws when it cannot build the LAN, it never skips.
//
//   root namespace (the test process)
//     bridge <id>c  10.C.B.1/24   cluster network: node-to-node traffic; cut()/heal() take a host's link down/up
//     bridge <id>m  10.M.B.1/24   control network: the test process talks to hosts here; never cut
//   netns <id>b     eth0 10.C.B.2             the bootstrap host (cluster network only)
//   netns <id>h<i>  eth0 10.C.B.(i+3), eth1 10.M.B.(i+3)
//
// Names carry the creating pid (<id> = "hpv" + pid base 36 + "-" + counter), so a later run removes what a
// crashed run left behind, and several runs side by side never touch each other's namespaces, links or subnets.
import { execFileSync, spawnSync } from 'node:child_process';

/** Options of createVirtualLan(). */
export interface VirtualLanOptions {
  /** Number of hosts (besides the bootstrap host). */
  hosts: number;
}

/** One host of the LAN: a network namespace with a cluster and a control address. */
export interface LanHost {
  /** 0-based index. */
  index: number;
  /** Network namespace name (`ip netns exec <netns> ...`). */
  netns: string;
  /** Address on the cluster network (what nodes bind and advertise). */
  address: string;
  /** Address on the control network (always reachable from the test process). */
  control: string;
  /** Root-side veth of the cluster link (what cut()/heal() switch). */
  link: string;
}

/** A running virtual LAN. */
export interface VirtualLan {
  /** Prefix of every namespace and link of this LAN. */
  readonly id: string;
  /** The bootstrap host (cluster network only, index -1). */
  readonly bootstrapHost: LanHost;
  readonly hosts: readonly LanHost[];
  /** Takes host i's cluster link down: it can reach no other host (the control link stays up). */
  cut(i: number): void;
  /** Brings host i's cluster link back up. */
  heal(i: number): void;
  /** True while host i's cluster link is down. */
  isCut(i: number): boolean;
  /** argv that runs `argv` inside `host`, killed with SIGKILL if the test process dies (setpriv --pdeathsig). */
  command(host: LanHost, argv: string[]): [file: string, args: string[]];
  /** Kills every process in the LAN's namespaces and deletes namespaces, links and bridges. Idempotent. */
  close(): void;
}

const PREFIX = 'hpv';
/** <id> then what: "c"/"m" bridges, "cb"/"c<i>"/"m<i>" veths, "b"/"h<i>" namespaces. */
const NAME = /^(hpv([0-9a-z]+)-\d+)[a-z]/;
const BRIDGE = /^hpv[0-9a-z]+-\d+[cm]$/;
const live = new Set<VirtualLanImpl>();
let counter = 0;
let hooked = false;

/** Builds a LAN of `hosts` namespaces plus a bootstrap host; removes leftovers of crashed runs first. */
export function createVirtualLan(options: VirtualLanOptions): VirtualLan {
  const n = options.hosts;
  if (!Number.isInteger(n) || n < 1 || n > 200) throw new RangeError(`hosts must be 1..200, got ${n}`);
  if (process.platform !== 'linux') throw new Error('createVirtualLan: needs Linux network namespaces');
  cleanupStale();
  const id = `${PREFIX}${process.pid.toString(36)}-${counter++}`;
  const [cluster, control] = freeSubnets();
  const lan = new VirtualLanImpl(id, cluster, control, n);
  live.add(lan);
  hookExit();
  try {
    lan.build();
  } catch (err) {
    lan.close();
    throw err;
  }
  return lan;
}

class VirtualLanImpl implements VirtualLan {
  readonly bootstrapHost: LanHost;
  readonly hosts: LanHost[];
  private readonly cutLinks = new Set<number>();
  private closed = false;

  constructor(readonly id: string, private readonly cluster: string, private readonly control: string, n: number) {
    this.bootstrapHost = { index: -1, netns: `${id}b`, address: `${cluster}.2`, control: '', link: `${id}cb` };
    this.hosts = Array.from({ length: n }, (_, i) => ({
      index: i, netns: `${id}h${i}`, address: `${cluster}.${i + 3}`, control: `${control}.${i + 3}`, link: `${id}c${i}`,
    }));
  }

  build(): void {
    const { id } = this;
    const root = [
      `link add ${id}c type bridge`, `addr add ${this.cluster}.1/24 dev ${id}c`, `link set ${id}c up`,
      `link add ${id}m type bridge`, `addr add ${this.control}.1/24 dev ${id}m`, `link set ${id}m up`,
    ];
    for (const h of [this.bootstrapHost, ...this.hosts]) {
      root.push(`netns add ${h.netns}`,
        `link add ${h.link} type veth peer name eth0 netns ${h.netns}`, `link set ${h.link} master ${id}c up`);
      if (h.control) {
        root.push(`link add ${id}m${h.index} type veth peer name eth1 netns ${h.netns}`, `link set ${id}m${h.index} master ${id}m up`);
      }
    }
    ipBatch(root);
    for (const h of [this.bootstrapHost, ...this.hosts]) {
      const inside = ['link set lo up', `addr add ${h.address}/24 dev eth0`, 'link set eth0 up'];
      if (h.control) inside.push(`addr add ${h.control}/24 dev eth1`, 'link set eth1 up');
      ipBatch(inside, h.netns);
    }
  }

  private host(i: number): LanHost {
    const h = this.hosts[i];
    if (!h) throw new RangeError(`no host ${i} (the LAN has ${this.hosts.length})`);
    return h;
  }

  cut(i: number): void {
    ip(['link', 'set', this.host(i).link, 'down']);
    this.cutLinks.add(i);
  }

  heal(i: number): void {
    ip(['link', 'set', this.host(i).link, 'up']);
    this.cutLinks.delete(i);
  }

  isCut(i: number): boolean {
    this.host(i);
    return this.cutLinks.has(i);
  }

  command(host: LanHost, argv: string[]): [string, string[]] {
    return ['ip', ['netns', 'exec', host.netns, 'setpriv', '--pdeathsig', 'KILL', ...argv]];
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    live.delete(this);
    removeAll((id) => id === this.id);
  }
}

/** Runs `ip args...`; throws with ip's stderr. */
function ip(args: string[]): void {
  const r = spawnSync('ip', args, { encoding: 'utf8' });
  if (r.error || r.status !== 0) {
    throw new Error(`virtual LAN: \`ip ${args.join(' ')}\` failed: ${r.error?.message ?? r.stderr.trim()} ` +
      '(network namespaces need root and iproute2)');
  }
}

/** Runs ip commands in one process (`ip [-n netns] -batch -`); throws naming the failing command. */
function ipBatch(lines: string[], netns?: string): void {
  const args = [...(netns ? ['-n', netns] : []), '-batch', '-'];
  const r = spawnSync('ip', args, { input: `${lines.join('\n')}\n`, encoding: 'utf8' });
  if (r.error || r.status !== 0) {
    throw new Error(`virtual LAN: \`ip ${args.join(' ')}\` failed: ${r.error?.message ?? r.stderr.trim()} ` +
      '(network namespaces need root and iproute2)');
  }
}

/** Names of this machine's namespaces and root-namespace links. */
function inventory(): { netns: string[]; links: string[] } {
  const out = (args: string[]) => {
    try {
      return execFileSync('ip', args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] });
    } catch {
      return '';
    }
  };
  const netns = out(['netns', 'list']).split('\n').map((l) => l.split(' ')[0]!).filter(Boolean);
  const links = out(['-o', 'link', 'show']).split('\n').map((l) => /^\d+:\s*([^:@\s]+)/.exec(l)?.[1]).filter((x): x is string => !!x);
  return { netns, links };
}

/** The LAN id a namespace or link name belongs to, and the pid of the process that made it. */
function owner(name: string): { id: string; pid: number } | null {
  const m = NAME.exec(name);
  return m ? { id: m[1]!, pid: parseInt(m[2]!, 36) } : null;
}

/** Kills every process in the namespaces of the LANs `which` selects, then deletes them, their links and bridges. */
function removeAll(which: (id: string) => boolean): void {
  const { netns, links } = inventory();
  const ours = (name: string) => {
    const o = owner(name);
    return o !== null && which(o.id);
  };
  const spaces = netns.filter(ours);
  for (const ns of spaces) {
    let pids: number[] = [];
    try {
      pids = execFileSync('ip', ['netns', 'pids', ns], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] })
        .split('\n').map(Number).filter((p) => p > 0);
    } catch { /* namespace already gone */ }
    for (const pid of pids) {
      try { process.kill(pid, 'SIGKILL'); } catch { /* already gone */ }
    }
  }
  // Veths first (deleting the root side deletes its peer in the namespace), then bridges, then namespaces.
  const mine = links.filter(ours);
  const lines = [...mine.filter((l) => !BRIDGE.test(l)), ...mine.filter((l) => BRIDGE.test(l))].map((l) => `link del ${l}`);
  lines.push(...spaces.map((n) => `netns del ${n}`));
  if (lines.length) spawnSync('ip', ['-force', '-batch', '-'], { input: `${lines.join('\n')}\n`, encoding: 'utf8' });
}

/** Removes namespaces and links of runs whose process is gone (a crash or a kill -9 of the test process). */
export function cleanupStale(): void {
  const { netns, links } = inventory();
  const dead = new Set<string>();
  for (const name of [...netns, ...links]) {
    const o = owner(name);
    if (o && o.pid !== process.pid && !alive(o.pid)) dead.add(o.id);
  }
  if (dead.size) removeAll((id) => dead.has(id));
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** Two /24 prefixes ("10.C.B") not used by any interface of this machine, derived from the pid. */
function freeSubnets(): [string, string] {
  let used = '';
  try {
    used = execFileSync('ip', ['-4', '-o', 'addr', 'show'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] });
  } catch { /* no addresses listed: every subnet is free */ }
  const taken = (p: string) => used.includes(` ${p}.`);
  for (let k = 0; k < 250; k++) {
    const b = (process.pid + counter * 7 + k) % 250 + 1;
    const cluster = `10.201.${b}`;
    const control = `10.202.${b}`;
    if (!taken(cluster) && !taken(control)) return [cluster, control];
  }
  throw new Error('virtual LAN: no free subnet in 10.201.0.0/16');
}

/** Tears every live LAN down when the process exits or is interrupted (SIGKILL is handled by cleanupStale next run). */
function hookExit(): void {
  if (hooked) return;
  hooked = true;
  const closeAll = () => {
    for (const lan of [...live]) lan.close();
  };
  process.on('exit', closeAll);
  // An interrupted test run exits through process.exit, so every 'exit' listener (LANs, data dirs) runs.
  for (const [sig, code] of [['SIGINT', 130], ['SIGTERM', 143], ['SIGHUP', 129]] as const) {
    process.once(sig, () => {
      closeAll();
      process.exit(code);
    });
  }
}
