package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/urfave/cli/v3"

	"github.com/ingest-portal/ingest"
	"github.com/ingest-portal/ingest/admin"
)

// setPasswordCommand is "ingest user set-password NAME": the password the user signs in to the
// admin console with. It is read from the terminal without echo, or from the first line of
// standard input, never from the command line, which other users of the machine can see.
func setPasswordCommand() *cli.Command {
	return &cli.Command{
		Name:      "set-password",
		Usage:     "set the password a user signs in to the admin console with (read from the terminal or standard input)",
		ArgsUsage: "NAME",
		Action:    setPassword,
	}
}

func setPassword(ctx context.Context, cmd *cli.Command) error {
	if cmd.NArg() != 1 {
		return ingest.Errorf(ingest.EValidation, "user set-password takes one argument, the user's name; got %d", cmd.NArg())
	}
	password, err := readPassword(cmd.Root().Reader, cmd.Root().ErrWriter)
	if err != nil {
		return fmt.Errorf("user set-password: %w", err)
	}
	hash, err := admin.HashPassword(password)
	if err != nil {
		return err
	}
	store, err := openMigratedStore(ctx, cmd)
	if err != nil {
		return fmt.Errorf("user set-password: %w", err)
	}
	defer store.Close()
	u, err := store.UserByUsername(ctx, cmd.Args().First())
	if err != nil {
		return err
	}
	if err := store.SetPassword(ctx, u.ID, hash); err != nil {
		return fmt.Errorf("user set-password: %w", err)
	}
	fmt.Fprintf(cmd.Root().Writer, "set the password of user %s\n", u.Username)
	return nil
}

// readPassword reads a password: on a terminal twice, without echo, prompting on prompt;
// otherwise the first line of in.
func readPassword(in io.Reader, prompt io.Writer) (string, error) {
	if in == nil {
		in = os.Stdin
	}
	if f, ok := in.(*os.File); ok && isTerminal(f) {
		fmt.Fprint(prompt, "New password: ")
		first, err := readHiddenLine(f)
		fmt.Fprintln(prompt)
		if err != nil {
			return "", err
		}
		fmt.Fprint(prompt, "Repeat it: ")
		second, err := readHiddenLine(f)
		fmt.Fprintln(prompt)
		if err != nil {
			return "", err
		}
		if first != second {
			return "", ingest.Errorf(ingest.EValidation, "the two passwords differ")
		}
		return first, nil
	}
	line, err := bufio.NewReader(in).ReadString('\n')
	if err != nil && err != io.EOF {
		return "", err
	}
	return strings.TrimRight(line, "\r\n"), nil
}
