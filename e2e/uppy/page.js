// The page an application would have: @uppy/core with @uppy/tus, headless (no Dashboard),
// uploading the files picked in a file input to the portal's tus server on another origin. The
// test (uppy.mjs, run by e2e/uppy_test.go) drives it through window.uppyTest and reads what
// happened from it. e2e/uppy_test.go bundles this file with esbuild at test time.
import Uppy from '@uppy/core';
import Tus from '@uppy/tus';

// What the test reads: each file's progress, and the outcome of its upload.
const files = {}; // Uppy file id → { name, size, uploaded, paused, uploadURL, fileId, digest, error, status }
// Progress triggers: once every file of `fileIDs` has sent at least `bytes`, `act` runs, once.
const triggers = [];
let uppy = null;

function record(file) {
  if (!files[file.id]) {
    files[file.id] = { name: file.name, size: file.size, uploaded: 0, paused: false };
  }
  return files[file.id];
}

// setup makes the Uppy instance: the options an application sets to upload to the portal.
// Options of a scenario's own (retryDelays, addRequestId) are passed through in more.
function setup({ endpoint, token, chunkSize, ...more }) {
  uppy = new Uppy({ autoProceed: false });
  uppy.use(Tus, {
    endpoint,
    headers: { Authorization: `Bearer ${token}` },
    chunkSize,
    ...more,
  });
  uppy.on('file-added', (file) => record(file));
  uppy.on('upload-progress', (file, progress) => {
    if (!file) {
      return;
    }
    const f = record(file);
    f.uploaded = progress.bytesUploaded;
    for (const t of triggers) {
      if (!t.done && t.fileIDs.includes(file.id) && t.fileIDs.every((id) => files[id]?.uploaded >= t.bytes)) {
        t.done = true;
        t.act();
      }
    }
  });
  uppy.on('upload-pause', (file, isPaused) => {
    if (file) {
      record(file).paused = isPaused;
    }
  });
  uppy.on('upload-success', (file, response) => {
    const f = record(file);
    // The portal's own answers, readable cross-origin only if it exposes them.
    const xhr = response.body.xhr;
    f.uploadURL = response.uploadURL;
    f.fileId = xhr.getResponseHeader('Ingest-File-Id');
    f.digest = xhr.getResponseHeader('Repr-Digest');
    f.status = 'success';
  });
  uppy.on('upload-error', (file, error, response) => {
    const f = record(file);
    f.error = String(error && error.message);
    f.httpStatus = response ? response.status : null;
    f.status = 'error';
  });
  uppy.on('file-removed', (file) => {
    record(file).status = 'removed';
  });
  uppy.on('upload', () => {
    for (const file of uppy.getFiles()) {
      record(file).status = 'uploading';
    }
  });
}

// addPicked adds the files of the input to Uppy, as an application's "change" handler does.
function addPicked() {
  const input = document.getElementById('files');
  const ids = [];
  for (const file of input.files) {
    ids.push(uppy.addFile({ name: file.name, type: file.type, data: file, source: 'file input' }));
  }
  input.value = '';
  return ids;
}

window.uppyTest = {
  setup,
  addPicked,
  // start begins the upload of every added file; its outcome is read from files.
  start() {
    uppy.upload().catch((err) => {
      window.uppyTest.uploadError = String(err);
    });
  },
  // when runs act once every file of fileIDs has sent at least bytes.
  when(fileIDs, bytes, act) {
    triggers.push({ fileIDs, bytes, act, done: false });
  },
  pauseAt(fileID, bytes) {
    this.when([fileID], bytes, () => uppy.pauseResume(fileID));
  },
  // pauseAllAt pauses every upload once all of fileIDs are under way.
  pauseAllAt(fileIDs, bytes) {
    this.when(fileIDs, bytes, () => {
      uppy.pauseAll();
      window.uppyTest.pausedAll = true;
    });
  },
  removeAt(fileID, bytes) {
    this.when([fileID], bytes, () => {
      // Kept for the test, which checks that the upload is gone: Uppy forgets the file.
      files[fileID].uploadURL = uppy.getFile(fileID).tus?.uploadUrl ?? null;
      uppy.removeFile(fileID);
    });
  },
  // leaveAt leaves the page, as a person closing the tab would, cutting the request under way.
  leaveAt(fileID, bytes) {
    this.when([fileID], bytes, () => window.location.assign('about:blank'));
  },
  pauseResume: (fileID) => uppy.pauseResume(fileID),
  resumeAll: () => uppy.resumeAll(),
  // uploadURL is where the portal keeps the file's upload, once it made one.
  uploadURL: (fileID) => uppy.getFile(fileID)?.tus?.uploadUrl ?? files[fileID]?.uploadURL ?? null,
  files,
};
