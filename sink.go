package ingest

import (
	"context"
	"encoding/json"
	"errors"
	"time"
)

// Sink delivers outbox events to the downstream system a deployment chose (a JSONL file, NATS
// JetStream, a webhook). Implementations pass the suite in package sinktest.
type Sink interface {
	// Name names the kind of sink ("file", "nats", "webhook") for metrics and logs.
	Name() string
	// Send delivers events and returns one error per event, in order: nil when that event is
	// delivered durably (fsynced, acknowledged by the stream, answered 2xx), so that the relay may
	// mark it DELIVERED. A failed event's error may be a *DeliveryError saying how to go on; any
	// other error is retried on the schedule. Sending an event again is allowed (at least once):
	// consumers deduplicate by its event id.
	Send(ctx context.Context, events []*OutboxEvent) []error
	// Close releases the sink's resources.
	Close() error
}

// DeliveryError is a failed delivery that says how the relay goes on.
type DeliveryError struct {
	// Permanent: retrying cannot help (a 4xx answer, an event the sink cannot encode): FAILED now.
	Permanent bool
	// Disable: the endpoint is gone for good (410): FAILED now, and the relay stops sending.
	Disable bool
	// RetryAfter, when positive, is the earliest time the sink asked to be tried again after (a
	// Retry-After header); it overrides a shorter scheduled delay.
	RetryAfter time.Duration
	Err        error
}

// Error implements the error interface.
func (e *DeliveryError) Error() string {
	if e.Err == nil {
		return "delivery failed"
	}
	return e.Err.Error()
}

// Unwrap returns the cause.
func (e *DeliveryError) Unwrap() error { return e.Err }

// AsDeliveryError returns the *DeliveryError in err's chain, or nil.
func AsDeliveryError(err error) *DeliveryError {
	var d *DeliveryError
	if errors.As(err, &d) {
		return d
	}
	return nil
}

// DefaultEventSource is the CloudEvents source of the portal's events when none is configured.
const DefaultEventSource = "/ingest"

// CloudEvent is an outbox event on the wire: a CloudEvents 1.0 event in structured JSON mode.
type CloudEvent struct {
	SpecVersion     string          `json:"specversion"`
	ID              string          `json:"id"`
	Source          string          `json:"source"`
	Type            string          `json:"type"`
	Subject         string          `json:"subject"`
	Time            time.Time       `json:"time"`
	DataContentType string          `json:"datacontenttype"`
	Data            json.RawMessage `json:"data"`
}

// NewCloudEvent returns e as a CloudEvent from source: its id is the event id, stable across
// retries, its type the event type under "ingest." (ingest.file.stored), its subject the file id and
// its time the moment the event was written, in the transaction of the change it announces.
func NewCloudEvent(e *OutboxEvent, source string) CloudEvent {
	if source == "" {
		source = DefaultEventSource
	}
	return CloudEvent{
		SpecVersion:     "1.0",
		ID:              e.EventID.String(),
		Source:          source,
		Type:            "ingest." + e.EventType,
		Subject:         e.FileID.String(),
		Time:            e.CreatedAt.UTC(),
		DataContentType: "application/json",
		Data:            e.Payload,
	}
}
