// Package kafkasink delivers outbox events to a Kafka topic with franz-go. The producer is
// idempotent and waits for every in-sync replica (acks=all), so a record the broker acknowledged is
// stored once however often the producer retried it. An event the relay sends again (after a crash
// between the produce and the mark) is a new record: Kafka keeps no message ids across producers,
// so consumers deduplicate by the record's key, which is the event id.
package kafkasink

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/sasl"
	"github.com/twmb/franz-go/pkg/sasl/plain"
	"github.com/twmb/franz-go/pkg/sasl/scram"

	"github.com/ingest-portal/ingest"
	"github.com/ingest-portal/ingest/internal/sendctx"
)

// ContentType is the content-type header of every record: each value is a CloudEvent in
// structured JSON mode, the same JSON as a line of the file sink.
const ContentType = "application/cloudevents+json"

// EventIDHeader is the header holding the event id, which is also the record's key.
const EventIDHeader = "ce_id"

// sendTimeout bounds one Send when its context has no deadline, so that a broker that never
// answers fails the batch (to be retried on the relay's schedule) instead of holding it forever.
const sendTimeout = 30 * time.Second

// Sink produces events to one Kafka topic. It is safe for concurrent use.
type Sink struct {
	client *kgo.Client
	source string
}

var _ ingest.Sink = (*Sink)(nil)

// Config is what a kafka:// URL says.
type Config struct {
	Brokers []string // host:port of each seed broker
	Topic   string
	// SASL is the mechanism ("plain", "scram-sha-256", "scram-sha-512"), "" for none; User and
	// Password are the URL's user information.
	SASL, User, Password string
	TLS                  bool
	ClientID             string
}

// DefaultClientID is the client id the sink gives the brokers when the URL names none.
const DefaultClientID = "ingest-portal"

// ParseURL reads kafka://[user:password@]host:port[,host:port…]/topic[?sasl=…&tls=true&client_id=…].
// User information without sasl means sasl=plain; sasl needs user information. It returns
// EValidation for anything else, never quoting the URL, which may hold a password.
func ParseURL(rawURL string) (Config, error) {
	invalid := func(format string, args ...any) (Config, error) {
		return Config{}, ingest.Errorf(ingest.EValidation, "kafka URL: "+format, args...)
	}
	u, err := url.Parse(rawURL)
	switch {
	case err != nil:
		return invalid("not a URL; want kafka://HOST:PORT/TOPIC")
	case u.Scheme != "kafka":
		return invalid("the scheme must be kafka")
	case u.Host == "":
		return invalid("no broker; want kafka://HOST:PORT/TOPIC")
	}
	c := Config{ClientID: DefaultClientID, Topic: strings.Trim(u.Path, "/")}
	if c.Topic == "" || strings.Contains(c.Topic, "/") {
		return invalid("want one topic after the brokers: kafka://HOST:PORT/TOPIC")
	}
	for _, broker := range strings.Split(u.Host, ",") {
		host, port, err := net.SplitHostPort(broker)
		if n, perr := strconv.Atoi(port); err != nil || host == "" || perr != nil || n <= 0 || n > 65535 {
			return invalid("broker %q: want HOST:PORT", broker)
		}
		c.Brokers = append(c.Brokers, broker)
	}
	for key, values := range u.Query() {
		value := values[len(values)-1]
		switch key {
		case "sasl":
			c.SASL = strings.ToLower(value)
		case "tls":
			if c.TLS, err = strconv.ParseBool(value); err != nil {
				return invalid("tls=%q: want true or false", value)
			}
		case "client_id":
			c.ClientID = value
		default:
			return invalid("unknown parameter %q: want sasl, tls or client_id", key)
		}
	}
	if u.User != nil {
		c.User = u.User.Username()
		c.Password, _ = u.User.Password()
		if c.SASL == "" {
			c.SASL = "plain"
		}
	}
	switch c.SASL {
	case "":
	case "plain", "scram-sha-256", "scram-sha-512":
		if c.User == "" {
			return invalid("sasl=%s needs user:password@ before the brokers", c.SASL)
		}
	default:
		return invalid("sasl=%q: want plain, scram-sha-256 or scram-sha-512", c.SASL)
	}
	if c.ClientID == "" {
		return invalid("client_id must not be empty")
	}
	return c, nil
}

