//go:build !unix

package filesink

import "os"

// lockFile does nothing where flock does not exist: Sends of one process still take turns, but
// processes sharing one events file are not kept apart, so give each its own file there.
func lockFile(*os.File) error { return nil }

// unlockFile does nothing, like lockFile.
func unlockFile(*os.File) error { return nil }
