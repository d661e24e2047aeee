/**
 * The page in a real browser (Debian's Chromium driven by playwright-core): an upgrade published
 * with the CLI shows up on the open page without a reload, and the counter is kept.
 *
 * Without /usr/bin/chromium (or CHROMIUM_PATH) the test is skipped with the command that installs
 * it; with RELUP_REQUIRE_BROWSER=1 (CI) a missing browser fails the run instead.
 */
import { existsSync } from 'node:fs'
import { type Browser, chromium, type Page } from 'playwright-core'
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest'
import { describeRun, Workspace } from './helpers.js'

const executablePath = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium'
const haveBrowser = existsSync(executablePath)
const requireBrowser = process.env.RELUP_REQUIRE_BROWSER === '1'

if (!haveBrowser && !requireBrowser) {
  console.warn(
    `browser test skipped: no Chromium at ${executablePath}. Install it with \`sudo apt-get install chromium\` ` +
      '(or point CHROMIUM_PATH at one); set RELUP_REQUIRE_BROWSER=1 to make its absence a failure.',
  )
}

describe.skipIf(!haveBrowser && !requireBrowser)('the demo page in Chromium', () => {
  let browser: Browser | undefined
  let work: Workspace

  beforeAll(async () => {
    if (!haveBrowser) {
      throw new Error(
        `RELUP_REQUIRE_BROWSER=1 but there is no Chromium at ${executablePath}: install it with \`sudo apt-get install chromium\``,
      )
    }
    browser = await chromium.launch({
      executablePath,
      args: [
        '--headless',
        '--no-sandbox',
        '--disable-gpu',
        '--disable-background-networking',
        '--disable-component-update',
        '--no-first-run',
      ],
    })
  })
  afterAll(async () => {
    await browser?.close()
  })
  beforeEach(async () => {
    work = await Workspace.create()
  })
  afterEach(async () => {
    await work.cleanUp()
  })

  const text = (page: Page, selector: string) => page.locator(selector).textContent()

  it('shows a published upgrade live, without reloading, and keeps the counter', async () => {
    const server = await work.startServer('m-browser')
    const page = await browser!.newPage()
    let loads = 0
    page.on('load', () => {
      loads += 1
    })
    const pageErrors: Error[] = []
    page.on('pageerror', (error) => pageErrors.push(error))

    await page.goto(server.url)
    await expect.poll(() => text(page, '#live')).toContain('live over SSE')
    expect(await text(page, '#version')).toBe('v1')
    expect(await text(page, 'h1')).toBe('relup demo v1')
    expect(await text(page, '#fingerprint')).toBe(server.ready.fingerprint)

    for (let i = 0; i < 3; i++) await page.click('#increment')
    await expect.poll(() => text(page, '#count')).toBe('3')

    // Anything the page holds in memory must still be there after the upgrade.
    await page.evaluate(() => {
      ;(globalThis as { __marker?: number }).__marker = 1
    })
    const published = await work.publish('v2')
    expect(published.code, describeRun(published)).toBe(0)

    // The v2 markup (new heading), swapped in over the open SSE connection.
    await expect.poll(() => text(page, 'h1'), { timeout: 10_000 }).toBe('relup demo, hot-upgraded v2')
    expect(await text(page, '#version')).toBe('v2')
    expect(await page.title()).toBe('relup demo · v2')
    expect(await text(page, '#count')).toBe('3')
    expect(await text(page, '#history')).toMatch(/^v2 at \d\d:\d\d:\d\d UTC, paused \d+\.\d{3} ms$/)
    expect(await text(page, '#fingerprint')).not.toBe(server.ready.fingerprint)
    // v2's stylesheet: public/ of the new release.
    await expect
      .poll(() => page.locator('h1').evaluate((h1) => (globalThis as any).getComputedStyle(h1).color))
      .toBe('rgb(124, 58, 237)')
    expect(await page.evaluate(() => (globalThis as { __marker?: number }).__marker)).toBe(1)
    // The page's own count of upgrades it received live (kept in its script, outside the swapped markup).
    expect(await page.evaluate(() => (globalThis as any).__relupDemo.upgrades)).toBe(1)
    expect(loads).toBe(1)

    // The swapped-in button works, and the count carries on from where it was.
    await page.click('#increment')
    await expect.poll(() => text(page, '#count')).toBe('4')
    expect(pageErrors).toEqual([])
    await page.close()
  })
})
