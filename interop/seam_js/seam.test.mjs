// Seam's official JavaScript SDK (`seam`, pinned in package.json), unchanged, against
// `lockbridge demo`'s /seam surface, under Node's test runner, with the simulators' locks
// (their /_sim/ control API) as the oracle. Run by interop/seam_js_check.py, which starts the
// demo and passes its JSON line in LOCKBRIDGE_DEMO.
import assert from 'node:assert/strict'
import { createServer } from 'node:http'
import { test } from 'node:test'

import { Seam, SeamHttpApiError, SeamWebhook } from 'seam'

const demo = JSON.parse(process.env.LOCKBRIDGE_DEMO)
const seam = new Seam({ apiKey: `seam_${demo.api_key}`, endpoint: `${demo.api_url}/seam` })

async function pins(device) {
  const vendor = device.device_type.replace(/_lock$/, '')
  const base = demo.simulators[vendor].base_url
  const lock = await (await fetch(`${base}/_sim/locks/${device.properties.serial_number}`)).json()
  const list = vendor === 'ttlock' ? Object.values(lock.passcodes).map((p) => p.code) : Object.values(lock.pins).map((p) => p.pin)
  return new Set(list)
}

async function until(what, cond) {
  const deadline = Date.now() + 30_000
  while (!(await cond())) {
    assert.ok(Date.now() < deadline, `never happened: ${what}`)
    await new Promise((resolve) => setTimeout(resolve, 200))
  }
}

const iso = (ms) => new Date(ms).toISOString().replace(/\.\d{3}Z$/, 'Z')

async function devices() {
  const locks = await seam.locks.list()
  const usable = locks.filter((d) => d.properties.online && d.can_program_online_access_codes)
  return {
    front: usable.find((d) => d.device_type === 'ttlock_lock'),
    tedee: usable.find((d) => d.device_type === 'tedee_lock'),
  }
}

test('a time-bound code: created, set on the lock, listed, updated, deleted', async () => {
  const { front } = await devices()
  const made = await seam.accessCodes.create({
    device_id: front.device_id,
    name: 'Seam JS guest',
    code: '508172',
    starts_at: iso(Date.now() - 60_000),
    ends_at: iso(Date.now() + 2 * 86_400_000),
  })
  await until('set', async () => (await seam.accessCodes.get({ access_code_id: made.access_code_id })).status === 'set')
  assert.ok((await pins(front)).has('508172'))
  const listed = await seam.accessCodes.list({ device_id: front.device_id })
  assert.ok(listed.some((c) => c.access_code_id === made.access_code_id))
  await seam.accessCodes.update({ access_code_id: made.access_code_id, code: '508173' })
  await until('the new PIN', async () => (await pins(front)).has('508173'))
  await seam.accessCodes.delete({ access_code_id: made.access_code_id })
  await until('off the lock', async () => !(await pins(front)).has('508173'))
  await assert.rejects(seam.accessCodes.get({ access_code_id: made.access_code_id }), (e) => {
    assert.ok(e instanceof SeamHttpApiError)
    assert.equal(e.code, 'access_code_not_found')
    return true
  })
})

test('unlock with the SDK waiting for its action attempt', async () => {
  const { front } = await devices()
  const attempt = await seam.locks.unlockDoor({ device_id: front.device_id })
  assert.equal(attempt.status, 'success')
  const base = demo.simulators.ttlock.base_url
  const lock = await (await fetch(`${base}/_sim/locks/${front.properties.serial_number}`)).json()
  assert.equal(lock.state, 1)
})

test('create_multiple across two vendors gives one PIN', async () => {
  const { front, tedee } = await devices()
  const codes = await seam.accessCodes.createMultiple({ device_ids: [front.device_id, tedee.device_id], name: 'JS two vendors' })
  assert.equal(codes.length, 2)
  assert.equal(codes[0].code, codes[1].code)
  const pin = codes[0].code
  await until('the shared PIN on both', async () => (await pins(front)).has(pin) && (await pins(tedee)).has(pin))
})

test('unmanaged codes, events, and a webhook verified by SeamWebhook', async () => {
  const { front } = await devices()
  const found = await seam.accessCodes.unmanaged.list({ device_id: front.device_id })
  assert.ok(found.length > 0)
  let delivered
  const arrived = new Promise((resolve) => (delivered = resolve))
  const server = createServer((req, res) => {
    let body = ''
    req.on('data', (c) => (body += c))
    req.on('end', () => {
      res.end('ok')
      delivered({ headers: req.headers, body })
    })
  })
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve))
  const hook = await seam.webhooks.create({ url: `http://127.0.0.1:${server.address().port}/hook`, event_types: ['access_code.set_on_device'] })
  const since = iso(Date.now() - 2_000)
  const made = await seam.accessCodes.create({ device_id: front.device_id, code: '381746' })
  const { headers, body } = await arrived
  server.close()
  const event = new SeamWebhook(hook.secret).verify(body, headers)
  assert.equal(event.event_type, 'access_code.set_on_device')
  assert.equal(event.access_code_id, made.access_code_id)
  const events = await seam.events.list({ since })
  assert.ok(events.some((e) => e.event_id === event.event_id))
  await seam.webhooks.delete({ webhook_id: hook.webhook_id })
})
