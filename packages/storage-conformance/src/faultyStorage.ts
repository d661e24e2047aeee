/**
 * Wrap any adapter so it fails and stalls on purpose: what the poller and the publisher must
 * survive in production (a flaky network, a storage outage) on demand in a test.
 */
import { type Storage, StorageTransportError } from '@relup/core'
import { seededRandom } from './random.js'

export type StorageOperation = 'get' | 'getStream' | 'put' | 'list' | 'delete'

export interface FaultOptions {
  /** Probability (0..1) that a call throws a retryable `StorageTransportError`. */
  failRate?: number
  /** Added latency per call: a fixed number of ms or a `[min, max]` range. */
  latencyMs?: number | [number, number]
  /** Seed of the PRNG that decides failures and latencies (default 1). */
  seed?: number
  /** Only these operations are affected (default: all). */
  operations?: StorageOperation[]
}

export interface FaultStats {
  calls: number
  failures: number
  byOperation: Record<StorageOperation, number>
}

export interface FaultyStorage extends Storage {
  /** Change the faults at any time: `faults.failRate = 1` starts an outage, `0` ends it. */
  readonly faults: {
    failRate: number
    latencyMs: number | [number, number]
    operations: StorageOperation[] | undefined
  }
  readonly stats: FaultStats
  readonly inner: Storage
}

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms))

export function faultyStorage(inner: Storage, options: FaultOptions = {}): FaultyStorage {
  const random = seededRandom(options.seed ?? 1)
  const faults = {
    failRate: options.failRate ?? 0,
    latencyMs: options.latencyMs ?? 0,
    operations: options.operations,
  }
  const stats: FaultStats = {
    calls: 0,
    failures: 0,
    byOperation: { get: 0, getStream: 0, put: 0, list: 0, delete: 0 },
  }

  async function inject(operation: StorageOperation, key: string): Promise<void> {
    stats.calls++
    stats.byOperation[operation]++
    if (faults.operations && !faults.operations.includes(operation)) return
    const latency = faults.latencyMs
    const ms = Array.isArray(latency) ? latency[0] + random() * (latency[1] - latency[0]) : latency
    if (ms > 0) await sleep(ms)
    if (faults.failRate > 0 && random() < faults.failRate) {
      stats.failures++
      throw new StorageTransportError(`injected fault: ${operation} ${key} failed (faultyStorage)`, {
        operation,
        key,
        retryable: true,
      })
    }
  }

  return {
    name: `faulty(${inner.name})`,
    capabilities: inner.capabilities,
    faults,
    stats,
    inner,
    async get(key, o) {
      await inject('get', key)
      return inner.get(key, o)
    },
    async getStream(key, o) {
      await inject('getStream', key)
      return inner.getStream(key, o)
    },
    async put(key, body, o) {
      await inject('put', key)
      return inner.put(key, body, o)
    },
    async list(prefix, o) {
      await inject('list', prefix)
      return inner.list(prefix, o)
    },
    async delete(key, o) {
      await inject('delete', key)
      return inner.delete(key, o)
    },
    close: () => inner.close?.() ?? Promise.resolve(),
  }
}
