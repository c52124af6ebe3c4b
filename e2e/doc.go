// Package e2e holds the end-to-end tests that run the real ingest binary ("ingest serve") and
// drive it in headless Chromium with playwright-core. The admin console's (admin.mjs) does what an
// operator would: sign in, upload two files, follow them to STORED, open the batch, a file and its
// event, retry a failed event, sign out; its screenshots illustrate docs/admin.md. Uppy's
// (uppy/uppy.mjs) uploads with @uppy/tus, unmodified, from a page on another origin than the
// portal's: a whole file, pauses and resumes, a file removed mid-upload, and an origin the portal
// does not allow. The package has no code of its own outside its tests.
package e2e
