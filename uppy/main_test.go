package uppy_test

import (
	"os"
	"testing"

	"github.com/ingest-portal/ingest/internal/testkit/iobound"
)

// Its tests mostly wait on the databases: run more of them at once than there are cores.
func TestMain(m *testing.M) { os.Exit(iobound.Main(m)) }
