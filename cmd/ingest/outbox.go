package main

import (
	"github.com/urfave/cli/v3"
)

// outboxCommand is "ingest outbox": what an operator sees of, and does to, the event outbox.
func outboxCommand() *cli.Command {
	return &cli.Command{
		Name:     "outbox",
		Usage:    "list the outbox's events and retry the failed ones",
		Flags:    databaseFlags(),
		Commands: []*cli.Command{outboxListCommand(), outboxRetryCommand()},
	}
}
