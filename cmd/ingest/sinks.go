package main

import (
	"context"
	"net/url"
	"path/filepath"
	"strings"

	"github.com/urfave/cli/v3"

	"github.com/ingest-portal/ingest"
	"github.com/ingest-portal/ingest/internal/durable"
	filesink "github.com/ingest-portal/ingest/sink/file"
	kafkasink "github.com/ingest-portal/ingest/sink/kafka"
	natssink "github.com/ingest-portal/ingest/sink/nats"
	"github.com/ingest-portal/ingest/sink/webhook"
)

// The flags of the commands that deliver events.
const (
	eventsSinkFlag    = "events-sink"
	eventSourceFlag   = "event-source"
	webhookSecretFlag = "webhook-secret"
)

// sinkFlags returns the flags that choose where events go: what "ingest serve" and "ingest relay"
// take. The default sink lives in --data-dir, so a command with sinkFlags takes databaseFlags too.
func sinkFlags() []cli.Flag {
	return []cli.Flag{
		&cli.StringFlag{
			Name:        eventsSinkFlag,
			Usage:       "where events go: file://PATH.jsonl, nats://HOST:PORT?stream=…&subject=…, kafka://HOST:PORT/TOPIC, or an http(s):// webhook URL",
			DefaultText: "file://<data-dir>/events.jsonl",
			Sources:     cli.EnvVars("INGEST_EVENTS_SINK"),
		},
		&cli.StringFlag{
			Name:    eventSourceFlag,
			Usage:   "the CloudEvents source of the events",
			Value:   ingest.DefaultEventSource,
			Sources: cli.EnvVars("INGEST_EVENT_SOURCE"),
		},
		&cli.StringSliceFlag{
			Name:    webhookSecretFlag,
			Usage:   "a webhook signing secret, whsec_BASE64 or raw; repeat it (or separate with commas) to sign with several while rotating",
			Sources: cli.EnvVars("INGEST_WEBHOOK_SECRET"),
		},
	}
}

// sinkConfig names where events go.
type sinkConfig struct {
	URL            string   // file://, nats://, kafka:// or http(s)://; "" when neither it nor a data directory is set
	Source         string   // the CloudEvents source
	WebhookSecrets []string // a webhook's signing secrets
}

// sinkConfigFrom reads the sink flags of cmd, defaulting to events.jsonl in the data directory.
func sinkConfigFrom(cmd *cli.Command) sinkConfig {
	c := sinkConfig{
		URL:            cmd.String(eventsSinkFlag),
		Source:         cmd.String(eventSourceFlag),
		WebhookSecrets: cmd.StringSlice(webhookSecretFlag),
	}
	if dir := cmd.String(dataDirFlag); c.URL == "" && dir != "" {
		c.URL = "file://" + filepath.Join(dir, "events.jsonl")
	}
	return c
}

// openSink opens the sink cfg names; flusher makes a file:// sink's appends durable.
func openSink(ctx context.Context, cfg sinkConfig, flusher *durable.Flusher) (ingest.Sink, error) {
	raw := cfg.URL
	if raw == "" {
		return nil, ingest.Errorf(ingest.EValidation, "--%s is empty and --%s is not set; set either", dataDirFlag, eventsSinkFlag)
	}
	scheme, _, ok := strings.Cut(raw, "://")
	if !ok {
		return nil, badSinkURL(raw)
	}
	var sink ingest.Sink
	var err error
	switch strings.ToLower(scheme) {
	case "file":
		sink, err = openFileSink(raw, cfg.Source, flusher)
	case "nats":
		sink, err = natssink.Open(ctx, raw, cfg.Source)
	case "kafka":
		sink, err = kafkasink.Open(ctx, raw, cfg.Source)
	case "http", "https":
		sink, err = webhook.New(raw, cfg.WebhookSecrets, cfg.Source)
	default:
		return nil, badSinkURL(raw)
	}
	if ingest.ErrorCode(err) == ingest.EValidation {
		// The sink's own message says what is wrong; the operator also needs to know where.
		return nil, ingest.Errorf(ingest.EValidation, "--%s: %s", eventsSinkFlag, ingest.ErrorMessage(err))
	}
	if err != nil {
		return nil, err
	}
	return sink, nil
}

// openFileSink opens a file:// sink. Like --storage, the path is what follows "file://", so
// file:///var/lib/ingest/events.jsonl is absolute and file://ingest-data/events.jsonl relative.
func openFileSink(raw, source string, flusher *durable.Flusher) (ingest.Sink, error) {
	path := strings.TrimPrefix(raw[len("file"):], "://")
	if path == "" {
		return nil, ingest.Errorf(ingest.EValidation, "--%s file:// needs a path", eventsSinkFlag)
	}
	return filesink.Open(path, source, filesink.WithFlusher(flusher))
}

// badSinkURL is the error of an --events-sink the portal cannot deliver to. It names the URL
// without its password, which must not reach a log.
func badSinkURL(raw string) error {
	shown := raw
	if u, err := url.Parse(raw); err == nil {
		shown = u.Redacted()
	}
	return ingest.Errorf(ingest.EValidation, "--%s %q: want file://PATH.jsonl, nats://HOST:PORT?stream=…&subject=…, kafka://HOST:PORT/TOPIC, or an http(s):// URL", eventsSinkFlag, shown)
}
