// Package e2e holds the end-to-end tests: "go test ./e2e" builds the real ingest binary, runs
// "ingest serve", and drives it with real clients. The admin console's test drives the console in
// headless Chromium with playwright-core (admin.mjs), as an operator would: sign in, upload two
// files, follow them to STORED, open the batch, a file and its event, retry a failed event, sign
// out; the screenshots it takes illustrate docs/admin.md. The tus tests run tus-js-client from npm,
// unmodified, under node --test (tusjs/), and kill serve in the middle of a tus PATCH to check that
// nothing it acknowledged is lost. It has no code of its own outside its tests.
package e2e
