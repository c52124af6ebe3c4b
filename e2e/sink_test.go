package e2e_test

// The webhook the portal under test delivers its events to: it refuses the first delivery of the
// event of one file with 400 (a permanent failure, so the relay marks the event FAILED at once)
// and accepts everything else, so that the operator has a failed event to retry in the browser,
// and the retry is delivered.

import (
	"bytes"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
)

// refusedFile is the name of the file whose event the sink refuses once.
const refusedFile = "refused-by-the-sink.json"

// eventSink is a webhook endpoint that records what it accepted.
type eventSink struct {
	URL string

	mu       sync.Mutex
	refused  bool
	accepted map[string]bool // by webhook-id, the event id
}

func startSink(t *testing.T) *eventSink {
	t.Helper()
	s := &eventSink{accepted: map[string]bool{}}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(r.Body)
		if err != nil {
			http.Error(w, "unreadable body", http.StatusBadRequest)
			return
		}
		s.mu.Lock()
		defer s.mu.Unlock()
		if !s.refused && bytes.Contains(body, []byte(`"`+refusedFile+`"`)) {
			s.refused = true
			http.Error(w, "this test refuses the event once", http.StatusBadRequest)
			return
		}
		s.accepted[r.Header.Get("webhook-id")] = true
		w.WriteHeader(http.StatusNoContent)
	}))
	t.Cleanup(srv.Close)
	s.URL = srv.URL + "/events"
	return s
}

// wasAccepted reports whether the sink accepted the event with the id.
func (s *eventSink) wasAccepted(eventID string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.accepted[eventID]
}
