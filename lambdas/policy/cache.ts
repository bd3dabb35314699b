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
