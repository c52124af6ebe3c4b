// The example's backend: Node.js only, no framework, no dependency. It serves the page (index.html
// and the bundle `npm run build` made in dist/) from its own origin, and answers POST /grant by
// asking Ingest Portal for an upload grant with its API token, which never leaves this process,
// and handing the page the grant's secret.
//
// Environment:
//   INGEST_URL    the portal as browsers reach it, e.g. https://ingest.example.com (required)
//   INGEST_TOKEN  an API token of the user who will own the uploaded files (required)
//   PORT          where to listen (8080); HOST (127.0.0.1)
//
// The portal must allow this page's origin: ingest serve --cors-allowed-origins http://localhost:8080
//
// A real backend would check who is asking (its own session) before minting a grant, and might
// put the user's id into the grant's metadata, which the browser cannot change.
import http from 'node:http';
import fs from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
const portal = (process.env.INGEST_URL || '').replace(/\/+$/, '');
const token = process.env.INGEST_TOKEN || '';
if (!portal || !token) {
  console.error('set INGEST_URL (the portal) and INGEST_TOKEN (an API token)');
  process.exit(2);
}
const port = Number(process.env.PORT || 8080);
const host = process.env.HOST || '127.0.0.1';

// What each grant allows: a handful of files of up to 1 GiB each, for one hour, tagged with
// where they came from.
const grantRequest = {
  max_files: 10,
  max_file_bytes: 1 << 30,
  expires_in: 3600,
  metadata: { source: 'browser-example' },
};

const files = {
  '/': ['index.html', 'text/html; charset=utf-8'],
  '/dist/page.js': ['dist/page.js', 'text/javascript; charset=utf-8'],
  '/dist/page.css': ['dist/page.css', 'text/css; charset=utf-8'],
};

async function grant(res) {
  const resp = await fetch(`${portal}/api/v1/upload-grants`, {
    method: 'POST',
    headers: { Authorization: `Bearer ${token}`, 'Content-Type': 'application/json' },
    body: JSON.stringify(grantRequest),
  });
  const body = await resp.json().catch(() => null);
  if (resp.status !== 201 || !body?.token) {
    console.error(`POST /api/v1/upload-grants answered ${resp.status}: ${JSON.stringify(body)}`);
    send(res, 502, 'application/json', JSON.stringify({ error: 'the portal gave no upload grant' }));
    return;
  }
  // Only what the page needs: never the API token.
  send(res, 200, 'application/json', JSON.stringify({
    portal_url: portal,
    token: body.token,
    expires_at: body.expires_at,
    max_files: body.max_files,
    max_file_bytes: body.max_file_bytes,
  }));
}

function send(res, status, type, body) {
  res.writeHead(status, { 'Content-Type': type, 'Cache-Control': 'no-store' });
  res.end(body);
}

const server = http.createServer(async (req, res) => {
  const { pathname } = new URL(req.url, 'http://backend');
  try {
    if (pathname === '/grant') {
      if (req.method !== 'POST') {
        send(res, 405, 'text/plain', 'POST only\n');
        return;
      }
      await grant(res);
      return;
    }
    const file = files[pathname];
    if (!file || (req.method !== 'GET' && req.method !== 'HEAD')) {
      send(res, 404, 'text/plain', 'not found\n');
      return;
    }
    const body = await fs.readFile(path.join(here, file[0]));
    send(res, 200, file[1], body);
  } catch (err) {
    console.error(`${req.method} ${pathname}: ${err.stack || err}`);
    if (!res.headersSent) {
      send(res, 500, 'text/plain', 'internal error\n');
    }
  }
});

server.listen(port, host, () => {
  const { port: bound } = server.address();
  // The line a script can wait for; with PORT=0 it tells the port chosen.
  console.log(`listening on http://${host}:${bound}`);
});
