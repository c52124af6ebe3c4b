// Package natssink delivers outbox events to a NATS JetStream stream. JetStream deduplicates by the
// Nats-Msg-Id header, which is the event id, so an event the relay sends again (after a crash
// between the publish and the mark) is stored once as long as the retry falls within the stream's
// duplicate window.
package natssink

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/ingest-portal/ingest"
	"github.com/ingest-portal/ingest/internal/sendctx"
)

// The defaults of the URL's query parameters.
const (
	DefaultStream  = "INGEST"
	DefaultSubject = "ingest.events"
	// DefaultDuplicateWindow is the duplicate window of a stream the sink creates. It must outlast
	// the relay's lease plus its first retries, so that an event published again after a relay
	// crash is recognised; longer windows cost the server memory for every message id they hold.
	DefaultDuplicateWindow = 10 * time.Minute
)

// ackTimeout bounds the wait for one publish acknowledgement when Send's context has no deadline,
// so that a lost acknowledgement fails its event instead of holding the relay's batch forever.
const ackTimeout = 10 * time.Second

// ContentType is the content type of every message: each one is a CloudEvent in structured JSON
// mode, the same JSON as a line of the file sink.
const ContentType = "application/cloudevents+json"

// Sink publishes events to a JetStream stream. It is safe for concurrent use.
type Sink struct {
	nc      *nats.Conn
	js      jetstream.JetStream
	stream  string
	subject string
	source  string
}

var _ ingest.Sink = (*Sink)(nil)

// Config is what a nats:// URL says.
type Config struct {
	// Server is the URL nats.Connect is given: the scheme, any user and password, host and port.
	Server          string
	Stream          string
	Subject         string
	DuplicateWindow time.Duration
}

// ParseURL reads nats://[user:password@]host:port?stream=S&subject=T&duplicate_window=D. Stream,
// subject and duplicate window default to DefaultStream, DefaultSubject and
// DefaultDuplicateWindow. It returns EValidation for anything else.
func ParseURL(rawURL string) (Config, error) {
	u, err := url.Parse(rawURL)
	if err != nil || u.Scheme != "nats" || u.Host == "" {
		return Config{}, ingest.Errorf(ingest.EValidation, "want nats://HOST:PORT?stream=…&subject=…")
	}
	q := u.Query()
	c := Config{Stream: DefaultStream, Subject: DefaultSubject, DuplicateWindow: DefaultDuplicateWindow}
	for key, values := range q {
		value := values[len(values)-1]
		switch key {
		case "stream":
			c.Stream = value
		case "subject":
			c.Subject = value
		case "duplicate_window":
			if c.DuplicateWindow, err = time.ParseDuration(value); err != nil || c.DuplicateWindow <= 0 {
				return Config{}, ingest.Errorf(ingest.EValidation, "duplicate_window %q: want a positive duration such as 10m", value)
			}
		default:
			return Config{}, ingest.Errorf(ingest.EValidation, "unknown parameter %q: want stream, subject or duplicate_window", key)
		}
	}
	if c.Stream == "" || c.Subject == "" {
		return Config{}, ingest.Errorf(ingest.EValidation, "stream and subject must not be empty")
	}
	c.Server = (&url.URL{Scheme: u.Scheme, User: u.User, Host: u.Host}).String()
	return c, nil
}

// Open connects to the NATS server of rawURL (see ParseURL) and returns a Sink that publishes the
// events' CloudEvents, with the given source (ingest's default when empty), to the URL's subject.
// A stream of that name that does not exist yet is created, capturing the subject, with the URL's
// duplicate window and file storage; an existing stream is used as it is, so an operator who
// manages the stream keeps its settings (and chooses its duplicate window).
func Open(ctx context.Context, rawURL, source string) (*Sink, error) {
	cfg, err := ParseURL(rawURL)
	if err != nil {
		return nil, err
	}
	if source == "" {
		source = ingest.DefaultEventSource
	}
	nc, err := nats.Connect(cfg.Server, nats.Name("ingest-portal"), nats.MaxReconnects(-1))
	if err != nil {
		return nil, fmt.Errorf("connect to NATS at %s: %w", redacted(cfg.Server), err)
	}
	js, err := jetstream.New(nc)
	if err != nil {
		nc.Close()
		return nil, fmt.Errorf("open JetStream: %w", err)
	}
	if err := ensureStream(ctx, js, cfg); err != nil {
		nc.Close()
		return nil, err
	}
	return &Sink{nc: nc, js: js, stream: cfg.Stream, subject: cfg.Subject, source: source}, nil
}

