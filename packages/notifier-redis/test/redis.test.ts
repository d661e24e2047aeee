import { notifierSuite } from '@relup/testkit'
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest'
import { notifierFromUrl, redisNotifier } from '../src/index.js'

notifierSuite({ describe, it, beforeAll, afterAll, afterEach, expect }, 'redis', (url, { announceTimeout }) =>
  redisNotifier({ url, announceTimeout }),
)

describe('notifierFromUrl', () => {
  it('opens a Redis notifier named by its URL without the password', async () => {
    const notifier = notifierFromUrl('redis://relup:secret@127.0.0.1:1/0')
    expect(notifier.name).toBe('redis://relup:***@127.0.0.1:1/0')
    await notifier.close()
  })
})
