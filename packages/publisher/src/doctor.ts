/** The storage probes behind `relup doctor`: does a backend really do what relup relies on? */
import { randomBytes } from 'node:crypto'
import { isRelupError, listAll, type Storage, UnsupportedCapabilityError } from '@relup/core'

/** `missing`: the adapter declares the capability unsupported; `BROKEN`: it claims it but does not honour it. */
export type ProbeVerdict = 'ok' | 'missing' | 'BROKEN'

export interface DoctorProbe {
  name: string
  /** Publishing or polling cannot be correct without it. */
  required: boolean
  verdict: ProbeVerdict
  /** What was seen, and what it means for relup. */
  detail: string
  ms: number
}

async function probe(
  probes: DoctorProbe[],
  name: string,
  required: boolean,
  fn: () => Promise<{ verdict: ProbeVerdict; detail: string }>,
  /** What relup does without the capability, when the adapter declares it unsupported. */
  withoutIt = 'relup cannot work without it: use a store that supports it',
): Promise<void> {
  const started = performance.now()
  try {
    const { verdict, detail } = await fn()
    probes.push({ name, required, verdict, detail, ms: performance.now() - started })
  } catch (error) {
    // The adapter's own message says to run `relup doctor`: the doctor says what it means instead.
    const unsupported = isRelupError(error, UnsupportedCapabilityError.code)
    probes.push({
      name,
      required,
      verdict: unsupported ? 'missing' : 'BROKEN',
      detail: unsupported
        ? `declared unsupported by ${(error as UnsupportedCapabilityError).adapter}: ${withoutIt}`
        : `failed: ${(error as Error).message}`,
      ms: performance.now() - started,
    })
  }
}

/**
 * Probe a storage backend for what relup relies on, with real requests under a scratch folder
 * (removed afterwards): read-after-write, conditional GET (304), create-only and
 * compare-and-swap honesty (does it really refuse the second writer?), conditional delete, and
 * listing right after a write.
 */
export async function runDoctor(
  storage: Storage,
  folder = `relup-doctor/${randomBytes(6).toString('hex')}`,
): Promise<DoctorProbe[]> {
  const probes: DoctorProbe[] = []
  const k = (name: string) => `${folder}/${name}`
  const text = (b: Uint8Array) => new TextDecoder().decode(b)
  try {
    let etag = ''
    await probe(probes, 'read after write', true, async () => {
      const put = await storage.put(k('rw.json'), '{"probe":1}')
      if (put.status !== 'ok') return { verdict: 'BROKEN', detail: 'an unconditional put was refused' }
      etag = put.etag
      const got = await storage.get(k('rw.json'))
      if (got.status !== 'ok')
        return {
          verdict: 'BROKEN',
          detail: `a fresh write read back as ${got.status}: stale reads would hide upgrades`,
        }
      if (text(got.body) !== '{"probe":1}')
        return { verdict: 'BROKEN', detail: 'a fresh write read back with other content' }
      const put2 = await storage.put(k('rw.json'), '{"probe":2}')
      const got2 = await storage.get(k('rw.json'))
      if (put2.status !== 'ok' || got2.status !== 'ok' || text(got2.body) !== '{"probe":2}') {
        return {
          verdict: 'BROKEN',
          detail: 'an overwrite read back stale: enable strong consistency (Tigris: x-tigris-consistent)',
        }
      }
      etag = put2.etag
      return { verdict: 'ok', detail: 'writes and overwrites are visible at once' }
    })
    await probe(probes, 'conditional GET (304)', false, async () => {
      const got = await storage.get(k('rw.json'), { ifNoneMatch: etag })
      return got.status === 'not-modified'
        ? { verdict: 'ok', detail: 'an unchanged pointer costs no body' }
        : {
            verdict: 'BROKEN',
            detail: `answered ${got.status} to a matching If-None-Match: every poll downloads the pointer`,
          }
    })
    await probe(probes, 'create-only (If-None-Match: *)', true, async () => {
      const first = await storage.put(k('create.json'), 'first', { ifNoneMatch: '*' })
      const second = await storage.put(k('create.json'), 'second', { ifNoneMatch: '*' })
      if (first.status !== 'ok') return { verdict: 'BROKEN', detail: 'refused to create a missing key' }
      if (second.status === 'ok')
        return {
          verdict: 'BROKEN',
          detail: 'IGNORED: a second create-only write succeeded, so two publishers could both take the lock',
        }
      return { verdict: 'ok', detail: 'the second writer is refused' }
    })
    await probe(probes, 'compare-and-swap (If-Match)', true, async () => {
      const base = await storage.put(k('cas.json'), 'v1')
      if (base.status !== 'ok') return { verdict: 'BROKEN', detail: 'could not write the probe object' }
      const swap = await storage.put(k('cas.json'), 'v2', { ifMatch: base.etag })
      const stale = await storage.put(k('cas.json'), 'v3', { ifMatch: base.etag })
      const missing = await storage.put(k('cas-missing.json'), 'x', { ifMatch: base.etag })
      if (swap.status !== 'ok') return { verdict: 'BROKEN', detail: 'refused a write with the current etag' }
      if (stale.status === 'ok')
        return {
          verdict: 'BROKEN',
          detail: 'IGNORED: a write with a stale etag succeeded, so concurrent pointer updates would be lost',
        }
      if (missing.status === 'ok') return { verdict: 'BROKEN', detail: 'If-Match on a missing key succeeded' }
      return { verdict: 'ok', detail: 'stale writers are refused' }
    })
    await probe(
      probes,
      'conditional delete (If-Match)',
      false,
      async () => {
        const put = await storage.put(k('del.json'), 'x')
        if (put.status !== 'ok') return { verdict: 'BROKEN', detail: 'could not write the probe object' }
        const stale = await storage.delete(k('del.json'), { ifMatch: '"0000000000000000"' })
        if (stale.status === 'ok' && (await storage.get(k('del.json'))).status === 'not-found') {
          return { verdict: 'BROKEN', detail: 'IGNORED: a delete with a wrong etag removed the object' }
        }
        const right = await storage.delete(k('del.json'), { ifMatch: put.etag })
        return right.status === 'ok'
          ? { verdict: 'ok', detail: 'the lock is released only by its owner' }
          : { verdict: 'BROKEN', detail: 'refused a delete with the current etag' }
      },
      'optional: a publisher checks the lock is still its own before releasing it (a small window remains)',
    )
    await probe(probes, 'list after write', false, async () => {
      await storage.put(k('listed/one.json'), '1')
      const keys: string[] = []
      for await (const item of listAll(storage, k('listed'))) keys.push(item.key)
      return keys.includes(k('listed/one.json'))
        ? { verdict: 'ok', detail: 'new machines and results are visible at once' }
        : {
            verdict: 'BROKEN',
            detail: 'a fresh key is missing from the listing: publish may not see every machine',
          }
    })
  } finally {
    for await (const item of listAll(storage, folder)) await storage.delete(item.key).catch(() => {})
  }
  return probes
}

/** True when every required probe passed: publishing and polling can rely on the store. */
export function storageReady(probes: readonly DoctorProbe[]): boolean {
  return probes.every((p) => !p.required || p.verdict === 'ok')
}
