// Package e2e holds the end-to-end tests: "go test ./e2e" builds the real ingest binary, runs
// "ingest serve", and drives it with real clients, unmodified, from npm:
//   - the admin console in headless Chromium with playwright-core (admin.mjs), as an operator
//     would: sign in, upload two files, follow them to STORED, open the batch, a file and its
//     event, retry a failed event, sign out; its screenshots illustrate docs/admin.md;
//   - Uppy's @uppy/tus in Chromium (uppy/uppy.mjs), from a page on another origin than the
//     portal's: a whole file, pauses and resumes, a file removed mid-upload, and an origin the
//     portal does not allow;
//   - tus-js-client under node --test (tusjs/), and a serve killed in the middle of a tus PATCH,
//     to check that nothing it acknowledged is lost.
//
// It also runs the portal as a cluster, three serve on one PostgreSQL schema, S3 (versitygw) and
// NATS, one of them killed mid-run, and under failures of PostgreSQL, S3 and NATS
// (docs/durability.md, "Cluster and faults").
//
// The package has no code of its own outside its tests.
package e2e
