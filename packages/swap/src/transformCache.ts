/**
 * Transformed modules by content hash, shared by every engine and release of the process, so an
 * unchanged module is never transformed twice. It must not keep old releases alive: every entry
 * in use by a live module is found through a `WeakRef` (the module holds it anyway), and only the
 * most recently used entries, up to a byte budget, are held strongly (a rollback to the previous
 * release, a module re-evaluated because a dependency changed).
 */

/** How many characters of transformed code and maps the cache holds strongly, beyond what live modules hold. */
export const TRANSFORM_CACHE_BUDGET = 4 * 1024 * 1024

export interface Sized {
  /** What holding this entry costs, in characters. */
  readonly size: number
}

export class TransformCache<Entry extends Sized & object> {
  private readonly byKey = new Map<string, WeakRef<Entry>>()
  /** Recently used entries, least recent first, held strongly within the budget. */
  private readonly recent = new Map<string, Entry>()
  private recentSize = 0
  private readonly forget = new FinalizationRegistry<string>((key) => {
    if (this.byKey.get(key)?.deref() === undefined) this.byKey.delete(key)
  })
  /** Lookups that found an entry, lookups that transformed, and the time all lookups took (ms). */
  hits = 0
  misses = 0
  spentMs = 0

  constructor(private readonly budget: number = TRANSFORM_CACHE_BUDGET) {}

  get size(): number {
    return this.byKey.size
  }

  /** The cached entry for `key`, or what `make` returns (then cached). */
  through(key: string, make: () => Entry): Entry {
    const started = performance.now()
    try {
      const cached = this.byKey.get(key)?.deref()
      if (cached) {
        this.hits++
        this.touch(key, cached)
        return cached
      }
      this.misses++
      const entry = make()
      this.byKey.set(key, new WeakRef(entry))
      this.forget.register(entry, key)
      this.touch(key, entry)
      return entry
    } finally {
      this.spentMs += performance.now() - started
    }
  }

  /** The counters now, to subtract from later ones. */
  counters(): { hits: number; misses: number; spentMs: number } {
    return { hits: this.hits, misses: this.misses, spentMs: this.spentMs }
  }

  clear(): void {
    this.byKey.clear()
    this.recent.clear()
    this.recentSize = 0
  }

  private touch(key: string, entry: Entry): void {
    if (this.recent.delete(key)) this.recentSize -= entry.size
    if (entry.size > this.budget) return
    this.recent.set(key, entry)
    this.recentSize += entry.size
    for (const [oldest, held] of this.recent) {
      if (this.recentSize <= this.budget) break
      this.recent.delete(oldest)
      this.recentSize -= held.size
    }
  }
}
