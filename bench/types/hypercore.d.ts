// Minimal ambient declarations for the parts of hypercore 11 and corestore 7 that bench/replication-choice.ts
// uses (the packages ship no types). Bench-only: lib/ does not depend on them.

declare module 'hypercore' {
  import type { EventEmitter } from 'node:events'

  namespace Hypercore {
    /** An Ed25519 key pair (the writer's signing key of a core). */
    interface KeyPair {
      publicKey: Buffer
      secretKey: Buffer | null
    }
    /** One replication peer of a core. */
    interface Peer {
      readonly remoteContiguousLength: number
      readonly remoteLength: number
      readonly remoteFork: number
    }
  }

  class Hypercore extends EventEmitter {
    readonly key: Buffer
    readonly discoveryKey: Buffer
    readonly keyPair: Hypercore.KeyPair | null
    readonly writable: boolean
    readonly length: number
    readonly fork: number
    readonly contiguousLength: number
    /** Max contiguous length a remote peer announced (durable in its storage). */
    readonly remoteContiguousLength: number
    readonly peers: Hypercore.Peer[]
    ready(): Promise<void>
    append(blocks: Buffer | Buffer[]): Promise<{ length: number; byteLength: number }>
    truncate(newLength: number, opts?: { fork?: number }): Promise<void>
    get(index: number, opts?: { wait?: boolean; timeout?: number }): Promise<Buffer | null>
    download(range?: { start?: number; end?: number }): { done(): Promise<void>; destroy(): void }
    update(opts?: { wait?: boolean }): Promise<boolean>
    close(): Promise<void>
  }

  export = Hypercore
}

declare module 'corestore' {
  import type { EventEmitter } from 'node:events'
  import type Hypercore from 'hypercore'

  class Corestore extends EventEmitter {
    constructor(storage: string, opts?: { primaryKey?: Buffer; writable?: boolean })
    ready(): Promise<void>
    get(opts: { name?: string; key?: Buffer; keyPair?: Hypercore.KeyPair; exclusive?: boolean; writable?: boolean } | Buffer): Hypercore
    createKeyPair(name: string): Promise<Hypercore.KeyPair>
    /** A replication stream for every core (present and future) of the store; pipe it to the other side's. */
    replicate(isInitiator: boolean): NodeJS.ReadWriteStream
    /** Attaches every core (present and future) of the store to an existing encrypted stream. */
    replicate(stream: object): unknown
    close(): Promise<void>
  }

  export = Corestore
}
