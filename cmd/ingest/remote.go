package main

import (
	"context"
	"encoding/json"
	"io"
	"os"

	"github.com/urfave/cli/v3"

	"github.com/ingest-portal/ingest"
	"github.com/ingest-portal/ingest/client"
)

// The flags of the commands that talk to a portal over its API (upload, files, batches) rather
// than open its database.
const (
	serverFlag = "server"
	tokenFlag  = "token"
	jsonFlag   = "json"
)

// remoteFlags are the flags of a command that calls the API. They are persistent, like the
// database flags, so they may come before or after a subcommand.
func remoteFlags() []cli.Flag {
	return []cli.Flag{
		&cli.StringFlag{
			Name:  serverFlag,
			Usage: "the portal's `URL`",
			Value: "http://127.0.0.1:8080",
			// INGEST_URL, as in the API's examples; INGEST_SERVER is its former name.
			Sources: cli.EnvVars("INGEST_URL", "INGEST_SERVER"),
		},
		&cli.StringFlag{
			Name:    tokenFlag,
			Usage:   "an API `TOKEN` (prefer INGEST_TOKEN: a flag shows in the process list)",
			Sources: cli.EnvVars("INGEST_TOKEN"),
		},
	}
}

// jsonOutputFlag is --json: machine-readable output, one JSON object per line.
func jsonOutputFlag(usage string) cli.Flag {
	return &cli.BoolFlag{Name: jsonFlag, Usage: usage, Sources: cli.EnvVars("INGEST_JSON")}
}

// newClient returns a client of the portal the flags name, once the portal has answered: one
// that is down or misaddressed is said at once, not after the client's retries.
func newClient(ctx context.Context, cmd *cli.Command) (*client.Client, error) {
	token := cmd.String(tokenFlag)
	if token == "" {
		return nil, ingest.Errorf(ingest.EValidation, "give an API token: INGEST_TOKEN=… or --token (create one with \"ingest token create\")")
	}
	c, err := client.New(cmd.String(serverFlag), token)
	if err != nil {
		return nil, ingest.Errorf(ingest.EValidation, "%s", err)
	}
	if err := c.Reach(ctx); err != nil {
		c.Close()
		return nil, ingest.Errorf(ingest.EValidation, "cannot reach the portal at %s: is \"ingest serve\" running? (%s)", c.Server(), err)
	}
	return c, nil
}

// writeJSONLine writes v as one line of JSON.
func writeJSONLine(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	return enc.Encode(v)
}

// isTerminal reports whether w is a terminal, where progress bars can redraw themselves.
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	fi, err := f.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
}
