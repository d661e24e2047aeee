import type { Storage } from '@relup/core'
import type { Io, Output } from './output.js'
import { DEFAULT_STORAGE, openStorage } from './storageUrl.js'

export interface CommandContext {
  io: Io
  out: Output
  /** The storage named by --storage, RELUP_STORAGE or the default `file://./.relup`. */
  storage(url: string | undefined): Storage
}

export function storageOpener(io: Io) {
  return (url: string | undefined): Storage =>
    openStorage(url ?? io.env.RELUP_STORAGE ?? DEFAULT_STORAGE, io.cwd)
}
