// tus-js-client, unmodified, uploading to a running "ingest serve" through its tus server at
// /tus/. Run by go test ./e2e (tusjs_test.go), which starts the portal and passes its URL and a
// user's API token in INGEST_URL and INGEST_TOKEN. Every upload ends with the server's SHA-256 of
// the stored file checked against the file's own.

import assert from 'node:assert/strict'
import { createHash, randomBytes } from 'node:crypto'
import fs from 'node:fs'
import http from 'node:http'
import os from 'node:os'
import path from 'node:path'
import { Readable } from 'node:stream'
import { setTimeout as sleep } from 'node:timers/promises'
import { test } from 'node:test'

import { FileUrlStorage, Upload, defaultOptions } from 'tus-js-client'

const base = process.env.INGEST_URL
const token = process.env.INGEST_TOKEN
if (!base || !token) {
  throw new Error('INGEST_URL and INGEST_TOKEN name the portal and a user API token: run go test ./e2e')
}
const endpoint = new URL('/tus/', base).toString()
const auth = { Authorization: `Bearer ${token}` }
const MiB = 1 << 20

// upload prepares one upload; its promise done resolves with what onSuccess got, the upload's URL
// and every request the client sent (method, URL, a few headers, the answer's status), in order.
// Retries are off unless asked for: a failure is the server's answer, not something to paper
// over.
function upload(input, options = {}) {
  const requests = []
  const sent = new WeakMap()
  let instance
  const done = new Promise((resolve, reject) => {
    instance = new Upload(input, {
      endpoint,
      headers: auth,
      retryDelays: null,
      ...options,
      onBeforeRequest: async (req) => {
        const r = { method: req.getMethod(), url: req.getURL(), offset: req.getHeader('Upload-Offset'),
          override: req.getHeader('X-HTTP-Method-Override'), concat: req.getHeader('Upload-Concat') }
        requests.push(r)
        sent.set(req, r)
        await options.onBeforeRequest?.(req)
      },
      onAfterResponse: async (req, res) => {
        sent.get(req).status = res.getStatus()
        await options.onAfterResponse?.(req, res)
      },
      onSuccess: (payload) => resolve({ ...payload, url: instance.url, requests }),
      onError: reject,
    })
  })
  return { instance, done }
}

// run starts an upload and waits for its end.
async function run(input, options) {
  const u = upload(input, options)
  u.instance.start()
  return u.done
}

function sha256(data) {
  return createHash('sha256').update(data).digest('hex')
}

// file returns n random bytes.
function file(n) {
  return randomBytes(n)
}

// onDisk writes data to a temporary file and returns its path.
function onDisk(t, data) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tusjs-'))
  t.after(() => fs.rmSync(dir, { recursive: true, force: true }))
  const p = path.join(dir, 'upload.bin')
  fs.writeFileSync(p, data)
  return p
}

// api calls the portal's native API with the user's token.
async function api(pathname, init = {}) {
  return fetch(new URL(pathname, base), { ...init, headers: { ...auth, ...init.headers } })
}

// tus sends one request to an upload URL, as a test's own probe (never as the client under test).
async function tus(method, url, headers = {}, body) {
  return fetch(url, { method, body, headers: { ...auth, 'Tus-Resumable': '1.0.0', ...headers } })
}

// checkStored checks that the upload's last response names a file that the portal stored with
// the SHA-256 and size of data, that its Repr-Digest says the same, and returns the file.
async function checkStored(result, data) {
  const res = result.lastResponse
  const id = res.getHeader('Ingest-File-Id')
  assert.ok(id, `the last response (${res.getStatus()}) carries Ingest-File-Id`)
  const digest = createHash('sha256').update(data).digest('base64')
  assert.equal(res.getHeader('Repr-Digest'), `sha-256=:${digest}:`)
  const got = await api(`/api/v1/files/${id}`)
  assert.equal(got.status, 200)
  const f = await got.json()
  assert.equal(f.status, 'STORED')
  assert.equal(f.size_bytes, data.length)
  assert.equal(f.sha256, sha256(data), "the server's SHA-256 is the file's")
  return f
}

