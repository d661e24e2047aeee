/**
 * `relup <command>`: dispatch over the defined commands, help, and turning errors into a message
 * with the next step and an exit code (0 ok, 1 the operation failed, 2 usage or configuration,
 * 3 lock held; 130/143 a cancelled publish, see command.ts).
 */
import { readFileSync } from 'node:fs'
import { isRelupError } from '@relup/core'
import { LockHeldError, StorageAdapterMissingError } from '@relup/publisher'
import type { Command } from './command.js'
import { devCommand } from './commands/dev.js'
import { doctorCommand } from './commands/doctor.js'
import { gcCommand } from './commands/gc.js'
import { keygenCommand } from './commands/keygen.js'
import { packCommand } from './commands/pack.js'
import { publishCommand } from './commands/publish.js'
import { repairCommand } from './commands/repair.js'
import { rollbackCommand } from './commands/rollback.js'
import { rolloutCommand } from './commands/rollout.js'
import { runCommand } from './commands/run.js'
import { statusCommand } from './commands/status.js'
import { unlockCommand } from './commands/unlock.js'
import { UsageError } from './errors.js'
import { type Io, Output } from './output.js'

const commands: readonly Command[] = [
  publishCommand,
  statusCommand,
  rollbackCommand,
  repairCommand,
  unlockCommand,
  gcCommand,
  packCommand,
  doctorCommand,
  keygenCommand,
  devCommand,
  rolloutCommand,
  runCommand,
]

const find = (name: string | undefined) => commands.find((c) => c.name === name)

export function usage(): string {
  const width = Math.max(...commands.map((c) => c.name.length))
  return [
    'relup: hot upgrades for running Node.js servers',
    '',
    'Usage: relup <command> [options]',
    '',
    'Commands:',
    ...commands.map((c) => `  ${c.name.padEnd(width)}  ${c.summary}`),
    '',
    'Storage is chosen by URL with --storage or RELUP_STORAGE: file://<dir> (default file://./.relup),',
    's3://<bucket>[/<prefix>] (AWS_ENDPOINT_URL_S3, AWS_REGION, AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY), memory:.',
    'Every command takes --help and --json. The app comes from --app or RELUP_APP.',
  ].join('\n')
}

function version(): string {
  const pkg = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as {
    version: string
  }
  return pkg.version
}

export async function run(
  argv: string[],
  io: Io = { stdout: process.stdout, stderr: process.stderr, env: process.env, cwd: process.cwd() },
): Promise<number> {
  const out = new Output(io, argv.includes('--json'))
  const [name, ...rest] = argv
  if (name === undefined || name === 'help' || name === '--help' || name === '-h') {
    const topic = name === 'help' ? find(rest[0]) : undefined
    out.line(topic ? topic.help : usage())
    return name === undefined ? 2 : 0
  }
  if (name === '--version' || name === '-v') {
    io.stdout.write(`${version()}\n`)
    return 0
  }
  const command = find(name)
  if (!command) {
    out.error(`unknown command ${JSON.stringify(name)}; run \`relup --help\` for the list`)
    return 2
  }
  try {
    return await command.run(rest, { io, out })
  } catch (error) {
    out.error(error instanceof Error ? error.message : String(error))
    if (error instanceof UsageError) return 2
    if (error instanceof LockHeldError) return 3
    if (isRelupError(error, 'ERR_RELUP_CONFIG') || error instanceof StorageAdapterMissingError) return 2
    return 1
  }
}
