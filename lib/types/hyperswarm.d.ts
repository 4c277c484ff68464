// Minimal ambient declarations for the parts of hyperswarm and hyperdht that hashpub uses.
// The packages ship no types; only what lib/cluster calls is declared here.

declare module 'hyperdht' {
  import type { EventEmitter } from 'node:events'

  namespace HyperDHT {
    /** An Ed25519 key pair: the public key is a node's identity. */
    interface KeyPair {
      publicKey: Buffer
      secretKey: Buffer
    }
    /** A DHT node address. */
    interface HostPort {
      host: string
      port: number
    }
    /** Options of `new HyperDHT()`; `bootstrap` must always be given (else the public DHT is used). */
    interface DHTOptions {
      bootstrap: HostPort[] | string[]
      host?: string
      /** One port, or [from, to) tried in order. */
      port?: number | [number, number]
      ephemeral?: boolean
      firewalled?: boolean
      anyPort?: boolean
      keyPair?: KeyPair
    }
  }

  class HyperDHT extends EventEmitter {
    constructor(opts: HyperDHT.DHTOptions)
    /** A DHT bootstrap node advertising host:port (never 0.0.0.0); `opts.host` binds the socket (may be 0.0.0.0). */
    static bootstrapper(port: number, host: string, opts?: Partial<HyperDHT.DHTOptions>): HyperDHT
    static keyPair(seed?: Buffer): HyperDHT.KeyPair
    static hash(data: Buffer): Buffer
    readonly destroyed: boolean
    ready(): Promise<void>
    fullyBootstrapped(): Promise<void>
    address(): { host: string; family: number; port: number } | null
    destroy(opts?: { force?: boolean }): Promise<void>
  }

  export = HyperDHT
}

declare module 'hyperdht/testnet.js' {
  import type HyperDHT from 'hyperdht'

  namespace createTestnet {
    /** An in-process DHT of `size` nodes. */
    interface Testnet {
      nodes: HyperDHT[]
      bootstrap: Array<{ host: string; port: number }>
      destroy(): Promise<void>
    }
  }
  function createTestnet(size?: number, opts?: { host?: string; port?: number }): Promise<createTestnet.Testnet>
  export = createTestnet
}

declare module 'hyperswarm' {
  import type { EventEmitter } from 'node:events'
  import type { Duplex } from 'node:stream'
  import type HyperDHT from 'hyperdht'

  namespace Hyperswarm {
    /** The Noise-encrypted stream to one peer (@hyperswarm/secret-stream, a streamx Duplex). */
    interface Connection extends Pick<Duplex, 'on' | 'once' | 'off' | 'removeListener'> {
      readonly publicKey: Buffer
      readonly remotePublicKey: Buffer
      readonly isInitiator: boolean
      readonly destroyed: boolean
      rawBytesRead: number
      rawBytesWritten: number
      /** The UDX stream underneath, once connected: its remote end is the peer's UDP socket. */
      readonly rawStream: { remoteHost: string | null; remotePort: number } | null
      write(data: Buffer): boolean
      /** Sends an unordered, unacknowledged datagram, encrypted with the stream's keys (UDX streams only). */
      trySend?(data: Buffer): void
      end(): void
      destroy(err?: Error): void
      setKeepAlive(ms: number): void
      setTimeout(ms: number): void
    }
    /** What hyperswarm knows about a peer. */
    interface PeerInfo {
      publicKey: Buffer
      client: boolean
      banned: boolean
    }
    /** The handle `join()` returns. */
    interface PeerDiscoverySession {
      flushed(): Promise<void>
      refresh(opts?: { client?: boolean; server?: boolean }): Promise<void>
      destroy(): Promise<void>
    }
    /** Options of `new Hyperswarm()`; `dht` must always be given (else the public DHT is used). */
    interface SwarmOptions {
      dht: HyperDHT
      keyPair?: HyperDHT.KeyPair
      maxPeers?: number
      /** Reconnect delays (ms) after 1, 2, 3 and more failed attempts; the last repeats for explicit peers. */
      backoffs?: [number, number, number, number]
    }
  }

  class Hyperswarm extends EventEmitter {
    constructor(opts: Hyperswarm.SwarmOptions)
    readonly keyPair: HyperDHT.KeyPair
    readonly dht: HyperDHT
    readonly connections: Set<Hyperswarm.Connection>
    /** Every peer this swarm knows of (discovered, dialled or connected), by public key in hex. */
    readonly peers: Map<string, { attempts: number }>
    readonly destroyed: boolean
    join(topic: Buffer, opts?: { server?: boolean; client?: boolean }): Hyperswarm.PeerDiscoverySession
    leave(topic: Buffer): Promise<void>
    /** Keeps (re)connecting to this public key directly, whatever discovery finds. */
    joinPeer(publicKey: Buffer): void
    leavePeer(publicKey: Buffer): void
    flush(): Promise<boolean>
    destroy(opts?: { force?: boolean }): Promise<void>
    on(event: 'connection', listener: (conn: Hyperswarm.Connection, info: Hyperswarm.PeerInfo) => void): this
    on(event: string, listener: (...args: any[]) => void): this
  }

  export = Hyperswarm
}