// ensureStream creates the stream of cfg unless it exists.
func ensureStream(ctx context.Context, js jetstream.JetStream, cfg Config) error {
	_, err := js.Stream(ctx, cfg.Stream)
	if !errors.Is(err, jetstream.ErrStreamNotFound) {
		if err != nil {
			return fmt.Errorf("look up stream %s: %w", cfg.Stream, err)
		}
		return nil
	}
	_, err = js.CreateStream(ctx, jetstream.StreamConfig{
		Name:       cfg.Stream,
		Subjects:   []string{cfg.Subject},
		Storage:    jetstream.FileStorage,
		Duplicates: cfg.DuplicateWindow,
	})
	// Another portal instance may have created it a moment ago; that one is as good.
	if err != nil && !errors.Is(err, jetstream.ErrStreamNameAlreadyInUse) {
		return fmt.Errorf("create stream %s: %w", cfg.Stream, err)
	}
	return nil
}

// Name implements ingest.Sink.
func (s *Sink) Name() string { return "nats" }

// Send implements ingest.Sink. It publishes the whole batch without waiting, then waits for every
// acknowledgement, so a batch costs one round trip rather than one per event. An event counts as
// delivered when the stream acknowledged it, as new or as a duplicate of one it already holds.
func (s *Sink) Send(ctx context.Context, events []*ingest.OutboxEvent) []error {
	errs, ctx, cancel, ended := sendctx.Start(ctx, len(events), ackTimeout)
	defer cancel()
	if ended {
		return errs
	}
	acks := make([]jetstream.PubAckFuture, len(events))
	for i, e := range events {
		acks[i], errs[i] = s.publish(e)
	}
	for i, ack := range acks {
		if ack == nil {
			continue
		}
		if err := await(ctx, ack); err != nil {
			errs[i] = fmt.Errorf("publish event %s: %w", events[i].EventID, err)
		}
	}
	return errs
}

// await waits for the stream's answer to one publish, or for ctx to end.
func await(ctx context.Context, ack jetstream.PubAckFuture) error {
	select {
	case <-ack.Ok():
		return nil
	case err := <-ack.Err():
		return err
	case <-ctx.Done():
	}
	// An answer that came in together with the deadline still counts.
	select {
	case <-ack.Ok():
		return nil
	case err := <-ack.Err():
		return err
	default:
		return fmt.Errorf("no acknowledgement: %w", ctx.Err())
	}
}

// publish starts publishing e.
func (s *Sink) publish(e *ingest.OutboxEvent) (jetstream.PubAckFuture, error) {
	data, err := json.Marshal(ingest.NewCloudEvent(e, s.source))
	if err != nil {
		return nil, &ingest.DeliveryError{Permanent: true, Err: fmt.Errorf("encode event %s: %w", e.EventID, err)}
	}
	msg := nats.NewMsg(s.subject)
	msg.Header.Set("Content-Type", ContentType)
	msg.Data = data
	// WithExpectStream makes the server refuse the message if the subject belongs to another
	// stream than the one the operator named, rather than storing the event somewhere unexpected.
	ack, err := s.js.PublishMsgAsync(msg, jetstream.WithMsgID(e.EventID.String()), jetstream.WithExpectStream(s.stream))
	if err != nil {
		return nil, fmt.Errorf("publish event %s: %w", e.EventID, err)
	}
	return ack, nil
}

// Close implements ingest.Sink.
func (s *Sink) Close() error {
	s.nc.Close()
	return nil
}

// redacted returns a URL without its password, for errors and logs.
func redacted(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return "the configured server"
	}
	return u.Redacted()
}
