/** The public face of a running node (what createNode() returns); lib/node.ts implements it. */
export interface HashpubNode {
  /** Node id: hex hyperswarm public key in a cluster, a random hex id otherwise. */
  readonly id: string;
  /** Base HTTP URL, e.g. http://127.0.0.1:8080 (known after start()). */
  readonly url: string;
  /** The REST API key in use (given or generated). */
  readonly apiKey: string;
  /** The HS256 client-token secret in use (given or generated). */
  readonly jwtSecret: string;
  /** Secrets that were generated on this start (first start of a data dir); printed by the CLI. */
  readonly generated: ReadonlyArray<'apiKey' | 'jwtSecret' | 'secret'>;
  /** "HOST:PORT" of the DHT bootstrap other nodes pass as --bootstrap (the in-process one when none was given); null without a cluster. */
  readonly bootstrap: string | null;
  /**
   * Reads --api-keys again and swaps the accepted keys at once (the CLI calls it on SIGHUP); resolves to the
   * number of keys. A bad file rejects and leaves the keys as they were.
   */
  reloadApiKeys(): Promise<number>;
  /** Opens storage, binds the port, joins the cluster; resolves when /healthz answers 200. */
  start(): Promise<void>;
  /** Closes client connections (clients may resume elsewhere), leaves the cluster, closes storage. */
  stop(): Promise<void>;
}
