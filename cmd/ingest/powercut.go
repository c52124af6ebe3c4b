package main

import "os"

// powerCutMarkerEnv names, for the power-cut test only (docs/durability.md), the marker file of
// the test's FUSE file system (internal/testkit/powercut): "ingest serve" fsyncs it before each
// syncfs(2) of --flush filesystem, which Linux does not forward to a FUSE server. It is not a
// flag, and an operator has no reason to set it: it only adds an fsync to each flush.
const powerCutMarkerEnv = "INGEST_TEST_POWERCUT_MARKER"

// powerCutSeam returns the durable.Flusher's BeforeSyncfs that tells the harness of a syncfs by
// an fsync of the marker at path; nil when path is "", as in the product.
func powerCutSeam(path string) func() error {
	if path == "" {
		return nil
	}
	return func() error {
		f, err := os.Open(path)
		if err != nil {
			return err
		}
		defer f.Close()
		return f.Sync()
	}
}