// count returns how many of the requests have the method.
function count(requests, method) {
  return requests.filter((r) => r.method === method).length
}

// held tells whether a request is writing the upload, without disturbing it: a PATCH at an
// offset the upload cannot be at answers 423 while another request holds the upload, else 409.
async function held(url) {
  const probe = await tus('PATCH', url, { 'Content-Type': 'application/offset+octet-stream', 'Upload-Offset': String(2 ** 50) })
  await probe.arrayBuffer()
  assert.ok([409, 423].includes(probe.status), `a PATCH at a wrong offset answered ${probe.status}`)
  return probe.status === 423
}

// settled waits until no request writes the upload any more and returns its offset. The server
// learns that an aborted PATCH has ended only when reading its body fails; until then it holds
// the upload and the offset may still move.
// Each probe is itself a PATCH that holds the upload for a moment, so the answer of the last
// probe decides: asking once more could find that probe's own hold.
async function settled(url) {
  let busy = true
  for (let i = 0; i < 200; i++) {
    if (!(busy = await held(url))) {
      break
    }
    await sleep(50)
  }
  assert.ok(!busy, `upload ${url} is still being written`)
  const head = await tus('HEAD', url)
  assert.equal(head.status, 200)
  return Number(head.headers.get('Upload-Offset'))
}

test('one large PATCH (the default chunkSize, Infinity)', async () => {
  const data = file(6 * MiB + 12345)
  const result = await run(data, { metadata: { filename: 'large.bin' } })
  assert.equal(count(result.requests, 'POST'), 1)
  assert.equal(count(result.requests, 'PATCH'), 1)
  const f = await checkStored(result, data)
  assert.equal(f.original_filename, 'large.bin')
})

test('1 MiB chunks from a file on disk', async (t) => {
  const data = file(3 * MiB + 777)
  const accepted = []
  const result = await run(fs.createReadStream(onDisk(t, data)), {
    chunkSize: MiB,
    onChunkComplete: (_size, bytesAccepted) => accepted.push(bytesAccepted),
  })
  assert.deepEqual(accepted, [MiB, 2 * MiB, 3 * MiB, data.length])
  assert.deepEqual(
    result.requests.filter((r) => r.method === 'PATCH').map((r) => Number(r.offset)),
    [0, MiB, 2 * MiB, 3 * MiB],
  )
  await checkStored(result, data)
})

test('uploadDataDuringCreation', async (t) => {
  await t.test('the whole file in the POST', async () => {
    const data = file(2 * MiB + 5)
    const result = await run(data, { uploadDataDuringCreation: true })
    assert.deepEqual(result.requests.map((r) => `${r.method} ${r.status}`), ['POST 201'])
    await checkStored(result, data)
  })
  await t.test('the first chunk in the POST, the rest in PATCHes', async () => {
    const data = file(2 * MiB + 5)
    const result = await run(data, { uploadDataDuringCreation: true, chunkSize: MiB })
    assert.deepEqual(result.requests.map((r) => `${r.method} ${r.status}`), ['POST 201', 'PATCH 204', 'PATCH 204'])
    await checkStored(result, data)
  })
})

test('a stream of unknown length (uploadLengthDeferred)', async (t) => {
  // A stream that ends inside a chunk, and one that ends on a chunk's boundary, where the client
  // learns the length only after a full chunk and declares it in an empty PATCH.
  for (const size of [2 * MiB + 4321, 2 * MiB]) {
    await t.test(`${size} bytes`, async () => {
      const data = file(size)
      const pieces = []
      for (let i = 0; i < data.length; i += 100000) {
        pieces.push(data.subarray(i, i + 100000))
      }
      const result = await run(Readable.from(pieces), { uploadLengthDeferred: true, chunkSize: MiB })
      const patches = result.requests.filter((r) => r.method === 'PATCH')
      assert.ok(patches.length >= 3, `${patches.length} PATCHes`)
      assert.ok(patches.every((r) => r.status === 204))
      await checkStored(result, data)
    })
  }
})

