/**
 * Files of the live release's `public/` directory (`engine.assetsDir`, which switches at each
 * upgrade). Only regular files inside that directory are served: no `..`, no absolute paths, no
 * symlinks leading out of it.
 */
import { createReadStream } from 'node:fs'
import { realpath, stat } from 'node:fs/promises'
import type { IncomingMessage, ServerResponse } from 'node:http'
import { extname, isAbsolute, relative, resolve, sep } from 'node:path'

const contentTypes: Record<string, string> = {
  '.css': 'text/css; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.json': 'application/json; charset=utf-8',
  '.html': 'text/html; charset=utf-8',
  '.txt': 'text/plain; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.ico': 'image/x-icon',
  '.woff2': 'font/woff2',
}

const inside = (root: string, path: string) => {
  const rel = relative(root, path)
  return rel !== '' && !rel.startsWith(`..${sep}`) && rel !== '..' && !isAbsolute(rel)
}

/**
 * The file an URL path (still percent-encoded, relative to `public/`) names inside `assetsDir`,
 * or null when it names nothing servable.
 */
export async function resolveAsset(assetsDir: string | null, encodedPath: string): Promise<string | null> {
  if (assetsDir === null) return null
  let path: string
  try {
    path = decodeURIComponent(encodedPath)
  } catch {
    return null
  }
  if (path === '' || path.includes('\0') || path.includes('\\')) return null
  if (path.split('/').some((segment) => segment === '..' || segment === '.' || segment === '')) return null
  const root = await realpath(assetsDir).catch(() => null)
  if (root === null) return null
  const candidate = resolve(root, path)
  if (!inside(root, candidate)) return null
  const real = await realpath(candidate).catch(() => null)
  if (real === null || !inside(root, real)) return null
  const info = await stat(real).catch(() => null)
  return info?.isFile() ? real : null
}

export async function serveAsset(
  req: IncomingMessage,
  res: ServerResponse,
  assetsDir: string | null,
  encodedPath: string,
): Promise<void> {
  const file = await resolveAsset(assetsDir, encodedPath)
  if (file === null) {
    res.writeHead(404, { 'content-type': 'text/plain; charset=utf-8' })
    res.end('not found')
    return
  }
  res.writeHead(200, {
    'content-type': contentTypes[extname(file).toLowerCase()] ?? 'application/octet-stream',
    // Each release has its own files under the same URLs: always revalidate.
    'cache-control': 'no-cache',
  })
  if (req.method === 'HEAD') {
    res.end()
    return
  }
  await new Promise<void>((done, fail) => {
    const stream = createReadStream(file)
    stream.on('error', fail)
    res.on('close', () => {
      stream.destroy()
      done()
    })
    stream.pipe(res)
  })
}
