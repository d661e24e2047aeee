/**
 * `relup <command>`: dispatch, help, and turning errors into a message with the next step and
 * an exit code (0 ok, 1 the operation failed, 2 usage or configuration, 3 lock held).
 */
import { readFileSync } from 'node:fs'
import { isRelupError } from '@relup/core'
import { doctorCommand, doctorHelp } from './commands/doctor.js'
import { keygenCommand, keygenHelp } from './commands/keygen.js'
import { packCommand, packHelp } from './commands/pack.js'
import { publishCommand, publishHelp } from './commands/publish.js'
import { rollbackCommand, rollbackHelp } from './commands/rollback.js'
import { statusCommand, statusHelp } from './commands/status.js'
import { unlockCommand, unlockHelp } from './commands/unlock.js'
import { type CommandContext, storageOpener } from './context.js'
import { LockHeldError, UsageError } from './errors.js'
import { type Io, Output } from './output.js'

type Command = (ctx: CommandContext, argv: string[]) => Promise<number>

const commands: Record<string, { run: Command; help: string; summary: string }> = {
  publish: {
    run: publishCommand,
    help: publishHelp,
    summary: 'pack, upload and roll out a hot upgrade, then wait for the fleet',
  },
  status: { run: statusCommand, help: statusHelp, summary: 'the pointer, the lock and every machine' },
  rollback: {
    run: rollbackCommand,
    help: rollbackHelp,
    summary: 'point the fleet back at an earlier version',
  },
  unlock: { run: unlockCommand, help: unlockHelp, summary: 'remove a stale deploy lock' },
  pack: { run: packCommand, help: packHelp, summary: 'build an artifact and its manifest locally' },
  doctor: { run: doctorCommand, help: doctorHelp, summary: 'probe a storage backend for what relup needs' },
  keygen: {
    run: keygenCommand,
    help: keygenHelp,
    summary: 'create an Ed25519 key pair for signing upgrades',
  },
}

export function usage(): string {
  const names = Object.keys(commands)
  const width = Math.max(...names.map((n) => n.length))
  return [
    'relup: hot upgrades for running Node.js servers',
    '',
    'Usage: relup <command> [options]',
    '',
    'Commands:',
    ...names.map((n) => `  ${n.padEnd(width)}  ${commands[n]!.summary}`),
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
  const json = argv.includes('--json')
  const out = new Output(io, json)
  const [name, ...rest] = argv
  if (name === undefined || name === 'help' || name === '--help' || name === '-h') {
    const topic = name === 'help' ? rest[0] : undefined
    out.line(topic && commands[topic] ? commands[topic].help : usage())
    return name === undefined ? 2 : 0
  }
  if (name === '--version' || name === '-v') {
    io.stdout.write(`${version()}\n`)
    return 0
  }
  const command = commands[name]
  if (!command) {
    out.error(`unknown command ${JSON.stringify(name)}; run \`relup --help\` for the list`)
    return 2
  }
  const ctx: CommandContext = { io, out, storage: storageOpener(io) }
  try {
    return await command.run(ctx, rest)
  } catch (error) {
    out.error(error instanceof Error ? error.message : String(error))
    if (error instanceof UsageError) return 2
    if (error instanceof LockHeldError) return 3
    if (isRelupError(error, 'ERR_RELUP_CONFIG')) return 2
    return 1
  }
}
