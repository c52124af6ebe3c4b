// Bundles upload.js (Uppy Dashboard, @uppy/tus and the page's own code) and its CSS into
// admin/static/uppy-upload.js and uppy-upload.css, minified, for the portal to embed. The same
// package-lock.json gives the same bytes: .ci/run rebuilds and fails when they differ from the
// committed files.
import * as esbuild from 'esbuild';

await esbuild.build({
  entryPoints: { 'uppy-upload': 'upload.js' },
  outdir: '../static',
  bundle: true,
  minify: true,
  format: 'iife',
  target: ['es2020'],
  legalComments: 'none',
  charset: 'utf8',
  logLevel: 'warning',
});
