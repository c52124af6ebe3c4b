// Package e2e holds the admin console's end-to-end test: "go test ./e2e" builds the real ingest
// binary, runs "ingest serve", and drives the console in headless Chromium with playwright-core
// (admin.mjs), as an operator would: sign in, upload two files, follow them to STORED, open the
// batch, a file and its event, retry a failed event, sign out. The screenshots it takes illustrate
// docs/admin.md. It has no code of its own outside its test.
package e2e
