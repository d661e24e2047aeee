/** `history/<upgradeId>.json`: every hot upgrade published (publish and rollback), what rollback picks from. */
import { type HotUpgrade, listAll, parseHotUpgrade, readDocument, relupKeys, type Storage } from '@relup/core'

/** Every hot upgrade published for this app, oldest first (upgrade ids sort by time). */
export async function publishHistory(storage: Storage, app: string, prefix?: string): Promise<HotUpgrade[]> {
  const keys = relupKeys(app, { prefix })
  const history: HotUpgrade[] = []
  for await (const item of listAll(storage, keys.historyPrefix)) {
    const read = await readDocument(storage, item.key, parseHotUpgrade).catch(() => null)
    if (read?.status === 'ok') history.push(read.document)
  }
  return history.sort((a, b) => (a.upgradeId < b.upgradeId ? -1 : a.upgradeId > b.upgradeId ? 1 : 0))
}
