import { writeFile } from 'node:fs/promises'
import { resolve } from 'node:path'
import { generateSigningKeyPair } from '@relup/artifact'
import { defineCommand } from '../command.js'

export const keygenCommand = defineCommand({
  name: 'keygen',
  summary: 'create an Ed25519 key pair for signing upgrades',
  help: `relup keygen [--out <name>] [--json]

Create an Ed25519 key pair for signing upgrades: <name>.key (private: keep it in CI secrets)
and <name>.pub (public: give it to machines as trustedKeys). Default name: relup-signing.`,
  flags: { out: { type: 'string', short: 'o' } },
  async run({ io, out, string }) {
    const base = resolve(io.cwd, string('out') ?? 'relup-signing')
    const pair = generateSigningKeyPair()
    await writeFile(`${base}.key`, pair.privateKey, { mode: 0o600, flag: 'wx' })
    await writeFile(`${base}.pub`, pair.publicKey, { flag: 'wx' })
    out.data({ ok: true, keyId: pair.keyId, privateKey: `${base}.key`, publicKey: `${base}.pub` })
    out.line(`key ${pair.keyId}: private ${base}.key (keep secret), public ${base}.pub`)
    out.line(`publish with: relup publish <dir> --app <name> --sign ${base}.key`)
    return 0
  },
})
