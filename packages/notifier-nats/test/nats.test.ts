import { notifierSuite } from '@relup/testkit'
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest'
import { natsNotifier, notifierFromUrl, subjectFor } from '../src/index.js'

notifierSuite({ describe, it, beforeAll, afterAll, afterEach, expect }, 'nats', (url, { announceTimeout }) =>
  natsNotifier({ url, announceTimeout }),
)

describe('subjects and URLs', () => {
  it('maps a pointer key to a subject with no token separator or wildcard in it', () => {
    expect(subjectFor('relup.notify', 'relup/chat v2/current.json')).toBe(
      'relup.notify.relup/chat_v2/current_json',
    )
  })

  it('opens a NATS notifier named by its URL without the password', async () => {
    const notifier = notifierFromUrl('nats://relup:secret@127.0.0.1:1')
    expect(notifier.name).toBe('nats://relup:***@127.0.0.1:1')
    await notifier.close()
  })
})
