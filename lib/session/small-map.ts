/**
 * A Map for the handful of entries most sessions hold (a channel or two, plus `$user:U`): keys and values
 * alternate in one exactly-sized array (copied on change, never grown in place), scanned linearly. An empty
 * V8 Map costs about 160 bytes with its backing store and there is one per connection; one entry here costs
 * about 64. Past 8 entries it becomes a Map.
 */
export class SmallMap<K, V> {
  private kv: unknown[] = EMPTY;
  private map: Map<K, V> | null = null;

  get size(): number {
    return this.map ? this.map.size : this.kv.length >> 1;
  }

  get(key: K): V | undefined {
    if (this.map) return this.map.get(key);
    const i = this.index(key);
    return i < 0 ? undefined : (this.kv[i + 1] as V);
  }

  has(key: K): boolean {
    return this.map ? this.map.has(key) : this.index(key) >= 0;
  }

  set(key: K, value: V): this {
    if (this.map) { this.map.set(key, value); return this; }
    const i = this.index(key);
    if (i >= 0) { this.kv[i + 1] = value; return this; }
    if (this.kv.length < 16) {
      this.kv = this.kv.concat([key, value]);
      return this;
    }
    this.map = new Map(this.entries());
    this.map.set(key, value);
    this.kv = EMPTY;
    return this;
  }

  delete(key: K): boolean {
    if (this.map) return this.map.delete(key);
    const i = this.index(key);
    if (i < 0) return false;
    this.kv = this.kv.length === 2 ? EMPTY : this.kv.slice(0, i).concat(this.kv.slice(i + 2));
    return true;
  }

  clear(): void {
    this.map = null;
    this.kv = EMPTY;
  }

  keys(): IterableIterator<K> {
    return this.map ? this.map.keys() : (this.kv.filter((_, i) => i % 2 === 0) as K[]).values();
  }

  /** A snapshot of the entries (safe to change the map while iterating). */
  entries(): IterableIterator<[K, V]> {
    if (this.map) return this.map.entries();
    const out: Array<[K, V]> = [];
    for (let i = 0; i < this.kv.length; i += 2) out.push([this.kv[i] as K, this.kv[i + 1] as V]);
    return out.values();
  }

  [Symbol.iterator](): IterableIterator<[K, V]> {
    return this.entries();
  }

  private index(key: K): number {
    for (let i = 0; i < this.kv.length; i += 2) if (this.kv[i] === key) return i;
    return -1;
  }
}

const EMPTY: unknown[] = Object.freeze([]) as unknown as unknown[];
