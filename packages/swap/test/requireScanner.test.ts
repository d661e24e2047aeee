/**
 * The literal `require()`/`import()` calls of CommonJS code: what `checkRelease` reports as host
 * imports of a CommonJS module. Only calls the code makes count, not text that looks like one.
 */
import { describe, expect, it } from 'vitest'
import { scanRequires } from '../src/requireScanner.js'

const specifiers = (code: string) =>
  scanRequires(code).map(({ specifier, dynamic }) => (dynamic ? `import ${specifier}` : specifier))

describe('scanRequires', () => {
  it('finds literal require() and import() calls, with where the specifier is written', () => {
    const code = `const a = require('lodash')\nconst b = require("@scope/pkg/sub")\nconst c = require(\`tmpl\`)\nconst d = () => import('late', { with: {} })`
    expect(specifiers(code)).toEqual(['lodash', '@scope/pkg/sub', 'tmpl', 'import late'])
    expect(scanRequires(code)[0]!.index).toBe(code.indexOf("'lodash'"))
  })

  it('ignores comments, strings, template text and regular expressions that look like calls', () => {
    const code = [
      "// require('in-line-comment')",
      "/* require('in-block-comment') */",
      'const s = "require(\'in-a-string\')" + \'import("in-another")\'',
      // biome-ignore lint/suspicious/noTemplateCurlyInString: the code under test is a template literal
      "const t = `require('in-a-template') ${require('inside-substitution')} require('after')`",
      "const r = /require\\('in-a-regex'\\)/.test(s) ? 1 : 2",
      "const q = x / require('after-a-division') / 2",
      "module.require('a-member'); obj.import('another-member')",
      "require(name); require('a' + b); require('real')",
    ].join('\n')
    expect(specifiers(code)).toEqual(['inside-substitution', 'after-a-division', 'real'])
  })

  it('keeps going after nested templates and braces', () => {
    const code =
      // biome-ignore lint/suspicious/noTemplateCurlyInString: the code under test is a template literal
      "const f = (o) => `${o.map((x) => `${x}`).join('}')}`\nif (f) { require('after-nesting') }\nreturn /}/, require('after-regex')"
    expect(specifiers(code)).toEqual(['after-nesting', 'after-regex'])
  })
})
