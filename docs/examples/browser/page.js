// The page's script: Uppy Dashboard uploading straight to Ingest Portal with an upload grant that
// this page's own backend (backend.mjs) mints for it. Bundled by `npm run build` into dist/.
//
// Two uploaders, chosen with ?uploader= (both talk to the portal on its own origin, which must
// list this page's origin in `ingest serve --cors-allowed-origins`):
//   aws-s3 (default): @uppy/aws-s3 against the portal's Companion-style S3 routes, with the grant
//     in the path (`<portal>/uppy/g/<grant>`); files above 10 MiB go in parts.
//   tus: @uppy/tus against the portal's tus server, with the grant as `Authorization: Bearer`.
import Uppy from '@uppy/core';
import Dashboard from '@uppy/dashboard';
import AwsS3 from '@uppy/aws-s3';
import Tus from '@uppy/tus';

import '@uppy/core/css/style.min.css';
import '@uppy/dashboard/css/style.min.css';

const MiB = 1024 * 1024;

// getGrant asks this page's backend for an upload grant: { portal_url, token, expires_at }.
async function getGrant() {
  const resp = await fetch('grant', { method: 'POST' });
  if (!resp.ok) {
    throw new Error(`the backend gave no upload grant: ${resp.status} ${await resp.text()}`);
  }
  return resp.json();
}

// show lists an outcome under "Uploaded": a stored file with the portal's id, or a failure.
function show(file, fileId, error) {
  const li = document.createElement('li');
  li.dataset.name = file.name;
  if (error) {
    li.className = 'failed';
    li.dataset.error = error;
    li.textContent = `${file.name}: failed (${error})`;
  } else {
    li.className = 'stored';
    li.dataset.fileId = fileId;
    li.textContent = `${file.name}: stored as file ${fileId}`;
  }
  document.getElementById('uploaded').append(li);
}

async function main() {
  const grant = await getGrant();
  const uploader = new URLSearchParams(window.location.search).get('uploader') || 'aws-s3';

  const uppy = new Uppy({
    // The grant's own limits are enforced by the portal; saying them here too spares the user an
    // upload that would be refused.
    restrictions: { maxNumberOfFiles: grant.max_files, maxFileSize: grant.max_file_bytes ?? null },
  });
  uppy.use(Dashboard, { inline: true, target: '#uploader', proudlyDisplayPoweredByUppy: false });

  if (uploader === 'tus') {
    uppy.use(Tus, {
      endpoint: `${grant.portal_url}/tus/`,
      headers: { Authorization: `Bearer ${grant.token}` },
      chunkSize: 8 * MiB,
    });
    uppy.on('upload-success', (file, response) => {
      // The portal names the stored file in Ingest-File-Id (exposed to pages through CORS).
      show(file, response.body?.xhr?.getResponseHeader('Ingest-File-Id'));
    });
  } else {
    uppy.use(AwsS3, {
      companionEndpoint: `${grant.portal_url}/uppy/g/${encodeURIComponent(grant.token)}`,
      // Small files in one streamed form POST; larger ones in parts of 5 MiB or more, which
      // Uppy sends, retries and resumes one by one.
      shouldUseMultipart: (file) => file.size > 10 * MiB,
    });
    uppy.on('upload-success', (file, response) => {
      // The portal answers with the stored file's id as the S3 key.
      show(file, response.body?.key);
    });
  }
  uppy.on('upload-error', (file, error) => show(file, null, error?.message || String(error)));
  window.uppy = uppy;
}

main().catch((err) => {
  const p = document.createElement('p');
  p.className = 'failed';
  p.textContent = String(err);
  document.getElementById('uploader').append(p);
});
