/**
 * The local marker: this machine's own proof of which hot upgrade it runs. Written atomically
 * and only after an upgrade succeeded, so a crash or a failure never claims an upgrade that
 * is not running.
 */
import { isoDate, nonEmpty, sha256Hex } from './patterns.js'
import { type HotUpgrade, hotUpgradeSchema } from './pointer.js'
import { literal, nullable, object, optional, parseWith, type Schema, string } from './schema.js'

export interface LocalMarker {
  schema: 1
  app: string
  baseRef: string
  upgradeId: string
  version: string
  sourceRef: string
  artifactSha256: string
  /** Where the verified release was extracted (so a restart can reuse it without a download). */
  releaseDir: string
  appliedAt: string
  /**
   * The hot upgrade as it was applied: what a restart boots when the pointer's upgrade cannot be
   * applied (this machine's last good release). Absent in markers written before relup 0.1.
   */
  upgrade?: HotUpgrade | undefined
  /** `manifestDigest` of the base release the upgrade was applied on; a rebuilt base ignores the marker. */
  baseDigest?: string | null | undefined
}

export const localMarkerSchema: Schema<LocalMarker> = object<LocalMarker>({
  schema: literal(1),
  app: nonEmpty,
  baseRef: nonEmpty,
  upgradeId: nonEmpty,
  version: nonEmpty,
  sourceRef: nonEmpty,
  artifactSha256: sha256Hex,
  releaseDir: nonEmpty,
  appliedAt: isoDate,
  upgrade: optional(hotUpgradeSchema),
  baseDigest: optional(nullable(string())),
})

export function parseLocalMarker(input: unknown, path?: string): LocalMarker {
  return parseWith(localMarkerSchema, input, { document: 'local marker', key: path })
}