test('parallelUploads: 4 (partial uploads, then their concatenation)', async () => {
  const data = file(4 * MiB + 3)
  const result = await run(data, { parallelUploads: 4, metadata: { filename: 'parallel.bin' } })
  const posts = result.requests.filter((r) => r.method === 'POST')
  assert.equal(posts.filter((r) => r.concat === 'partial').length, 4)
  assert.equal(posts.filter((r) => r.concat?.startsWith('final;')).length, 1)
  const f = await checkStored(result, data)
  assert.equal(f.original_filename, 'parallel.bin')
})

test('abort at about half, then resume from the stored URL: only the rest is sent', async (t) => {
  const data = file(4 * MiB + 99)
  const source = onDisk(t, data)
  const urlStorage = new FileUrlStorage(path.join(path.dirname(source), 'tus-urls.json'))

  // 1 MiB PATCHes, the upload aborted once about half of the file is acknowledged.
  let url
  let acknowledged
  await new Promise((resolve, reject) => {
    const first = new Upload(fs.createReadStream(source), {
      endpoint,
      headers: auth,
      retryDelays: null,
      chunkSize: MiB,
      urlStorage,
      onChunkComplete: (_size, bytesAccepted) => {
        if (bytesAccepted >= 2 * MiB && acknowledged === undefined) {
          url = first.url
          acknowledged = bytesAccepted
          first.abort().then(resolve, reject)
        }
      },
      onSuccess: () => reject(new Error('the upload finished before it was aborted')),
      onError: reject,
    })
    first.start()
  })
  assert.equal(await settled(url), acknowledged)

  // A new client finds the URL in its storage, asks the server where the upload stands, and sends
  // the rest.
  const second = upload(fs.createReadStream(source), { urlStorage, chunkSize: MiB })
  const previous = await second.instance.findPreviousUploads()
  assert.equal(previous.length, 1)
  assert.equal(previous[0].uploadUrl, url)
  second.instance.resumeFromPreviousUpload(previous[0])
  second.instance.start()
  const result = await second.done
  assert.equal(result.url, url)
  // Each PATCH carries the bytes from its offset to the next one's (or to the end): together,
  // the bytes from the acknowledged offset on, and nothing before it.
  const rest = []
  for (let offset = acknowledged; offset < data.length; offset += MiB) {
    rest.push(`PATCH ${offset} 204`)
  }
  assert.deepEqual(result.requests.map((r) => `${r.method} ${r.offset ?? ''} ${r.status}`.replace('  ', ' ')), ['HEAD 200', ...rest])
  await checkStored(result, data)
})

