// Which nodes count for the quorum, and whether this node's view holds a majority of them.
//
// A node remembers every node it has seen admitted (persisted in its store), and forgets one only when it
// announced a graceful leave. A view that holds more than half of the known nodes may own channels and
// acknowledge writes; a smaller one (a partitioned minority, a node left alone by dead peers) may not, so two
// sides of a partition never both accept writes for a channel. A node that has never seen a peer knows only
// itself: it is "alone from the start" and acknowledges with one copy.
import { isNodeId } from '../protocol/names.js';
import type { Store } from '../store/store.js';

const KEY = 'cluster.known';

/** True if `view` holds a strict majority of `known`. */
export function hasQuorum(view: readonly string[], known: ReadonlySet<string>): boolean {
  let present = 0;
  for (const id of view) if (known.has(id)) present++;
  return present * 2 > known.size;
}

/** The persisted set of nodes that count for the quorum. */
export class KnownMembers {
  private known = new Set<string>();
  private saving: Promise<void> = Promise.resolve();
  private closed = false;

  constructor(private readonly store: Store, readonly self: string) {}

  /** Loads the set (this node only, the first time). */
  async load(): Promise<void> {
    const raw = await this.store.getMeta(KEY);
    let ids: unknown = [];
    try { ids = raw ? JSON.parse(raw) : []; } catch { ids = []; }
    this.known = new Set([this.self, ...(Array.isArray(ids) ? ids.filter((x): x is string => typeof x === 'string') : [])]);
  }

  /** The known ids, sorted. */
  ids(): string[] {
    return [...this.known].sort();
  }

  get size(): number {
    return this.known.size;
  }

  has(id: string): boolean {
    return this.known.has(id);
  }

  /** True if `view` holds a majority of the known nodes. */
  quorum(view: readonly string[]): boolean {
    return hasQuorum(view, this.known);
  }

  /** Adds ids (a node admitted, or a peer's known set); resolves once stored. */
  add(ids: Iterable<string>): Promise<void> {
    let changed = false;
    for (const id of ids) {
      if (isNodeId(id) && !this.known.has(id)) {
        this.known.add(id);
        changed = true;
      }
    }
    return changed ? this.save() : this.saving;
  }

  /** Forgets a node that left on purpose; resolves once stored. */
  remove(id: string): Promise<void> {
    if (id === this.self || !this.known.delete(id)) return this.saving;
    return this.save();
  }

  /** Stops storing changes (shutdown: the store closes next); resolves once the writes already queued are done. */
  close(): Promise<void> {
    this.closed = true;
    return this.saving;
  }

  private save(): Promise<void> {
    if (this.closed) return this.saving;
    const value = JSON.stringify(this.ids());
    this.saving = this.saving.then(() => this.store.putMeta(KEY, value));
    return this.saving;
  }
}
