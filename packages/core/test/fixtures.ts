import type { CurrentPointer, HotUpgrade, LocalMarker, ModuleManifest } from '../src/index.js'

export const manifest = (files: Record<string, string>, nativeAddons: string[] = []): ModuleManifest => ({
  files: Object.fromEntries(
    Object.entries(files).map(([path, hashChar]) => [path, { sha256: hashChar.repeat(64), size: 10 }]),
  ),
  nativeAddons,
  nodeAbi: null,
})

export function hotUpgrade(overrides: Partial<HotUpgrade> = {}): HotUpgrade {
  return {
    version: 'v2',
    upgradeId: '01KABCDEFGHJKMNPQRSTVWXYZ0',
    sourceRef: 'git:abc123',
    baseRef: 'image-1',
    artifact: { key: 'relup/chat/artifacts/v2-aaaaaaaaaaaa.tgz', sha256: 'a'.repeat(64), size: 1234 },
    manifest: manifest({ 'index.js': 'b' }),
    publishedAt: '2026-11-26T12:00:00.000Z',
    publishedBy: 'ci@runner',
    ...overrides,
  }
}

export function pointer(overrides: Partial<CurrentPointer> = {}): CurrentPointer {
  return {
    schema: 1,
    app: 'chat',
    baseRef: 'image-1',
    previousBases: [],
    hot: null,
    seq: 1,
    setAt: '2026-11-26T12:00:00.000Z',
    setBy: 'machine:m1',
    ...overrides,
  }
}

export function marker(overrides: Partial<LocalMarker> = {}): LocalMarker {
  return {
    schema: 1,
    app: 'chat',
    baseRef: 'image-1',
    upgradeId: '01KABCDEFGHJKMNPQRSTVWXYZ0',
    version: 'v2',
    sourceRef: 'git:abc123',
    artifactSha256: 'a'.repeat(64),
    releaseDir: '/var/lib/relup/releases/01KABCDEFGHJKMNPQRSTVWXYZ0',
    appliedAt: '2026-11-26T12:00:01.000Z',
    ...overrides,
  }
}
