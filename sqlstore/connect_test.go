package sqlstore_test

import (
	"context"
	"fmt"
	"net"
	"testing"

	"github.com/ingest-portal/ingest"
	"github.com/ingest-portal/ingest/sqlstore"
)

func TestAPostgreSQLServerThatTakesNoConnectionIsUnavailable(t *testing.T) {
	t.Parallel()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close() // nothing listens there now: every connection is refused
	_, err = sqlstore.Open(context.Background(), fmt.Sprintf("postgres://postgres@%s/x?sslmode=disable&connect_timeout=5", addr))
	if code := ingest.ErrorCode(err); code != ingest.EDatabaseUnavailable {
		t.Fatalf("Open with no server: %v, want DATABASE_UNAVAILABLE", err)
	}
	if msg := ingest.ErrorMessage(err); msg != "the database is unavailable; try again later" {
		t.Errorf("the message for clients is %q", msg)
	}
}
