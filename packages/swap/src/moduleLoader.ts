/**
 * From a file's text to a compiled, not yet run, module wrapper: decide its format (`moduleFormat.ts`),
 * transform it when it is TypeScript or an ES module (`esmTransform.ts`, cached by content hash),
 * find its source maps (`sourceMaps.ts`) and compile it (`evaluator.ts`). The engine's loader runs
 * the result; `checkRelease` stops here, so both apply exactly the same rules. Every problem is a
 * `HotModuleError` at the line of the file as written.
 */
import { HotModuleError } from './errors.js'
import { type Transformed, toHotModule, transformTypeScript, untransformed } from './esmTransform.js'
import {
  type CompiledModule,
  compileModule,
  ESM_PROLOGUE,
  prepareSource,
  syntaxErrorPosition,
} from './evaluator.js'
import {
  type DeclaredFormat,
  formatOfExtension,
  isModuleSyntaxError,
  isTypeScriptPath,
  type ModuleFormat,
} from './moduleFormat.js'
import { type HotFile, originalPosition, type ShippedMap, shippedMapOf } from './sourceMaps.js'

/** What the loader needs to know about the release a module comes from. */
export interface ModuleOrigin {
  /** Release-relative path of the module. */
  path: string
  /** Absolute path: the module's `__filename`, and the file name in stack traces. */
  filename: string
  /** Its text, as verified against the manifest. */
  source: string
  sha256: string
  /** What the nearest `package.json` of the release says (`'detect'` when it says nothing). */
  packageFormat: () => DeclaredFormat
  /** A map file of the release, by release-relative path (for `//# sourceMappingURL=`). */
  mapFile: (path: string) => Omit<ShippedMap, 'path'> | undefined
  eager: boolean
}

export interface PreparedModule {
  format: ModuleFormat
  transformed: Transformed
  compiled: CompiledModule
  /** What the trace mapper needs to point stack frames at the source. */
  hotFile: HotFile
}

const TOP_LEVEL_AWAIT = /only valid in async functions and the top level bodies of modules/

export function prepareModule(origin: ModuleOrigin): PreparedModule {
  const { path } = origin
  const byExtension = formatOfExtension(path) ?? 'commonjs'
  const declared = byExtension === 'detect' ? origin.packageFormat() : byExtension
  const typescript = isTypeScriptPath(path)
  let input = typescript
    ? transformTypeScript(path, origin.source, origin.sha256, declared)
    : untransformed(prepareSource(origin.source))
  const key = typescript ? `${origin.sha256}:ts:${declared}` : `${origin.sha256}:js`
  // Only JavaScript files come with maps of their own (a TypeScript file is its own source).
  const shipped = typescript ? undefined : shippedMapOf(path, origin.source, origin.mapFile)
  const fileOf = (format: ModuleFormat, transformed: Transformed): HotFile => ({
    path,
    maps: transformed.maps,
    shipped,
    firstLineColumns: format === 'module' ? ESM_PROLOGUE.length : 0,
  })

  let format: ModuleFormat = declared === 'detect' ? 'commonjs' : declared
  if (format === 'commonjs') {
    const hotFile = fileOf('commonjs', input)
    try {
      const compiled = compileModule(prepareSource(input.code), 'commonjs', origin.filename, origin.eager)
      return { format, transformed: input, compiled, hotFile }
    } catch (error) {
      // Node's syntax detection: a `.js`/`.ts` without a package `type` that only parses as a module is one.
      if (declared !== 'detect' || !isModuleSyntaxError(error)) throw compileProblem(error, hotFile)
    }
    format = 'module'
  }
  // A TypeScript module declared as such is transformed in one step; a detected one, or JavaScript, now.
  if (!(typescript && declared === 'module')) input = toHotModule(path, input, key)
  const hotFile = fileOf('module', input)
  try {
    const compiled = compileModule(
      ESM_PROLOGUE + prepareSource(input.code),
      'module',
      origin.filename,
      origin.eager,
    )
    return { format, transformed: input, compiled, hotFile }
  } catch (error) {
    throw compileProblem(error, hotFile)
  }
}

/** A V8 compile error, at its original line; top-level await gets its own explanation. */
function compileProblem(error: unknown, file: HotFile): unknown {
  if (!(error instanceof SyntaxError)) return error
  const at = syntaxErrorPosition(error)
  const original = at ? originalPosition(file, at.line, at.column) : undefined
  const where = { file: original?.file ?? file.path, line: original?.line, column: original?.column }
  if (TOP_LEVEL_AWAIT.test(error.message)) {
    return new HotModuleError(
      {
        kind: 'top-level-await',
        ...where,
        message:
          'top-level await is not supported in hot modules: a release is evaluated synchronously (as ' +
          'require() of an ES module is). Move the await into a function: a unit method, or an exported ' +
          'async init() the cold part calls, or start the work without awaiting it',
      },
      { cause: error },
    )
  }
  return new HotModuleError(
    { kind: 'syntax', ...where, message: `SyntaxError: ${error.message}` },
    { cause: error },
  )
}
