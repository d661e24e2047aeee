/**
 * Stack traces of hot code that point at the source. Node applies source maps only to files its
 * own loaders load, never to code compiled with `vm.compileFunction` (on Node 20 and 24, with or
 * without `--enable-source-maps` or `process.setSourceMapsEnabled`; `module.findSourceMap` knows
 * nothing of it). So the engine chains `Error.prepareStackTrace`: the frames of hot modules that
 * have maps are replaced by mapped call sites (file as users know it, original line and column),
 * then the previous `Error.prepareStackTrace` formats the trace as before. On Node 20 and 24 that
 * is Node's own, which still applies `--enable-source-maps` to the cold code's frames.
 *
 * The registry keeps no hot module alive: it holds each module's `HotFile` weakly.
 */
import { readFileSync } from 'node:fs'
import { SourceMap } from 'node:module'
import { isAbsolute, posix } from 'node:path'
import { fileURLToPath } from 'node:url'
import { sha256Of } from '@relup/core/release'

/** A source map, version 3, as JSON. */
export interface SourceMapData {
  version: number
  mappings: string
  sources: string[]
  names: string[]
  sourceRoot?: string
}

/** A map shipped with the release (`//# sourceMappingURL=boom.js.map`), read when a trace needs it. */
export interface ShippedMap {
  /** Release-relative path of the `.map` file; its `sources` are relative to it. */
  path: string
  /** Absolute path, and the manifest's hash and size: a map that changed on disk is not used. */
  filename: string
  sha256: string
  size: number
}

/** What the trace mapper knows about one compiled hot module. */
export interface HotFile {
  /** Release-relative path: what mapped frames name when the original is this file itself. */
  path: string
  /** The engine's own maps (transform steps), from the compiled code back to the file. */
  maps: SourceMapData[]
  /** A map the release ships for this file (a `.map` file, or inline), applied after the engine's. */
  shipped: ShippedMap | SourceMapData | undefined
  /** Columns the evaluator added in front of the first line. */
  firstLineColumns: number
}

const files = new Map<string, WeakRef<HotFile>>()
const forget = new FinalizationRegistry<string>((filename) => {
  if (files.get(filename)?.deref() === undefined) files.delete(filename)
})
const parsed = new WeakMap<SourceMapData, SourceMap>()
const loaded = new WeakMap<HotFile, SourceMapData | null>()

/** Remember a compiled hot module by the filename V8 reports for it. */
export function registerHotFile(filename: string, file: HotFile): void {
  files.set(filename, new WeakRef(file))
  forget.register(file, filename)
  if (file.maps.length > 0 || file.shipped) installTraceMapper()
}

/** Whether `filename` (as V8 reports it) is a live hot module's. */
export function isHotFilename(filename: string | undefined | null): boolean {
  return typeof filename === 'string' && files.get(filename)?.deref() !== undefined
}

/** Follow 1-based `line`/`column` back through `maps`, first to last. */
export function traceBack(
  maps: SourceMapData[],
  line: number,
  column: number,
): { line: number; column: number; source: string | undefined } | undefined {
  let at = { line: line - 1, column: column - 1, source: undefined as string | undefined }
  for (const map of maps) {
    let consumer = parsed.get(map)
    if (!consumer) {
      consumer = new SourceMap(map as ConstructorParameters<typeof SourceMap>[0])
      parsed.set(map, consumer)
    }
    const entry = consumer.findEntry(at.line, at.column) as Partial<{
      originalLine: number
      originalColumn: number
      originalSource: string
    }>
    if (entry.originalLine === undefined || entry.originalColumn === undefined) return undefined
    const source =
      entry.originalSource === undefined ? undefined : `${map.sourceRoot ?? ''}${entry.originalSource}`
    at = { line: entry.originalLine, column: entry.originalColumn, source }
  }
  return { line: at.line + 1, column: at.column + 1, source: at.source }
}

/**
 * Where a position of a hot module's compiled code was written: the file as users know it (the
 * release-relative path, or the source a shipped map names) and its 1-based line and column.
 */
export function originalPosition(
  file: HotFile,
  line: number,
  column: number,
): { file: string; line: number; column: number } | undefined {
  const start = line === 1 ? Math.max(1, column - file.firstLineColumns) : column
  const own = file.maps.length > 0 ? traceBack(file.maps, line, start) : { line, column: start }
  if (!own) return undefined
  const shipped = shippedMap(file)
  if (!file.shipped || !shipped) return { file: file.path, line: own.line, column: own.column }
  const original = traceBack([shipped], own.line, own.column)
  if (!original) return { file: file.path, line: own.line, column: own.column }
  // A map file's sources are relative to the map; an inline map's to the file itself.
  const base = 'mappings' in file.shipped ? file.path : file.shipped.path
  return { file: sourcePath(base, original.source), line: original.line, column: original.column }
}

/** A source named by a shipped map, as a path relative to the release (or absolute, as the map says). */
function sourcePath(mapPath: string, source: string | undefined): string {
  if (source === undefined) return mapPath
  if (source.startsWith('file:')) return fileURLToPath(source)
  if (isAbsolute(source) || /^[a-z][\w+.-]*:/i.test(source)) return source
  return posix.normalize(posix.join(posix.dirname(mapPath), source))
}

function shippedMap(file: HotFile): SourceMapData | null {
  if (!file.shipped) return null
  if ('mappings' in file.shipped) return file.shipped
  let map = loaded.get(file)
  if (map === undefined) {
    map = readShippedMap(file.shipped as ShippedMap)
    loaded.set(file, map)
  }
  return map
}

