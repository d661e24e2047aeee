import { writeFile } from 'node:fs/promises'
import { resolve } from 'node:path'
import { generateSigningKeyPair } from '@relup/artifact'
import { parse } from '../args.js'
import type { CommandContext } from '../context.js'

export const keygenHelp = `relup keygen [--out <name>] [--json]

Create an Ed25519 key pair for signing upgrades: <name>.key (private: keep it in CI secrets)
and <name>.pub (public: give it to machines as trustedKeys). Default name: relup-signing.`

export async function keygenCommand(ctx: CommandContext, argv: string[]): Promise<number> {
  const { values } = parse(argv, { out: { type: 'string', short: 'o' } })
  if (values.help) {
    ctx.out.line(keygenHelp)
    return 0
  }
  const base = resolve(ctx.io.cwd, (values.out as string | undefined) ?? 'relup-signing')
  const pair = generateSigningKeyPair()
  await writeFile(`${base}.key`, pair.privateKey, { mode: 0o600, flag: 'wx' })
  await writeFile(`${base}.pub`, pair.publicKey, { flag: 'wx' })
  ctx.out.data({ ok: true, keyId: pair.keyId, privateKey: `${base}.key`, publicKey: `${base}.pub` })
  ctx.out.line(`key ${pair.keyId}: private ${base}.key (keep secret), public ${base}.pub`)
  ctx.out.line(`publish with: relup publish <dir> --app <name> --sign ${base}.key`)
  return 0
}
