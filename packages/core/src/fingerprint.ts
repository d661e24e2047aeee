import { createHash } from 'node:crypto'

/**
 * The short identity of the code a machine runs: the first 12 hex characters of
 * sha256(`<baseRef>:<hotRef or "base">`), the same recipe FlyDeploy uses.
 */
export function fingerprint(baseRef: string, hotRef: string | null | undefined): string {
  return createHash('sha256')
    .update(`${baseRef}:${hotRef ?? 'base'}`)
    .digest('hex')
    .slice(0, 12)
}
