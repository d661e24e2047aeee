/** Where the demo lives on disk, independent of the working directory. */
import { dirname, join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'

/** `apps/demo` (this file compiles to `apps/demo/dist/paths.js`). */
export const demoDir = resolve(dirname(fileURLToPath(import.meta.url)), '..')
/** The repository root. */
export const repoDir = resolve(demoDir, '..', '..')
/** The committed hot releases: `hot/v1` (the base the cold build ships), `hot/v2`, `hot/v3`. */
export const hotDir = (version: string): string => join(demoDir, 'hot', version)
/** The demo server's entry point. */
export const serverEntry = join(demoDir, 'dist', 'server.js')
/** The `relup` command line. */
export const cliEntry = join(repoDir, 'packages', 'cli', 'dist', 'relup.js')
/** Local state of hand-run demos and tours (git-ignored). */
export const localStateDir = join(repoDir, '.relup-demo')
