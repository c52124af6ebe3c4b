package ingest

// UploadQuota caps what one user may have in flight at once: upload sessions that are INIT or
// IN_PROGRESS, and single-request uploads whose bodies are streaming in, at most MaxOpenSessions
// of them declaring at most MaxBytesInFlight bytes in all. A session whose length is deferred
// counts the bytes it holds until its length is declared. 0 is no cap.
type UploadQuota struct {
	MaxOpenSessions  int
	MaxBytesInFlight int64
}

// Limited reports whether q caps anything.
func (q UploadQuota) Limited() bool { return q.MaxOpenSessions > 0 || q.MaxBytesInFlight > 0 }

// Check returns EQuotaExceeded (details: "limit", its value as "max", and what the user holds as
// "open_sessions" and "bytes_in_flight") when a user holding sessions uploads of bytes in all may
// not add one more of size bytes; adding no session (sessions counts the new one already, as when
// a deferred length is declared) is checked by its bytes alone.
func (q UploadQuota) Check(sessions int, bytes, size int64, adding bool) error {
	limit, max := "", int64(0)
	switch {
	case adding && q.MaxOpenSessions > 0 && sessions+1 > q.MaxOpenSessions:
		limit, max = "max_open_sessions", int64(q.MaxOpenSessions)
	case q.MaxBytesInFlight > 0 && bytes+size > q.MaxBytesInFlight:
		limit, max = "max_bytes_in_flight", q.MaxBytesInFlight
	default:
		return nil
	}
	return &Error{Code: EQuotaExceeded,
		Message: "you have as many uploads in progress as one user may; finish or abort some, or try again later",
		Details: map[string]any{"limit": limit, "max": max, "open_sessions": sessions, "bytes_in_flight": bytes}}
}
