// `relup` starts in about half the time as one bundled file: a publish is mostly Node starting
// and loading modules, and the ~95 small ES modules of the publisher, artifact, supervisor and
// swap packages cost more to resolve and link than to run. This bundles them, from tsc's
// output in dist/, into dist/relup.js (the bin) plus chunks for what only some commands load.
//
// Kept outside the bundle, and so dependencies of this package: @relup/core and
// @relup/storage-fs (the storage adapters a user installs beside the CLI, @relup/storage-s3 and
// the notifiers, import @relup/core too, and their errors must be the CLI's classes:
// `isRelupError` is an instanceof check), every third-party package, and Node's own modules.
import { readFileSync } from 'node:fs'
import { build } from 'rolldown'

const pkg = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8'))
const INLINED = /^@relup\/(publisher|artifact|supervisor|swap)(\/|$)/

const started = performance.now()
await build({
  input: { relup: 'dist/bin.js' },
  platform: 'node',
  cwd: new URL('..', import.meta.url).pathname,
  external: (id) => !(id.startsWith('.') || id.startsWith('/') || INLINED.test(id)),
  output: {
    dir: 'dist',
    format: 'esm',
    sourcemap: true,
    chunkFileNames: 'chunks/[name]-[hash].js',
  },
  logLevel: 'warn',
})

// A package the bundle imports must be one this package depends on, or an install of the CLI
// alone would not find it.
const bundle = readFileSync(new URL('../dist/relup.js', import.meta.url), 'utf8')
const imported = new Set(
  [...bundle.matchAll(/from\s*"([^".][^"]*)"|import\("([^".][^"]*)"\)/g)]
    .map((m) => m[1] ?? m[2])
    .filter((id) => !id.startsWith('node:'))
    .map((id) => (id.startsWith('@') ? id.split('/').slice(0, 2).join('/') : id.split('/')[0])),
)
const declared = new Set([...Object.keys(pkg.dependencies ?? {}), ...Object.keys(pkg.peerDependencies ?? {})])
const missing = [...imported].filter((id) => !declared.has(id))
if (missing.length > 0) {
  console.error(
    `dist/relup.js imports ${missing.join(', ')}: add them to packages/cli/package.json dependencies`,
  )
  process.exit(1)
}
console.log(`bundled dist/relup.js in ${Math.round(performance.now() - started)} ms`)
