/**
 * The literal `require('x')` and `import('x')` calls of CommonJS code, found by a small lexer that
 * skips comments, strings, template literals and regular expressions, so a `require('pkg')` in a
 * comment or a string is not taken for one. CommonJS has no static imports: these are what its
 * code names when it runs (ES modules get theirs from the transform, `esmTransform.ts`).
 */

export interface LiteralCall {
  /** The string the call names, as written (without escapes: a specifier with one is skipped). */
  specifier: string
  /** `import()` (Node's loader) rather than `require()`. */
  dynamic: boolean
  /** Index of the opening quote in the scanned code. */
  index: number
}

/** After these words an expression starts, so a `/` begins a regular expression, not a division. */
const EXPRESSION_KEYWORDS = new Set([
  'return',
  'typeof',
  'instanceof',
  'in',
  'of',
  'new',
  'delete',
  'void',
  'throw',
  'case',
  'do',
  'else',
  'yield',
  'await',
])

const isIdentifierChar = (char: string) => /[\w$]/.test(char) || char.charCodeAt(0) > 0x7f

export function scanRequires(code: string): LiteralCall[] {
  const calls: LiteralCall[] = []
  // The brace depth at which each open `${` of a template literal started.
  const templates: number[] = []
  let depth = 0
  let regexAllowed = true
  let previous = '' // the last punctuator, or 'word' for an identifier, number or literal
  let i = 0
  while (i < code.length) {
    const char = code[i]!
    const next = code[i + 1]
    if (/\s/.test(char)) {
      i++
    } else if (char === '/' && next === '/') {
      i = indexOrEnd(code, '\n', i)
    } else if (char === '/' && next === '*') {
      i = indexOrEnd(code, '*/', i + 2) + 2
    } else if (char === "'" || char === '"') {
      i = endOfString(code, i)
      ;[regexAllowed, previous] = [false, 'word']
    } else if (char === '`' || (char === '}' && templates.at(-1) === depth - 1)) {
      // A template literal starts, or goes on after the end of one of its `${…}`.
      if (char === '}') depth = templates.pop()!
      const part = templatePart(code, i + 1)
      if (part.substitution) templates.push(depth++)
      i = part.end
      ;[regexAllowed, previous] = part.substitution ? [true, '{'] : [false, 'word']
    } else if (char === '/' && regexAllowed) {
      i = endOfRegex(code, i + 1)
      ;[regexAllowed, previous] = [false, 'word']
    } else if (isIdentifierChar(char)) {
      let end = i + 1
      while (end < code.length && isIdentifierChar(code[end]!)) end++
      const word = code.slice(i, end)
      if ((word === 'require' || word === 'import') && previous !== '.') {
        const call = literalArgument(code, end)
        if (call) calls.push({ ...call, dynamic: word === 'import' })
      }
      regexAllowed = EXPRESSION_KEYWORDS.has(word)
      previous = 'word'
      i = end
    } else {
      if (char === '{') depth++
      else if (char === '}') depth--
      regexAllowed = char !== ')' && char !== ']'
      previous = char
      i++
    }
  }
  return calls
}

/** `('x')` or `('x', …)` right after a `require`/`import` ending at `from`. */
function literalArgument(code: string, from: number): { specifier: string; index: number } | undefined {
  const open = /^\s*\(\s*/.exec(code.slice(from, from + 200))
  if (!open) return undefined
  const index = from + open[0].length
  const quote = code[index]
  if (quote !== "'" && quote !== '"' && quote !== '`') return undefined
  const close = code.indexOf(quote, index + 1)
  if (close === -1) return undefined
  const specifier = code.slice(index + 1, close)
  if (specifier === '' || /[\\\n]/.test(specifier) || (quote === '`' && specifier.includes('${')))
    return undefined
  return /^\s*[),]/.test(code.slice(close + 1, close + 50)) ? { specifier, index } : undefined
}

function indexOrEnd(code: string, text: string, from: number): number {
  const at = code.indexOf(text, from)
  return at === -1 ? code.length : at
}

/** The index after a quoted string starting at `start`. */
function endOfString(code: string, start: number): number {
  const quote = code[start]
  let i = start + 1
  while (i < code.length && code[i] !== quote && code[i] !== '\n') i += code[i] === '\\' ? 2 : 1
  return i + 1
}

/** Template text starting at `from`: where it ends (past its backquote, or its next `${`). */
function templatePart(code: string, from: number): { end: number; substitution: boolean } {
  let i = from
  while (i < code.length) {
    if (code[i] === '\\') i += 2
    else if (code[i] === '`') return { end: i + 1, substitution: false }
    else if (code[i] === '$' && code[i + 1] === '{') return { end: i + 2, substitution: true }
    else i++
  }
  return { end: i, substitution: false }
}

/** The index after a regular expression literal whose body starts at `from` (its flags follow as a word). */
function endOfRegex(code: string, from: number): number {
  let i = from
  let inClass = false
  while (i < code.length && code[i] !== '\n') {
    const char = code[i]
    if (char === '\\') i++
    else if (char === '[') inClass = true
    else if (char === ']') inClass = false
    else if (char === '/' && !inClass) return i + 1
    i++
  }
  return i
}
