// The admin console's upload page: Uppy Dashboard uploading through the portal's own tus server
// (/tus/), every file of one upload into a new batch of the API, sealed once they have all
// ended. Bundled by build.mjs into admin/static/uppy-upload.js and uppy-upload.css, which the
// portal serves; edit this file, then run `npm ci && npm run build` here and commit both.
//
// The page sends no token: the browser adds the console's session cookie by itself, and every
// request carries the session's CSRF token in the X-CSRF-Token header (read from the page's
// HTML, which another site cannot read). The API and the tus server accept the cookie only with
// it (admin.AuthenticateAPI).
import Uppy from '@uppy/core';
import Dashboard from '@uppy/dashboard';
import Tus from '@uppy/tus';
import '@uppy/core/css/style.min.css';
import '@uppy/dashboard/css/style.min.css';
import './page.css';

const root = document.getElementById('uploader');
if (root) {
  start(root);
}

function start(root) {
  const csrf = root.dataset.csrf;
  const api = root.dataset.api || '/api/v1';
  const consoleRoot = root.dataset.console || '/admin';
  const batchName = document.getElementById('batch-name');
  const batchStatus = document.getElementById('batch-status');
  const list = document.getElementById('uploads');

  // call sends a JSON request to the API and returns the decoded answer; an error answer
  // throws an Error whose message is the API's code and message.
  async function call(method, path, body) {
    const headers = { 'X-CSRF-Token': csrf, Accept: 'application/json' };
    const init = { method, headers, credentials: 'same-origin' };
    if (body !== undefined) {
      headers['Content-Type'] = 'application/json';
      init.body = JSON.stringify(body);
    }
    const resp = await fetch(api + path, init);
    const text = await resp.text();
    if (!resp.ok) {
      let e = null;
      try {
        e = JSON.parse(text).error;
      } catch (_) {
        // not the API's error body
      }
      throw new Error(e ? `${e.code}: ${e.message}` : `the portal answered ${resp.status}`);
    }
    return JSON.parse(text);
  }

  const uppy = new Uppy({ autoProceed: false });
  uppy.use(Dashboard, {
    inline: true,
    target: root,
    width: '100%',
    height: 300,
    proudlyDisplayPoweredByUppy: false,
    showProgressDetails: true,
    // Thumbnails are blob: images, which the console's Content-Security-Policy does not load.
    disableThumbnailGenerator: true,
    // Uploads are resumable (tus), so each file has a pause/resume button.
    hidePauseResumeButton: false,
    note: 'Every file of an upload goes into one new batch.',
  });
  uppy.use(Tus, {
    endpoint: root.dataset.tus || '/tus/',
    headers: { 'X-CSRF-Token': csrf },
    // One PATCH per file (the portal stores any length); pausing aborts it and resuming asks
    // the portal's offset with HEAD.
    limit: Number(root.dataset.parallel || 4),
    removeFingerprintOnSuccess: true,
    // What the portal reads: name and type become the file's name and content type, batch_id
    // puts it in the batch, relative_path is kept as file metadata (a dropped folder's path).
    allowedMetaFields: ['name', 'type', 'batch_id', 'relative_path'],
  });

  const rows = new Map(); // Uppy file id → the file's line in the results list
  const batches = new Map(); // batch id → how many of its files have not ended yet

  // row returns the file's line in the results list: its name, a progress bar and a state.
  function row(file) {
    let r = rows.get(file.id);
    if (r) {
      return r;
    }
    const li = document.createElement('li');
    li.className = 'upload';
    li.dataset.name = file.name;
    const name = document.createElement('span');
    name.className = 'upload-name';
    name.textContent = file.name;
    const bar = document.createElement('progress');
    bar.max = Math.max(file.size || 0, 1);
    bar.value = 0;
    const state = document.createElement('span');
    state.className = 'upload-status';
    li.append(name, bar, state);
    list.append(li);
    r = {
      li,
      progress(bytes) {
        bar.value = bytes;
        li.dataset.uploaded = String(bytes);
      },
      status(text, s) {
        state.textContent = text;
        li.dataset.state = s;
      },
      link(href) {
        const a = document.createElement('a');
        a.href = href;
        a.textContent = file.name;
        name.replaceChildren(a);
      },
    };
    rows.set(file.id, r);
    return r;
  }

  // Before an upload starts, its files without a batch get one: a new batch of the API, named
  // after the Batch name field.
  uppy.addPreProcessor(async (fileIDs) => {
    const files = fileIDs.map((id) => uppy.getFile(id)).filter((f) => f && !f.meta.batch_id);
    if (files.length === 0) {
      return;
    }
    batchStatus.textContent = 'creating a batch…';
    delete batchStatus.dataset.state;
    let batch;
    try {
      batch = await call('POST', '/batches', { name: batchName.value.trim() });
    } catch (err) {
      batchStatus.textContent = `could not create a batch: ${err.message}`;
      batchStatus.dataset.state = 'FAILED';
      throw err;
    }
    batches.set(batch.id, files.length);
    batchStatus.textContent = `uploading into batch ${batch.id}…`;
    for (const f of files) {
      const meta = { batch_id: batch.id };
      const path = f.meta.relativePath || f.data?.webkitRelativePath;
      if (path && path !== 'null') {
        meta.relative_path = path.replace(/^\/+/, '');
      }
      uppy.setFileMeta(f.id, meta);
      row(f).status('waiting', 'waiting');
    }
  });

  uppy.on('upload-progress', (file, progress) => {
    if (!file) {
      return;
    }
    const r = row(file);
    r.progress(progress.bytesUploaded);
    if (!uppy.getFile(file.id)?.isPaused) {
      r.status('uploading', 'uploading');
    }
    const url = uppy.getFile(file.id)?.tus?.uploadUrl;
    if (url) {
      r.li.dataset.uploadUrl = url;
    }
  });
  uppy.on('upload-pause', (file, isPaused) => {
    if (file) {
      row(file).status(isPaused ? 'paused' : 'uploading', isPaused ? 'paused' : 'uploading');
    }
  });
  uppy.on('upload-success', (file, response) => {
    const r = row(file);
    const xhr = response.body && response.body.xhr;
    const id = xhr && xhr.getResponseHeader('Ingest-File-Id');
    r.progress(file.size);
    r.status('STORED', 'STORED');
    if (id) {
      r.link(`${consoleRoot}/files/${id}`);
    }
    ended(file);
  });
  uppy.on('upload-error', (file, error) => {
    if (file) {
      row(file).status(`failed: ${error.message}`, 'FAILED');
      ended(file);
    }
  });

  // ended counts a file of a batch as ended; the batch is sealed once every file has.
  function ended(file) {
    const id = uppy.getFile(file.id)?.meta.batch_id || file.meta.batch_id;
    if (!batches.has(id)) {
      return;
    }
    const left = batches.get(id) - 1;
    batches.set(id, left);
    if (left === 0) {
      batches.delete(id);
      seal(id);
    }
  }

  async function seal(id) {
    let batch;
    try {
      batch = await call('POST', `/batches/${id}/seal`);
    } catch (err) {
      batchStatus.textContent = `could not seal the batch: ${err.message}`;
      batchStatus.dataset.state = 'FAILED';
      return;
    }
    const link = document.createElement('a');
    link.href = `${consoleRoot}/batches/${batch.id}`;
    link.textContent = `batch ${batch.id}`;
    batchStatus.replaceChildren(link, document.createTextNode(
      ` ${batch.status}: ${batch.stored_count ?? 0} stored, ${batch.failed_count ?? 0} failed`));
    batchStatus.dataset.state = batch.status;
  }

  // Says the page is live: Uppy is in place (tests wait for it).
  root.dataset.ready = 'true';
}
