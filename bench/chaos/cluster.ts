/**
 * The seam between the chaos harness and whatever runs the nodes: the nemesis, generator and subscribers talk
 * to a ClusterControl, never to child_process. Implementations: process-cluster.ts (CLI processes on loopback)
 * and host-cluster.ts (`--hosts`: one CLI node per network namespace of a virtual LAN), which adds LinkFaults
 * for cutting and healing a node's link.
 */

/**
 * `up`: running; `paused`: SIGSTOPped (still listening, answers nothing); `down`: killed, not restarted yet;
 * `cut`: running, its cluster link down (LinkFaults): clients still reach it, the other nodes do not.
 */
export type NodeState = 'up' | 'paused' | 'down' | 'cut';

/** One node as the harness sees it. */
export interface ChaosNode {
  /** Stable position 0..N-1 (the same across restarts). */
  readonly index: number;
  /** Base URL of its HTTP API (the same across restarts). */
  readonly url: string;
  /** Its node id (GET /v1/cluster `self`); a restart with `--data :memory:` gives a new one. */
  readonly id: string;
  readonly state: NodeState;
}

export interface ClusterControl {
  /** Name of the implementation, recorded in the result's settings ("processes" or "hosts"). */
  readonly mode: string;
  /** The API key every node was started with. */
  readonly apiKey: string;
  /** The JWT secret every node was started with (client tokens). */
  readonly jwtSecret: string;
  /** Every node, by index, in the state the nemesis left it. */
  nodes(): readonly ChaosNode[];
  /** Starts the DHT bootstrap and every node; resolves once every node lists all of them. */
  start(): Promise<void>;
  /** kill -9 of node `i`; resolves once the process is gone. */
  kill(i: number): Promise<void>;
  /** Starts node `i` again on the same data dir and address; resolves once its /healthz answers 200. */
  restart(i: number): Promise<void>;
  /** SIGSTOP of node `i`. */
  pause(i: number): Promise<void>;
  /** SIGCONT of node `i`. */
  resume(i: number): Promise<void>;
  /** Resolves with the ms waited once every `up` node's GET /v1/cluster lists exactly the `up` nodes (a cut node is not `up`); rejects after `ms`. */
  converge(ms: number): Promise<number>;
  /** Stops every process (SIGCONT first for paused ones) and removes the data dirs. */
  stop(): Promise<void>;
}

/** Optional capability of a cluster on a virtual LAN: cut and heal one node's network link. */
export interface LinkFaults {
  /** Cuts node `i` off the LAN (it keeps running, state `cut`). */
  cut(i: number): Promise<void>;
  /** Restores node `i`'s link (state `up`). */
  heal(i: number): Promise<void>;
}

/** True when the cluster can cut links (the `partition` fault needs it). */
export function hasLinkFaults(c: ClusterControl): c is ClusterControl & LinkFaults {
  return typeof (c as Partial<LinkFaults>).cut === 'function' && typeof (c as Partial<LinkFaults>).heal === 'function';
}

/**
 * The nodes a client could reach right now: started and not killed (a paused node accepts connections but
 * answers nothing; a cut node answers its clients, as a partitioned node does for clients on its side).
 */
export function reachable(c: ClusterControl): ChaosNode[] {
  return c.nodes().filter((n) => n.state !== 'down');
}

/** The nodes that are running. */
export function upNodes(c: ClusterControl): ChaosNode[] {
  return c.nodes().filter((n) => n.state === 'up');
}
