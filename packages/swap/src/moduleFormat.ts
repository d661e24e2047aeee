/**
 * Which module system a file of a release uses, decided the way Node decides it, but only from
 * the release itself: `.mjs`/`.mts` are ES modules, `.cjs`/`.cts` CommonJS, and `.js`/`.ts` follow
 * the `type` of the nearest `package.json` inside the release. Without a `type` there (or without
 * a `package.json`), Node's syntax detection applies: a file that only parses as an ES module is one.
 */

/** How a file is evaluated. */
export type ModuleFormat = 'commonjs' | 'module'

/** What the extension and `package.json` say; `'detect'` when only the syntax can tell. */
export type DeclaredFormat = ModuleFormat | 'detect'

/** Files that are evaluated as code: JavaScript and TypeScript, not declarations. */
const SCRIPT = /\.[cm]?[jt]s$/
const DECLARATION = /\.d\.[cm]?ts$/
const TYPESCRIPT = /\.[cm]?ts$/

export const isScriptPath = (path: string): boolean => SCRIPT.test(path) && !DECLARATION.test(path)

export const isTypeScriptPath = (path: string): boolean => TYPESCRIPT.test(path) && !DECLARATION.test(path)

/** Files the engine evaluates eagerly unless told otherwise: scripts outside `public/` and `node_modules/`. */
export const isHotScript = (path: string): boolean =>
  isScriptPath(path) && !path.startsWith('public/') && !/(^|\/)node_modules\//.test(path)

/** What a relative specifier may omit, tried in this order (CommonJS habits, TypeScript sources). */
export const EXTENSIONS = ['.js', '.cjs', '.mjs', '.ts', '.cts', '.mts', '.json', '.node']
export const INDEX_FILES = EXTENSIONS.filter((extension) => extension !== '.node').map(
  (extension) => `index${extension}`,
)

/** TypeScript's convention: `import './a.js'` names the source `a.ts` when the release ships sources. */
export const TYPESCRIPT_TWINS: Record<string, string> = { '.js': '.ts', '.mjs': '.mts', '.cjs': '.cts' }

/** What a file's extension says, or that its package decides. */
export function formatOfExtension(path: string): DeclaredFormat | undefined {
  if (/\.m[jt]s$/.test(path)) return 'module'
  if (/\.c[jt]s$/.test(path)) return 'commonjs'
  if (/\.[jt]s$/.test(path)) return 'detect'
  return undefined
}

/** The `type` of a `package.json` text: `'module'`, `'commonjs'`, or undefined (absent, or not JSON). */
export function packageType(text: string): ModuleFormat | undefined {
  try {
    const type = (JSON.parse(text) as { type?: unknown } | null)?.type
    return type === 'module' || type === 'commonjs' ? type : undefined
  } catch {
    return undefined
  }
}

/**
 * The V8 messages that mean "this is ES module syntax" when a file is compiled as CommonJS: the
 * ones Node's own syntax detection retries as an ES module.
 */
const ESM_SYNTAX_ERRORS = [
  'Cannot use import statement outside a module',
  "Unexpected token 'export'",
  "Cannot use 'import.meta' outside a module",
  // Top-level await: as Node does, retried as a module (which then refuses it with its own message).
  'await is only valid in async functions and the top level bodies of modules',
]

export function isModuleSyntaxError(error: unknown): boolean {
  return error instanceof SyntaxError && ESM_SYNTAX_ERRORS.some((message) => error.message.includes(message))
}