test('parallelUploads: aborted, then resumed from the stored partial upload URLs', async (t) => {
  const data = file(4 * MiB + 1001)
  const source = onDisk(t, data)
  const urlStorage = new FileUrlStorage(path.join(path.dirname(source), 'tus-urls.json'))
  const options = { parallelUploads: 4, chunkSize: 256 * 1024, urlStorage }

  // Stopped once six chunks of the partial uploads are acknowledged and their URLs are stored:
  // the client stores them asynchronously once all four exist, so the abort waits for that.
  let chunks = 0
  const stored = async () => {
    for (const deadline = Date.now() + 10000; Date.now() < deadline; await sleep(20)) {
      if ((await new Upload(data, { endpoint, ...options }).findPreviousUploads()).length > 0) return
    }
    throw new Error('the partial upload URLs were not stored within 10 s')
  }
  await new Promise((resolve, reject) => {
    const first = new Upload(data, {
      endpoint,
      headers: auth,
      retryDelays: null,
      ...options,
      onChunkComplete: () => {
        if (++chunks === 6) {
          stored().then(() => first.abort()).then(resolve, reject)
        }
      },
      onSuccess: () => reject(new Error('the upload finished before it was aborted')),
      onError: reject,
    })
    first.start()
  })

  const second = upload(data, options)
  const previous = await second.instance.findPreviousUploads()
  assert.equal(previous.length, 1)
  assert.equal(previous[0].parallelUploadUrls.length, 4)
  for (const url of previous[0].parallelUploadUrls) {
    await settled(url)
  }
  second.instance.resumeFromPreviousUpload(previous[0])
  second.instance.start()
  const result = await second.done
  // Each partial upload resumed where it stood (HEAD), none started again; one final POST.
  const posts = result.requests.filter((r) => r.method === 'POST')
  assert.deepEqual(posts.map((r) => r.concat?.split(';')[0]), ['final'])
  assert.equal(count(result.requests, 'HEAD'), 4)
  // tus-js-client splits the file in four (the last takes the remainder) and each piece in chunks:
  // none of the six acknowledged is sent again.
  const piece = Math.floor(data.length / 4)
  const all = 3 * Math.ceil(piece / options.chunkSize) + Math.ceil((data.length - 3 * piece) / options.chunkSize)
  const patches = count(result.requests, 'PATCH')
  assert.ok(patches <= all - 6, `${patches} PATCHes of ${all} chunks after 6 were acknowledged`)
  await checkStored(result, data)
})

test('resuming an upload that has finished: HEAD names the stored file, nothing is sent', async () => {
  const data = file(MiB + 3)
  const done = await run(data)
  const again = await run(data, { uploadUrl: done.url })
  assert.deepEqual(again.requests.map((r) => `${r.method} ${r.status}`), ['HEAD 200'])
  const f = await checkStored(again, data)
  assert.equal(f.id, done.lastResponse.getHeader('Ingest-File-Id'))
})

test('abort(true) terminates the upload: its URL answers 404', async () => {
  const data = file(3 * MiB)
  let url
  await new Promise((resolve, reject) => {
    const u = new Upload(data, {
      endpoint,
      headers: auth,
      retryDelays: null,
      chunkSize: MiB,
      onChunkComplete: () => {
        url = u.url
        u.abort(true).then(resolve, reject)
      },
      onSuccess: () => reject(new Error('the upload finished before it was aborted')),
      onError: reject,
    })
    u.start()
  })
  const head = await tus('HEAD', url)
  assert.equal(head.status, 404)
  assert.equal(head.headers.get('Upload-Offset'), null)
  const patch = await tus('PATCH', url, { 'Content-Type': 'application/offset+octet-stream', 'Upload-Offset': String(MiB) }, data.subarray(MiB))
  assert.equal(patch.status, 404)
  assert.equal((await patch.json()).error.code, 'NOT_FOUND')
})

test('a stale upload URL: the client starts a new upload', async (t) => {
  // The URL of an upload that was terminated, and one that never existed.
  const created = await tus('POST', endpoint, { 'Upload-Length': '10' })
  assert.equal(created.status, 201)
  const terminated = new URL(created.headers.get('Location'), endpoint).toString()
  assert.equal((await tus('DELETE', terminated)).status, 204)
  const never = new URL('/tus/00000000-0000-4000-8000-000000000000', base).toString()
  for (const [name, stale] of [['terminated', terminated], ['never existed', never]]) {
    await t.test(name, async () => {
      const data = file(MiB + 1)
      const result = await run(data, { uploadUrl: stale })
      assert.deepEqual(result.requests.map((r) => `${r.method} ${r.status}`), ['HEAD 404', 'POST 201', 'PATCH 204'])
      assert.notEqual(result.url, stale)
      await checkStored(result, data)
    })
  }
})

test('overridePatchMethod: PATCH sent as POST with X-HTTP-Method-Override', async () => {
  const data = file(2 * MiB + 17)
  const result = await run(data, { overridePatchMethod: true, chunkSize: MiB })
  const overridden = result.requests.filter((r) => r.override === 'PATCH')
  assert.equal(overridden.length, 3)
  assert.ok(overridden.every((r) => r.method === 'POST' && r.status === 204))
  assert.equal(count(result.requests, 'PATCH'), 0)
  await checkStored(result, data)
})

