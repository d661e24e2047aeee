import { mkdir, mkdtemp, rm, symlink, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { resolveAsset } from '../src/assets.js'

let root: string
let publicDir: string

beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'relup-demo-assets-'))
  publicDir = join(root, 'release', 'public')
  await mkdir(join(publicDir, 'img'), { recursive: true })
  await writeFile(join(publicDir, 'style.css'), 'body {}')
  await writeFile(join(publicDir, 'img', 'logo.svg'), '<svg/>')
  await writeFile(join(root, 'release', 'router.js'), 'module.exports = () => {}')
  await writeFile(join(root, 'secret.txt'), 'secret')
  await symlink(join(root, 'secret.txt'), join(publicDir, 'link-out.txt'))
  await symlink(join(publicDir, 'style.css'), join(publicDir, 'link-in.css'))
})
afterAll(async () => {
  await rm(root, { recursive: true, force: true })
})

describe('resolveAsset', () => {
  it('finds regular files inside public/, percent-encoded or not', async () => {
    expect(await resolveAsset(publicDir, 'style.css')).toBe(join(publicDir, 'style.css'))
    expect(await resolveAsset(publicDir, 'img%2Flogo.svg')).toBe(join(publicDir, 'img', 'logo.svg'))
    expect(await resolveAsset(publicDir, 'link-in.css')).toBe(join(publicDir, 'style.css'))
  })

  it.each([
    ['a parent segment', '../router.js'],
    ['an encoded parent segment', '..%2frouter.js'],
    ['a nested parent segment', 'img/../../router.js'],
    ['a backslash', '..%5crouter.js'],
    ['an absolute path', '%2fetc%2fpasswd'],
    ['a NUL byte', 'style.css%00.txt'],
    ['malformed percent-encoding', '%E0%A4%A'],
    ['a directory', 'img'],
    ['nothing', ''],
    ['a missing file', 'missing.css'],
    ['a symlink leading out of public/', 'link-out.txt'],
  ])('refuses %s', async (_, path) => {
    expect(await resolveAsset(publicDir, path)).toBeNull()
  })

  it('serves nothing when the release has no public/', async () => {
    expect(await resolveAsset(null, 'style.css')).toBeNull()
  })
})
