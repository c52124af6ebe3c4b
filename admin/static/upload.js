// The admin console's upload page: files dropped on the page (or picked) are uploaded into a new
// batch through the portal's own API, in numbered parts sent in parallel, with a progress bar
// each; the batch is sealed once every file has ended. Plain JavaScript, no build step.
//
// The page signs its API requests with the admin session's cookie, which the browser sends by
// itself, and the session's CSRF token in the X-CSRF-Token header, which a page of another site
// cannot read: the API accepts the cookie only with it.
'use strict';

(function () {
  const zone = document.getElementById('dropzone');
  if (!zone) {
    return;
  }
  const picker = document.getElementById('file-input');
  const list = document.getElementById('uploads');
  const batchName = document.getElementById('batch-name');
  const batchStatus = document.getElementById('batch-status');
  const csrf = zone.dataset.csrf;
  const api = zone.dataset.api || '/api/v1';
  const consoleRoot = zone.dataset.console || '/admin';
  // Parts in flight at once over all files: enough to fill the link, few enough that a browser
  // (six connections per host over HTTP/1.1) still has one left for the page itself.
  const parallelParts = Number(zone.dataset.parallel || 4);
  const partAttempts = 3;

  // apiError is an answer of the API that is not a success: its code and message.
  class apiError extends Error {
    constructor(status, code, message) {
      super(message);
      this.status = status;
      this.code = code;
    }
  }

  // errorOf reads the API's error body, {"error": {"code", "message"}}.
  function errorOf(status, text) {
    try {
      const e = JSON.parse(text).error;
      return new apiError(status, e.code, e.message);
    } catch (_) {
      return new apiError(status, 'HTTP_' + status, 'the portal answered ' + status);
    }
  }

  // call sends a JSON request to the API and returns the decoded answer.
  async function call(method, path, body) {
    const headers = { 'X-CSRF-Token': csrf, 'Accept': 'application/json' };
    const init = { method, headers, credentials: 'same-origin' };
    if (body !== undefined) {
      headers['Content-Type'] = 'application/json';
      init.body = JSON.stringify(body);
    }
    const resp = await fetch(api + path, init);
    const text = await resp.text();
    if (!resp.ok) {
      throw errorOf(resp.status, text);
    }
    return JSON.parse(text);
  }

  // sendPart PUTs one part. XMLHttpRequest, not fetch, because only it reports upload progress.
  function sendPart(sessionID, n, blob, onProgress) {
    return new Promise((resolve, reject) => {
      const xhr = new XMLHttpRequest();
      xhr.open('PUT', api + '/uploads/' + sessionID + '/parts/' + n);
      xhr.setRequestHeader('X-CSRF-Token', csrf);
      xhr.setRequestHeader('Content-Type', 'application/octet-stream');
      xhr.upload.onprogress = (e) => onProgress(e.loaded);
      xhr.onload = () => {
        if (xhr.status >= 200 && xhr.status < 300) {
          onProgress(blob.size);
          resolve(JSON.parse(xhr.responseText));
        } else {
          reject(errorOf(xhr.status, xhr.responseText));
        }
      };
      xhr.onerror = () => reject(new apiError(0, 'NETWORK', 'the connection failed'));
      xhr.send(blob);
    });
  }

  // retryable tells whether sending a part again may succeed: a lost connection, a server fault,
  // or being asked to slow down. A refusal (a 4xx) will not change by trying again.
  function retryable(err) {
    return err.status === 0 || err.status === 429 || err.status >= 500;
  }

  // pool runs at most `size` tasks at once, in the order they were queued.
  function pool(size) {
    let running = 0;
    const queue = [];
    const next = () => {
      if (running >= size || queue.length === 0) {
        return;
      }
      running++;
      const { task, resolve, reject } = queue.shift();
      task().then(resolve, reject).finally(() => {
        running--;
        next();
      });
    };
    return (task) => new Promise((resolve, reject) => {
      queue.push({ task, resolve, reject });
      next();
    });
  }
  const runPart = pool(parallelParts);

  // row adds a file's line to the page: its name, a progress bar and a status.
  function row(file) {
    const li = document.createElement('li');
    li.className = 'upload';
    const name = document.createElement('span');
    name.className = 'upload-name';
    name.textContent = file.name;
    const bar = document.createElement('progress');
    bar.max = Math.max(file.size, 1);
    bar.value = 0;
    const statusText = document.createElement('span');
    statusText.className = 'upload-status';
    statusText.textContent = 'waiting';
    li.append(name, bar, statusText);
    list.append(li);
    return {
      progress(bytes) { bar.value = bytes; },
      status(text, state) {
        statusText.textContent = text;
        li.dataset.state = state || '';
      },
      link(href) {
        const a = document.createElement('a');
        a.href = href;
        a.textContent = name.textContent;
        name.replaceChildren(a);
      },
    };
  }

  // uploadFile sends one file into the batch and returns the stored file.
  async function uploadFile(file, batchID, ui) {
    ui.status('starting', 'active');
    const session = await call('POST', '/uploads', {
      filename: file.name,
      content_type: file.type || 'application/octet-stream',
      size_bytes: file.size,
      batch_id: batchID,
    });
    const chunk = session.chunk_size_bytes;
    const sent = new Array(session.total_parts).fill(0);
    const report = () => ui.progress(sent.reduce((a, b) => a + b, 0));
    ui.status('uploading 0/' + session.total_parts + ' parts', 'active');
    let done = 0;
    const parts = [];
    for (let n = 1; n <= session.total_parts; n++) {
      const blob = file.slice((n - 1) * chunk, Math.min(n * chunk, file.size));
      parts.push(runPart(async () => {
        for (let attempt = 1; ; attempt++) {
          try {
            await sendPart(session.id, n, blob, (bytes) => { sent[n - 1] = bytes; report(); });
            break;
          } catch (err) {
            sent[n - 1] = 0;
            report();
            if (attempt >= partAttempts || !retryable(err)) {
              throw err;
            }
          }
        }
        done++;
        ui.status('uploading ' + done + '/' + session.total_parts + ' parts', 'active');
      }));
    }
    await Promise.all(parts);
    ui.status('completing', 'active');
    const stored = await call('POST', '/uploads/' + session.id + '/complete');
    ui.progress(file.size);
    return stored;
  }

  // uploadAll creates a batch, uploads the files into it in parallel, and seals it.
  async function uploadAll(files) {
    if (files.length === 0) {
      return;
    }
    batchStatus.textContent = 'creating a batch…';
    let batch;
    try {
      batch = await call('POST', '/batches', { name: batchName.value.trim() });
    } catch (err) {
      batchStatus.textContent = 'could not create a batch: ' + err.code + ': ' + err.message;
      return;
    }
    const rows = files.map(row);
    const results = await Promise.allSettled(files.map(async (file, i) => {
      const ui = rows[i];
      try {
        const stored = await uploadFile(file, batch.id, ui);
        ui.status(stored.status, stored.status);
        ui.link(consoleRoot + '/files/' + stored.id);
      } catch (err) {
        ui.status('failed: ' + err.code + ': ' + err.message, 'FAILED');
        throw err;
      }
    }));
    const failed = results.filter((r) => r.status === 'rejected').length;
    try {
      batch = await call('POST', '/batches/' + batch.id + '/seal');
    } catch (err) {
      batchStatus.textContent = 'could not seal the batch: ' + err.code + ': ' + err.message;
      return;
    }
    const link = document.createElement('a');
    link.href = consoleRoot + '/batches/' + batch.id;
    link.textContent = 'batch ' + batch.id;
    batchStatus.replaceChildren(link, document.createTextNode(
      ' ' + batch.status + ': ' + (files.length - failed) + ' stored, ' + failed + ' failed'));
    batchStatus.dataset.state = batch.status;
  }

  zone.addEventListener('dragover', (e) => {
    e.preventDefault();
    zone.classList.add('dragging');
  });
  zone.addEventListener('dragleave', () => zone.classList.remove('dragging'));
  zone.addEventListener('drop', (e) => {
    e.preventDefault();
    zone.classList.remove('dragging');
    uploadAll(Array.from(e.dataTransfer.files));
  });
  picker.addEventListener('change', () => {
    uploadAll(Array.from(picker.files));
    picker.value = '';
  });
  // Says the page is live: its handlers are in place (tests wait for it).
  zone.dataset.ready = 'true';
})();
