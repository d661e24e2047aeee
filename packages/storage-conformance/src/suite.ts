/**
 * The frame every conformance run shares: one `describe` named after the adapter, the tests of
 * what its stores declare, then one `describe` per group. A group is defined once and can run
 * alone (its export) or with the others (`storageConformance()`).
 */
import { strict as assert } from 'node:assert'
import {
  CAPABILITIES,
  type ConformanceGroup,
  type ConformanceOptions,
  createHarness,
  type Harness,
  resolveOptions,
} from './harness.js'

export interface ConformanceGroupSuite {
  /** Run this group alone (with the capability declaration tests), e.g. while developing an adapter. */
  (options: ConformanceOptions): void
  readonly group: ConformanceGroup
  /** The group's `describe` title. */
  readonly title: string
  /** Registers the group's tests; called inside the group's `describe`. */
  readonly register: (harness: Harness) => void
}

export function defineGroup(
  group: ConformanceGroup,
  title: string,
  register: (harness: Harness) => void,
): ConformanceGroupSuite {
  const suite: ConformanceGroupSuite = Object.assign(
    (options: ConformanceOptions) => registerSuite(options, [suite]),
    { group, title, register },
  )
  return suite
}

export function registerSuite(options: ConformanceOptions, groups: readonly ConformanceGroupSuite[]): void {
  const resolved = resolveOptions(options)
  resolved.describe(`storage conformance: ${resolved.name}`, () => {
    registerDeclarationTests(createHarness(resolved))
    for (const group of groups) {
      resolved.describe(group.title, () =>
        group.register(createHarness(resolved, resolved.skip.has(group.group))),
      )
    }
  })
}

/** The skips are decided from `options.capabilities`, so the stores must declare exactly that. */
function registerDeclarationTests(h: Harness): void {
  const expected = h.options.capabilities

  h.test('declares its capabilities as booleans', async (storage) => {
    assert.equal(typeof storage.name, 'string')
    for (const capability of CAPABILITIES) {
      assert.equal(
        typeof storage.capabilities[capability],
        'boolean',
        `capabilities.${capability} must be a boolean`,
      )
    }
  })

  h.test('declares exactly options.capabilities (every capability when omitted)', async (storage) => {
    const declared = (capabilities: typeof expected) =>
      CAPABILITIES.map((capability) => `${capability}: ${capabilities[capability]}`).join(', ')
    assert.equal(
      declared(storage.capabilities),
      declared(expected),
      h.options.capabilitiesGiven
        ? `${storage.name} declares { ${declared(storage.capabilities)} } but options.capabilities ` +
            `is { ${declared(expected)} }: the suite skips the tests of what options.capabilities ` +
            `leaves out, so it must be what the stores declare`
        : `options.capabilities is omitted, so the suite expects every capability, but ` +
            `${storage.name} declares { ${declared(storage.capabilities)} }: pass ` +
            `capabilities: <your storage>.capabilities so the tests of what it lacks are reported as skipped`,
    )
  })
}
