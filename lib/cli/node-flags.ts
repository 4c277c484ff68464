/**
 * Node.js flags every hashpub node process runs with: `npm start`, the `hashpub` command's shebang, the children
 * of `hashpub cluster` and the benchmarks all pass these (a process embedding createNode picks its own).
 *
 * --max-semi-space-size=8 (MB): V8's young generation grows to 2 x 16 MB by default once a process allocates fast
 * (a fan-out burst, a reconnect herd) and keeps it. A node's long-lived state (sockets, sessions) is old-generation;
 * what is young is the short-lived garbage of writes, and a smaller nursery is scavenged sooner, with less to copy.
 * Measured at 19,000 idle subscribers on one node (bench/results/single-node-2026-12-03-semi-*.json and -tick-*.json,
 * 3 runs each against the default): RSS per connection 4.7-5.2 KB instead of 5.5-6.0 KB (16 MB less per node), the
 * burst's longest loop block 29-56 ms instead of 37-66 ms, CPU per delivery unchanged or lower. 4 and 2 MB gave no
 * further gain.
 */
export const NODE_FLAGS: readonly string[] = ['--max-semi-space-size=8'];
