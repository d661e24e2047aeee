/** How long in-flight calls of the suspended units may take to finish, by default (ms). */
export const DEFAULT_SUSPEND_TIMEOUT = 10_000

/** How long an async `dispose` may take before it counts as failed, by default (ms). */
export const DEFAULT_DISPOSE_TIMEOUT = 5_000
