// The page at `/`, rendered by the hot code so that an upgrade can change it. Its inline script is
// the "LiveView" part: it follows the SSE stream and, when a `version` event arrives, fetches the
// new version's markup and swaps it in without reloading the page.

const escapeHtml = (value) =>
  String(value).replace(
    /[&<>"']/g,
    (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c],
  )

const formatHistory = (entry) =>
  `${entry.version} at ${entry.at.slice(11, 19)} UTC, paused ${entry.pauseMs.toFixed(3)} ms`

function historyItems(history) {
  if (history.length === 0) return '<li class="empty">none yet: publish v2 (see below)</li>'
  return history.map((entry) => `<li>${escapeHtml(formatHistory(entry))}</li>`).join('')
}

// The same script ships in every version (protocol 1 in data-client): a swapped-in page never runs
// its own <script>, so a version that needs a new script bumps data-client and the page reloads.
const clientScript = `
(() => {
  const $ = (id) => document.getElementById(id)
  const view = { connected: false, upgrades: 0, loadedAt: new Date().toISOString().slice(11, 19), data: {} }
  window.__relupDemo = view
  const setText = (id, value) => { const el = $(id); if (el) el.textContent = String(value) }
  const formatHistory = ${formatHistory.toString()}
  function render() {
    const d = view.data
    if (d.count !== undefined) setText('count', d.count)
    if (d.changedAt !== undefined) setText('changed-at', d.changedAt ? d.changedAt.slice(11, 19) + ' UTC' : 'not recorded before v3')
    if (d.version) setText('version', d.version)
    if (d.fingerprint) setText('fingerprint', d.fingerprint)
    if (d.clients !== undefined) setText('clients', d.clients)
    const list = $('history')
    if (list && d.history) {
      list.replaceChildren(...d.history.map((entry) => {
        const item = document.createElement('li')
        item.textContent = formatHistory(entry)
        return item
      }))
      if (d.history.length === 0) list.innerHTML = '<li class="empty">none yet: publish v2 (see below)</li>'
    }
    const live = $('live')
    if (live) {
      live.className = view.connected ? 'live on' : 'live'
      live.textContent = view.connected
        ? 'live over SSE · page loaded at ' + view.loadedAt + ' UTC, never reloaded · ' + view.upgrades + ' upgrade(s) arrived live'
        : 'reconnecting…'
    }
  }
  const merge = (data) => { Object.assign(view.data, data); render() }
  async function swapMarkup() {
    const response = await fetch('/', { cache: 'no-store' })
    const next = new DOMParser().parseFromString(await response.text(), 'text/html')
    if (next.body.dataset.client !== document.body.dataset.client) return location.reload()
    const app = next.getElementById('app')
    if (!app) return
    document.title = next.title
    const theme = next.getElementById('theme')
    if (theme) $('theme').setAttribute('href', theme.getAttribute('href'))
    $('app').replaceWith(document.adoptNode(app))
    render()
  }
  const events = new EventSource('/events')
  events.addEventListener('hello', (event) => {
    view.connected = true
    const data = JSON.parse(event.data)
    merge(data)
    if (data.version !== $('app').dataset.version) swapMarkup()
  })
  events.addEventListener('counter', (event) => merge(JSON.parse(event.data)))
  events.addEventListener('version', (event) => {
    view.upgrades += 1
    merge(JSON.parse(event.data))
    swapMarkup()
  })
  events.addEventListener('error', () => { view.connected = false; render() })
  document.addEventListener('click', async (event) => {
    const button = event.target.closest('[data-action="increment"]')
    if (!button) return
    const response = await fetch('/api/increment', { method: 'POST' })
    // While the stream is live its counter event is the truth; otherwise show the answer.
    if (!view.connected && response.ok) merge(await response.json())
  })
})()
`

/** The whole page for `GET /`. */
exports.render = (view) => `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>relup demo · ${escapeHtml(view.version)}</title>
<link id="theme" rel="stylesheet" href="/public/style.css?v=${encodeURIComponent(view.version)}">
</head>
<body data-client="1">
<main id="app" data-version="${escapeHtml(view.version)}">
  <header>
    <h1>relup demo <span class="badge" id="version">${escapeHtml(view.version)}</span></h1>
    <p class="tagline">A Node.js server that upgrades itself while it runs: no restart, no dropped connection.</p>
  </header>
  <section class="card">
    <h2>Counter</h2>
    <p class="count"><output id="count">${escapeHtml(view.count)}</output></p>
    <button type="button" id="increment" data-action="increment">Increment</button>
    <p class="note">Kept in the <code>counter</code> unit's state, which every upgrade hands to the next version.</p>
  </section>
  <section class="card">
    <h2>Running</h2>
    <dl>
      <dt>version</dt><dd id="running-version">${escapeHtml(view.version)}</dd>
      <dt>fingerprint</dt><dd><code id="fingerprint">${escapeHtml(view.fingerprint)}</code></dd>
      <dt>base</dt><dd><code>${escapeHtml(view.baseRef)}</code></dd>
      <dt>machine</dt><dd><code>${escapeHtml(view.machineId)}</code></dd>
      <dt>live clients</dt><dd id="clients">${escapeHtml(view.clients)}</dd>
    </dl>
  </section>
  <section class="card">
    <h2>Upgrade history</h2>
    <ol id="history">${historyItems(view.history)}</ol>
  </section>
  <p id="live" class="live">connecting…</p>
  <section class="card help">
    <h2>Upgrade me</h2>
    <p>From the repository root, publish the next version; this page follows it live:</p>
    <pre>node packages/cli/dist/bin.js publish apps/demo/hot/v2 --version v2 \\
  --app ${escapeHtml(view.app)} --storage ${escapeHtml(view.storage)}</pre>
  </section>
</main>
<script>${clientScript}</script>
</body>
</html>
`