function readShippedMap(shipped: ShippedMap): SourceMapData | null {
  try {
    const bytes = readFileSync(shipped.filename)
    if (bytes.length !== shipped.size || sha256Of(bytes) !== shipped.sha256) return null
    const map = JSON.parse(bytes.toString('utf8')) as SourceMapData
    return typeof map.mappings === 'string' && Array.isArray(map.sources) ? map : null
  } catch {
    return null
  }
}

const SOURCE_MAPPING_URL = /\/\/[#@] sourceMappingURL=([^\s'"]+)\s*$/

/**
 * The map a file's last line points at: a `data:` URL (decoded now) or a file of the release
 * (read when a trace needs it). Undefined when there is none, or it is not in the release.
 */
export function shippedMapOf(
  path: string,
  source: string,
  lookup: (path: string) => Omit<ShippedMap, 'path'> | undefined,
): SourceMapData | ShippedMap | undefined {
  const tail = source.slice(Math.max(0, source.lastIndexOf('\n', source.length - 2)))
  const url = SOURCE_MAPPING_URL.exec(tail)?.[1]
  if (!url) return undefined
  if (url.startsWith('data:')) {
    const comma = url.indexOf(',')
    const base64 = url.slice(0, comma).endsWith(';base64')
    try {
      const text = base64
        ? Buffer.from(url.slice(comma + 1), 'base64').toString('utf8')
        : decodeURIComponent(url.slice(comma + 1))
      const map = JSON.parse(text) as SourceMapData
      return {
        version: 3,
        mappings: map.mappings,
        sources: map.sources,
        names: map.names ?? [],
        ...root(map),
      }
    } catch {
      return undefined
    }
  }
  if (/^[a-z][\w+.-]*:/i.test(url)) return undefined
  const mapPath = posix.normalize(posix.join(posix.dirname(path), decodeURIComponent(url)))
  const found = lookup(mapPath)
  return found ? { path: mapPath, ...found } : undefined
}

function root(map: SourceMapData): { sourceRoot?: string } {
  return map.sourceRoot
    ? { sourceRoot: map.sourceRoot.endsWith('/') ? map.sourceRoot : `${map.sourceRoot}/` }
    : {}
}

// The trace mapper ------------------------------------------------------------------------------

type CallSite = NodeJS.CallSite
type Prepare = (error: Error, frames: CallSite[]) => unknown

let installed = false
/** The files of each error's frames as V8 reported them, before mapping (`stackFilenames`). */
const frameFiles = new WeakMap<object, string[]>()
const STACK_FILE = /(?:\(|at )((?:file:\/\/)?\/[^():]+?):\d+:\d+\)?$/gm

/**
 * The files of the frames in `error`'s stack, as V8 named them (absolute paths of the compiled
 * hot modules, whatever the mapped trace shows). Empty for a value that is not an error.
 */
export function stackFilenames(error: unknown): string[] {
  if (typeof error !== 'object' || error === null) return []
  const stack = (error as { stack?: unknown }).stack // formats it, through the mapper when installed
  const recorded = frameFiles.get(error)
  if (recorded) return recorded
  if (typeof stack !== 'string') return []
  return [...stack.matchAll(STACK_FILE)].map((match) =>
    match[1]!.startsWith('file://') ? fileURLToPath(match[1]!) : match[1]!,
  )
}

/** Chain `Error.prepareStackTrace` once per process; the previous one formats the mapped frames. */
function installTraceMapper(): void {
  if (installed) return
  installed = true
  const previous: Prepare | undefined = Error.prepareStackTrace
  Error.prepareStackTrace = function relupPrepareStackTrace(error: Error, frames: CallSite[]): unknown {
    if (typeof error === 'object' && error !== null) {
      const names: string[] = []
      for (const frame of frames) {
        const name = frame.getFileName()
        if (name) names.push(name)
      }
      frameFiles.set(error, names)
    }
    const mapped = files.size === 0 ? frames : frames.map(mapFrame)
    if (previous) return previous.call(this, error, mapped)
    return `${String(error)}${mapped.map((frame) => `\n    at ${frame}`).join('')}`
  }
}

function mapFrame(frame: CallSite): CallSite {
  try {
    const filename = frame.getFileName()
    const file = filename ? files.get(filename)?.deref() : undefined
    const line = frame.getLineNumber()
    const column = frame.getColumnNumber()
    if (!file || line === null || column === null || (file.maps.length === 0 && !file.shipped)) return frame
    const original = originalPosition(file, line, column)
    return original ? mappedCallSite(frame, `${filename}:${line}:${column}`, original) : frame
  } catch {
    return frame
  }
}

/** A call site that reads like `frame`, at the original position. */
function mappedCallSite(
  frame: CallSite,
  generated: string,
  original: { file: string; line: number; column: number },
): CallSite {
  const location = `${original.file}:${original.line}:${original.column}`
  return new Proxy(frame, {
    get(target, key) {
      switch (key) {
        case 'getFileName':
        case 'getScriptNameOrSourceURL':
          return () => original.file
        case 'getLineNumber':
          return () => original.line
        case 'getColumnNumber':
          return () => original.column
        case 'toString':
          return () => String(target).replace(generated, location)
      }
      const value = Reflect.get(target, key)
      return typeof value === 'function' ? value.bind(target) : value
    },
  })
}
