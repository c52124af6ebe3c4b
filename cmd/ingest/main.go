// Command ingest is Ingest Portal: the server ("ingest serve") and the operator's tool that migrates
// and checks the database and creates users and API tokens (DESIGN.md §6).
//
// This file only builds the command tree and runs it; each subcommand lives in a file of its own.
package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/urfave/cli/v3"

	"github.com/ingest-portal/ingest"
)

func main() {
	ctx, stop := signalContext(os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args, os.Stdout, os.Stderr)
	// A command cut short by a signal exits as shells expect of one killed by it (130 for ^C), so
	// that a script can tell an interrupt from a failure; one that stopped cleanly (serve) exits 0.
	if sig, ok := context.Cause(ctx).(signalled); ok && code != 0 {
		code = 128 + int(sig.Signal)
	}
	stop()
	os.Exit(code)
}

// signalled is the cause of a context ended by a signal.
type signalled struct{ syscall.Signal }

func (s signalled) Error() string { return "interrupted by " + s.Signal.String() }

// signalContext is signal.NotifyContext that keeps which signal ended it (context.Cause): after
// the first, stop restores the default, so a second ^C kills at once.
func signalContext(sigs ...os.Signal) (context.Context, func()) {
	ctx, cancel := context.WithCancelCause(context.Background())
	ch := make(chan os.Signal, 1)
	signal.Notify(ch, sigs...)
	go func() {
		select {
		case s := <-ch:
			signal.Stop(ch)
			if sig, ok := s.(syscall.Signal); ok {
				cancel(signalled{sig})
			}
		case <-ctx.Done():
		}
	}()
	return ctx, func() {
		signal.Stop(ch)
		cancel(nil)
	}
}

// run runs the command line args (args[0] is the program name) and returns the process's exit
// code: 0, or 1 after printing the error to stderr as "ingest: <message>".
func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if err := newApp(stdout, stderr).Run(ctx, args); err != nil {
		fmt.Fprintf(stderr, "ingest: %s\n", errorLine(err))
		return 1
	}
	return 0
}

// newApp returns the root command, writing to stdout and stderr. A cli flag keeps its parsed
// value, so every call builds a new tree and runs never share state.
func newApp(stdout, stderr io.Writer) *cli.Command {
	app := &cli.Command{
		Name:      "ingest",
		Usage:     "operate an Ingest Portal",
		Writer:    stdout,
		ErrWriter: stderr,
		// cli's own version flag prints only a version string; --version prints what "ingest
		// version" does.
		HideVersion: true,
		Flags:       []cli.Flag{&cli.BoolFlag{Name: "version", Usage: `print the version, as "ingest version" does`}},
		Action: func(ctx context.Context, cmd *cli.Command) error {
			switch {
			case cmd.Bool("version"):
				return printVersion(ctx, cmd)
			case cmd.Args().Present():
				return ingest.Errorf(ingest.EValidation, "unknown command %q (see \"ingest --help\")", cmd.Args().First())
			}
			return cli.ShowAppHelp(cmd)
		},
		// run prints every error once and chooses the exit code, so cli must neither print nor
		// exit; its default handler calls os.Exit for some errors.
		ExitErrHandler: func(context.Context, *cli.Command, error) {},
		Commands: []*cli.Command{
			serveCommand(),
			migrateCommand(),
			checkCommand(),
			gcCommand(),
			userCommand(),
			tokenCommand(),
			relayCommand(),
			outboxCommand(),
			versionCommand(),
			uploadCommand(),
			filesCommand(),
			batchesCommand(),
			grantCommand(),
		},
	}
	forEachCommand(app, func(c *cli.Command) { c.OnUsageError = usageError })
	return app
}

// forEachCommand calls fn on cmd and every command under it.
func forEachCommand(cmd *cli.Command, fn func(*cli.Command)) {
	fn(cmd)
	for _, sub := range cmd.Commands {
		forEachCommand(sub, fn)
	}
}

// usageError turns a mistake on the command line (an unknown flag, a missing value) into one line
// that says where the help is, instead of cli's whole help text.
func usageError(_ context.Context, cmd *cli.Command, err error, _ bool) error {
	return ingest.Errorf(ingest.EValidation, "%s (see \"%s --help\")", err, cmd.FullName())
}

// errorLine renders err on one line for the operator: the message of a portal error, or the
// whole chain of an internal one or of a dependency's failure, whose detail (the driver's, the
// network's) is what someone at the terminal of their own server needs.
func errorLine(err error) string {
	msg := ingest.ErrorMessage(err)
	switch ingest.ErrorCode(err) {
	case ingest.EInternal, ingest.EConstraintViolation, ingest.EStorageUnavailable, ingest.EDatabaseUnavailable:
		msg = err.Error()
	}
	return strings.Join(strings.Fields(msg), " ")
}
