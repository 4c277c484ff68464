import { newEpoch } from '../protocol/epoch.js';
import type { GroupCommit } from '../store/group-commit.js';
import type { ChannelRecord, Store, StoreOp } from '../store/store.js';
import type { ReplicaStatus, Replication, ReplicationMode } from './replication.js';

/**
 * One copy: the local store only (a node without a cluster, or alone from the start). A take-over raises the
 * channel's term on the local copy, so a node that later joins a cluster carries terms forward.
 */
export class SingleCopy implements Replication {
  constructor(private readonly store: Store, private readonly commit: GroupCommit, private readonly self: string) {}

  acquire(channel: string): Promise<ChannelRecord> {
    return takeLocally(this.store, this.commit, channel, this.self);
  }

  async replicate(): Promise<void> {}

  checkWritable(): void {}

  status(): ReplicaStatus {
    return { node: null, caughtUp: true, lag: 0 };
  }

  mode(): ReplicationMode {
    return { copies: 1, minCopies: 1, known: [this.self], quorum: true, writable: true };
  }

  attach(): void {}

  forget(): void {}
}

/** Takes a channel over from the local copy alone: next term, an epoch if it has none, stored before use. */
export async function takeLocally(store: Store, commit: GroupCommit, channel: string, self: string): Promise<ChannelRecord> {
  const stored = await store.load(channel);
  // A copy a catch-up left half-written keeps its settings only: its stream starts a new epoch.
  const record = stored.complete ? stored : { ...stored, epoch: null, offset: 0, history: [], ids: [] };
  const term = Math.max(record.promised, record.term) + 1;
  const fresh = record.epoch === null;
  record.epoch ??= newEpoch();
  Object.assign(record, { term, promised: term, owner: self, complete: true });
  await commit.write([
    ...(fresh && !stored.complete ? [{ type: 'clear' as const, channel, keepMessages: false }, ...settingsOps(channel, record)] : []),
    { type: 'position', channel, epoch: record.epoch, offset: record.offset, term },
    { type: 'meta', channel, promised: term, owner: self, complete: true },
  ]);
  return record;
}

function settingsOps(channel: string, r: ChannelRecord): StoreOp[] {
  const ops: StoreOp[] = r.config ? [{ type: 'config', channel, config: r.config }] : [];
  for (const [user, until] of Object.entries(r.bans)) ops.push({ type: 'ban', channel, user, until });
  return ops;
}
