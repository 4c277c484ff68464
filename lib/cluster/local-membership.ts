import { randomBytes } from 'node:crypto';
import { EventEmitter } from 'node:events';
import type { FrameHandler, Membership, MembershipEvents } from './membership.js';

/** Options of a single-node membership. */
export interface LocalMembershipOptions {
  /** This node's HTTP URL, as `urlOf(self)` answers it. */
  url: string;
  /** This node's id. @default 64 random hex digits (the shape of a hyperswarm public key) */
  id?: string;
}

/** A cluster of one: this node is the only member, nothing is ever sent or received. */
export class LocalMembership extends EventEmitter<MembershipEvents> implements Membership {
  /** This node's id. */
  readonly self: string;
  private readonly url: string;

  constructor(opts: LocalMembershipOptions) {
    super();
    this.self = opts.id ?? randomBytes(32).toString('hex');
    this.url = opts.url;
  }

  /** Always `[self]`. */
  members(): string[] {
    return [this.self];
  }

  /** This node's URL for `self`, undefined otherwise. */
  urlOf(id: string): string | undefined {
    return id === this.self ? this.url : undefined;
  }

  /** Always false: there is no peer. */
  send(_id: string, _frame: Buffer): boolean {
    return false;
  }

  /** Accepted and never called. */
  onFrame(_handler: FrameHandler): void {}

  /** Nothing to join. */
  async start(): Promise<void> {}

  /** Nothing to release. */
  async stop(): Promise<void> {}
}
