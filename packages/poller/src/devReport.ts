/**
 * What development mode prints: one line per reload or failure, for a person at a terminal.
 * Paths are shown relative to the working directory (`src/routes.ts:12:5`, which terminals and
 * editors open), where the engine names them relative to the release.
 */
import { isAbsolute, join, relative } from 'node:path'
import type { EngineStats } from '@relup/core'

export const PREFIX = 'relup dev:'

/** Core's engine stats, with what `@relup/swap` reports beyond them (read when present). */
export type DevStats = EngineStats & {
  unitsStarted?: string[] | undefined
  unitsStopped?: string[] | undefined
  warnings?: string[] | undefined
}

/** A release-relative path as the developer knows it: relative to the working directory when inside it. */
export function displayPath(hotDir: string, file: string): string {
  const absolute = join(hotDir, file)
  const shown = relative(process.cwd(), absolute)
  return shown === '' || shown.startsWith('..') || isAbsolute(shown) ? absolute : shown
}

const ms = (value: number) => value.toFixed(value < 1 ? 2 : value < 10 ? 1 : 0)

const list = (names: string[], shown = 4) =>
  names.length <= shown
    ? names.join(', ')
    : `${names.slice(0, shown).join(', ')} and ${names.length - shown} more`

/** `reloaded src/routes.ts in 12 ms (pause 0.2 ms; migrated: counter)`, and the warnings after it. */
export function reloadedLines(
  stats: DevStats,
  changed: string[],
  context: { hotDir: string; ms: number },
): string[] {
  const show = (file: string) => displayPath(context.hotDir, file)
  const modules = stats.moduleNames ?? []
  const edited = modules.filter((name) => changed.includes(name))
  const dependents = modules.length - edited.length
  const what =
    modules.length === 0
      ? `updated ${list(changed.map(show))} (no module to reload)`
      : `reloaded ${list((edited.length > 0 ? edited : modules).map(show))}${edited.length > 0 && dependents > 0 ? ` (+${dependents} importing ${dependents === 1 ? 'it' : 'them'})` : ''}`
  const units = [
    stats.unitNames.length > 0 ? `migrated: ${list(stats.unitNames)}` : 'no unit migrated',
    ...(stats.unitsStarted?.length ? [`started: ${list(stats.unitsStarted)}`] : []),
    ...(stats.unitsStopped?.length ? [`stopped: ${list(stats.unitsStopped)}`] : []),
  ]
  const lines = [
    `${PREFIX} ${what} in ${ms(context.ms)} ms (pause ${ms(stats.pauseMs)} ms; ${units.join('; ')})`,
  ]
  for (const warning of stats.warnings ?? []) lines.push(`${PREFIX} warning: ${warning}`)
  if (stats.degraded)
    lines.push(
      `${PREFIX} warning: old unit instances failed to dispose (${(stats.disposeErrors ?? []).map((e) => `${e.unit}: ${e.message}`).join('; ')}); they may still hold resources`,
    )
  return lines
}

interface Problem {
  file: string
  line?: number | undefined
  column?: number | undefined
  message: string
}

/** A loader problem (`HotModuleError.problem`) anywhere in the cause chain. */
function problemOf(error: unknown): Problem | null {
  for (let e = error, depth = 0; e instanceof Error && depth < 5; e = e.cause, depth++) {
    const problem = (e as { problem?: Partial<Problem> }).problem
    if (problem && typeof problem.file === 'string' && typeof problem.message === 'string')
      return problem as Problem
  }
  return null
}

/** The first frame of hot code in a stack: the engine names hot files relative to the release. */
const HOT_FRAME = /^\s*at (?:.*? \()?((?![a-z]+:|\/|\\)[^():]+):(\d+):(\d+)\)?$/m

/** Where the error is: `file:line:column` relative to the release, when the error tells. */
export function errorLocation(error: unknown): { file: string; line: number; column?: number } | null {
  const problem = problemOf(error)
  if (problem?.line !== undefined) {
    return {
      file: problem.file,
      line: problem.line,
      ...(problem.column !== undefined && { column: problem.column }),
    }
  }
  for (let e = error, depth = 0; e instanceof Error && depth < 5; e = e.cause, depth++) {
    const frame = HOT_FRAME.exec(e.stack ?? '')
    if (frame) return { file: frame[1]!, line: Number(frame[2]), column: Number(frame[3]) }
  }
  return null
}

/** The innermost message: what the developer's code or the loader said, without production advice. */
function reasonOf(error: unknown): string {
  const problem = problemOf(error)
  if (problem) return problem.message
  let innermost = error
  while (innermost instanceof Error && innermost.cause instanceof Error) innermost = innermost.cause
  if (innermost === error && error instanceof Error) {
    // The engine's own message: drop its advice for publishers and its closing sentence.
    return error.message
      .replace(/^upgrade \S+ → \S+ failed in \w+: /, '')
      .replace(/; fix it and publish a new version/, '')
      .replace(/\s*Nothing was changed: .*$/, '')
  }
  return innermost instanceof Error ? `${innermost.name}: ${innermost.message}` : String(innermost)
}

/**
 * `src/routes.ts:12:5: SyntaxError: Unexpected token (prepare); still serving dev-3`: the
 * position first, so that it is what the eye (and a terminal's link detection) finds.
 */
export function failedLine(error: unknown, context: { hotDir: string; serving: string }): string {
  const where = errorLocation(error)
  const phase = (error as { phase?: unknown }).phase
  const position = where
    ? `${displayPath(context.hotDir, where.file)}:${where.line}${where.column === undefined ? '' : `:${where.column}`}: `
    : ''
  const code = (error as { code?: unknown }).code
  const restart = code === 'ERR_RELUP_RESTART_REQUIRED' ? ' (restart the app to load this change)' : ''
  return `${PREFIX} ${position}${reasonOf(error)}${typeof phase === 'string' ? ` (${phase})` : ''}${restart}; still serving ${context.serving}`
}