// mechanism is the SASL mechanism of c, nil for none.
func (c Config) mechanism() sasl.Mechanism {
	switch c.SASL {
	case "plain":
		return plain.Auth{User: c.User, Pass: c.Password}.AsMechanism()
	case "scram-sha-256":
		return scram.Auth{User: c.User, Pass: c.Password}.AsSha256Mechanism()
	case "scram-sha-512":
		return scram.Auth{User: c.User, Pass: c.Password}.AsSha512Mechanism()
	}
	return nil
}

// Open returns a Sink that produces the events' CloudEvents, with the given source (ingest's
// default when empty), to the topic of rawURL (see ParseURL), after checking that a broker answers.
// The topic must exist, or the brokers must create topics on first use: the sink creates none, as
// its partitions and replication are the operator's choice.
func Open(ctx context.Context, rawURL, source string) (*Sink, error) {
	cfg, err := ParseURL(rawURL)
	if err != nil {
		return nil, err
	}
	if source == "" {
		source = ingest.DefaultEventSource
	}
	opts := []kgo.Opt{
		kgo.SeedBrokers(cfg.Brokers...),
		kgo.ClientID(cfg.ClientID),
		kgo.DefaultProduceTopic(cfg.Topic),
		// Idempotent writes (franz-go's default) need acks from every in-sync replica; saying so
		// keeps it true should a default change.
		kgo.RequiredAcks(kgo.AllISRAcks()),
	}
	if m := cfg.mechanism(); m != nil {
		opts = append(opts, kgo.SASL(m))
	}
	if cfg.TLS {
		opts = append(opts, kgo.DialTLSConfig(&tls.Config{MinVersion: tls.VersionTLS12}))
	}
	client, err := kgo.NewClient(opts...)
	if err != nil {
		return nil, fmt.Errorf("configure the Kafka client: %w", err)
	}
	if err := client.Ping(ctx); err != nil {
		client.Close()
		return nil, fmt.Errorf("reach a Kafka broker of %s: %w", strings.Join(cfg.Brokers, ","), err)
	}
	return &Sink{client: client, source: source}, nil
}

// Name implements ingest.Sink.
func (s *Sink) Name() string { return "kafka" }

// Send implements ingest.Sink. It hands the whole batch to the producer, which batches the
// records into few requests, then waits for every acknowledgement. An event counts as delivered
// when the broker acknowledged its record with acks=all.
func (s *Sink) Send(ctx context.Context, events []*ingest.OutboxEvent) []error {
	errs, ctx, cancel, ended := sendctx.Start(ctx, len(events), sendTimeout)
	defer cancel()
	if ended {
		return errs
	}
	var wg sync.WaitGroup
	for i, e := range events {
		rec, err := s.record(e)
		if err != nil {
			errs[i] = err
			continue
		}
		wg.Add(1)
		s.client.Produce(ctx, rec, func(_ *kgo.Record, err error) {
			defer wg.Done()
			if err != nil {
				errs[i] = produceError(e, err)
			}
		})
	}
	wg.Wait()
	return errs
}

// record is e as a Kafka record: its CloudEvent keyed by the event id.
func (s *Sink) record(e *ingest.OutboxEvent) (*kgo.Record, error) {
	data, err := json.Marshal(ingest.NewCloudEvent(e, s.source))
	if err != nil {
		return nil, &ingest.DeliveryError{Permanent: true, Err: fmt.Errorf("encode event %s: %w", e.EventID, err)}
	}
	id := []byte(e.EventID.String())
	return &kgo.Record{
		Key:   id,
		Value: data,
		Headers: []kgo.RecordHeader{
			{Key: "content-type", Value: []byte(ContentType)},
			{Key: EventIDHeader, Value: id},
		},
	}, nil
}

// produceError is the error of an event whose record the broker did not take. A record the
// broker can never take (too large, invalid) fails for good; anything else (a broker down, a
// leader moving, a timeout) is retried on the relay's schedule.
func produceError(e *ingest.OutboxEvent, err error) error {
	err = fmt.Errorf("produce event %s: %w", e.EventID, err)
	if errors.Is(err, kerr.MessageTooLarge) || errors.Is(err, kerr.RecordListTooLarge) ||
		errors.Is(err, kerr.InvalidRecord) || errors.Is(err, kerr.CorruptMessage) {
		return &ingest.DeliveryError{Permanent: true, Err: err}
	}
	return err
}

// Close implements ingest.Sink. Records still buffered fail with kgo.ErrClientClosed.
func (s *Sink) Close() error {
	s.client.Close()
	return nil
}
