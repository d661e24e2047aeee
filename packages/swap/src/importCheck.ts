/**
 * Static imports of an ES module must name files of the release (or host packages): checked
 * before the module runs, by the engine's loader and by `checkRelease` alike, with the line where
 * the specifier is written.
 */
import type { ReleaseProblem } from './errors.js'

export type Resolution = { hot: string } | { host: string } | { problem: string; outside: boolean }

/** The problems of a module's static imports, and the release files they name. */
export function checkImports(
  path: string,
  source: string,
  imports: string[],
  resolve: (specifier: string) => Resolution,
): { problems: ReleaseProblem[]; files: string[] } {
  const problems: ReleaseProblem[] = []
  const files: string[] = []
  for (const specifier of imports) {
    const target = resolve(specifier)
    if ('hot' in target) files.push(target.hot)
    else if ('problem' in target) {
      problems.push({
        kind: target.outside ? 'import-outside-release' : 'unresolved-import',
        file: path,
        ...positionOf(source, specifier),
        message: target.problem,
      })
    }
  }
  return { problems, files }
}

/** Where a specifier is written in the source (its first quoted occurrence), 1-based. */
export function positionOf(source: string, specifier: string): { line?: number; column?: number } {
  const index = [`'${specifier}'`, `"${specifier}"`, `\`${specifier}\``]
    .map((quoted) => source.indexOf(quoted))
    .filter((at) => at !== -1)
    .sort((a, b) => a - b)[0]
  return index === undefined ? {} : positionAt(source, index)
}

/** The 1-based line and column of an index of the source. */
export function positionAt(source: string, index: number): { line: number; column: number } {
  const before = source.slice(0, index)
  return { line: before.split('\n').length, column: index - before.lastIndexOf('\n') }
}
