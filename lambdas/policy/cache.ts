/**
 * Bounded LRU for decisions. Keys carry the policy version and content digest,
 * and the decider also clears the cache whenever it loads a new bundle, so a
 * decision is never served across policy versions.
 */
export class Lru<V> {
  readonly capacity: number;
  #map = new Map<string, V>();
  hits = 0;
  misses = 0;

  constructor(capacity: number) {
    if (!Number.isInteger(capacity) || capacity < 0) throw new RangeError('capacity must be a non-negative integer');
    this.capacity = capacity;
  }

  get size(): number {
    return this.#map.size;
  }

  get(key: string): V | undefined {
    const v = this.#map.get(key);
    if (v === undefined) {
      this.misses++;
      return undefined;
    }
    // Map keeps insertion order: re-inserting marks the entry most recently used.
    this.#map.delete(key);
    this.#map.set(key, v);
    this.hits++;
    return v;
  }

  set(key: string, v: V): void {
    if (this.capacity === 0) return;
    this.#map.delete(key);
    this.#map.set(key, v);
    if (this.#map.size > this.capacity) {
      const oldest = this.#map.keys().next().value;
      if (oldest !== undefined) this.#map.delete(oldest);
    }
  }

  has(key: string): boolean {
    return this.#map.has(key);
  }

  clear(): void {
    this.#map.clear();
  }
}

/**
 * A bounded cache whose entries live at most `ttlMs` on an injectable clock, for
 * state the decider looks up (session items, plugin facts). Concurrent misses of
 * one key share one load; a failed load is not cached. `undefined` (not found) is
 * cached like any value, so a flood of unknown ids costs one read per id per TTL.
 */
export class TtlCache<V> {
  readonly #ttl: number;
  readonly #clock: () => number;
  readonly #lru: Lru<{ at: number; value: V }>;
  readonly #inflight = new Map<string, Promise<{ at: number; value: V }>>();
  hits = 0;
  misses = 0;

  constructor(opts: { ttlMs: number; capacity: number; clock: () => number }) {
    this.#ttl = Math.max(0, opts.ttlMs);
    this.#clock = opts.clock;
    this.#lru = new Lru(this.#ttl > 0 ? opts.capacity : 0);
  }

  /** The cached value and when it was loaded (clock ms), or a fresh load. */
  async get(key: string, load: () => Promise<V>): Promise<{ at: number; value: V }> {
    const hit = this.#lru.get(key);
    if (hit && this.#clock() - hit.at < this.#ttl) {
      this.hits++;
      return hit;
    }
    this.misses++;
    let p = this.#inflight.get(key);
    if (!p) {
      p = load()
        .then((value) => {
          const entry = { at: this.#clock(), value };
          this.#lru.set(key, entry);
          return entry;
        })
        .finally(() => this.#inflight.delete(key));
      this.#inflight.set(key, p);
    }
    return await p;
  }

  get size(): number {
    return this.#lru.size;
  }

  clear(): void {
    this.#lru.clear();
  }
}