test('a 0-byte file', async () => {
  const data = Buffer.alloc(0)
  const result = await run(data, { metadata: { filename: 'empty.txt' } })
  assert.deepEqual(result.requests.map((r) => `${r.method} ${r.status}`), ['POST 201'])
  const f = await checkStored(result, data)
  assert.equal(f.sha256, 'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855')
})

test('UTF-8 metadata', async () => {
  const name = 'résumé – 東京.txt'
  const data = Buffer.from('ünïcödé ✓\n')
  const result = await run(data, { metadata: { filename: name, filetype: 'text/plain; charset=utf-8' } })
  const f = await checkStored(result, data)
  assert.equal(f.original_filename, name)
  assert.equal(f.content_type, 'text/plain; charset=utf-8')
  // HEAD gives the name back in Upload-Metadata, base64 of its UTF-8.
  const head = await tus('HEAD', result.url)
  const meta = Object.fromEntries(head.headers.get('Upload-Metadata').split(',').map((pair) => pair.split(' ')))
  assert.equal(Buffer.from(meta.filename, 'base64').toString('utf8'), name)
})

test('409 and 423 are retried', async (t) => {
  // Another writer moves the upload's offset just before the client's first PATCH (409), then
  // holds the upload with a slow PATCH while the client tries again (423). The client retries
  // both, as its default onShouldRetry does, and the file arrives whole.
  const data = file(3 * MiB + 11)
  const seen = []
  let step = 0
  let slow
  const result = await run(data, {
    chunkSize: MiB,
    retryDelays: [100, 200, 400, 800, 1000, 1000, 1000, 1000, 1000, 1000],
    onShouldRetry: (err, attempt, options) => {
      seen.push(err.originalResponse?.getStatus() ?? 0)
      return defaultOptions.onShouldRetry(err, attempt, options)
    },
    onBeforeRequest: async (req) => {
      if (req.getMethod() !== 'PATCH') {
        return
      }
      const url = req.getURL()
      const offset = Number(req.getHeader('Upload-Offset'))
      if (step === 0) {
        step++
        const headers = { 'Content-Type': 'application/offset+octet-stream', 'Upload-Offset': String(offset) }
        const moved = await tus('PATCH', url, headers, data.subarray(offset, offset + 100000))
        assert.equal(moved.status, 204)
      } else if (step === 1) {
        step++
        slow = slowPatch(url, offset, data.subarray(offset, offset + 256 * 1024))
        for (let i = 0; i < 200 && !(await held(url)); i++) {
          await sleep(10)
        }
        assert.ok(await held(url), 'the slow PATCH holds the upload')
      }
    },
  })
  assert.equal(await slow, 204, 'the slow PATCH was answered 204')
  t.diagnostic(`the client retried after ${seen.join(', ')}`)
  assert.ok(seen.includes(409), `the client saw ${seen}, not 409`)
  assert.ok(seen.includes(423), `the client saw ${seen}, not 423`)
  await checkStored(result, data)
})

// slowPatch sends body at offset in 16 KiB pieces over about two seconds, with Node's own http
// module, and resolves with the answer's status.
function slowPatch(url, offset, body) {
  const req = http.request(url, {
    method: 'PATCH',
    headers: { ...auth, 'Tus-Resumable': '1.0.0', 'Content-Type': 'application/offset+octet-stream',
      'Upload-Offset': String(offset), 'Content-Length': body.length },
  })
  const answered = new Promise((resolve, reject) => {
    req.on('response', (res) => {
      res.resume()
      res.on('end', () => resolve(res.statusCode))
    })
    req.on('error', reject)
  })
  ;(async () => {
    const piece = 16 * 1024
    for (let i = 0; i < body.length; i += piece) {
      req.write(body.subarray(i, i + piece))
      await sleep(2000 / (body.length / piece))
    }
    req.end()
  })()
  return answered
}
