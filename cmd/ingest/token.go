package main

import (
	"context"
	"fmt"

	"github.com/urfave/cli/v3"

	"github.com/ingest-portal/ingest"
)

// tokenCommand is "ingest token create|ls|revoke".
func tokenCommand() *cli.Command {
	return &cli.Command{
		Name:  "token",
		Usage: "manage API tokens",
		Flags: databaseFlags(),
		Commands: []*cli.Command{
			{
				Name:  "create",
				Usage: "create an API token and print its secret, once, alone on the last line",
				Flags: []cli.Flag{
					&cli.StringFlag{Name: "user", Usage: "the `NAME` of the user the token belongs to", Required: true},
					&cli.StringFlag{Name: "name", Usage: "a `LABEL` that tells the token apart in listings"},
				},
				Action: createToken,
			},
			tokenListCommand(),
			tokenRevokeCommand(),
		},
	}
}

func createToken(ctx context.Context, cmd *cli.Command) error {
	if cmd.NArg() != 0 {
		return ingest.Errorf(ingest.EValidation, "token create takes no arguments; got %q", cmd.Args().Slice())
	}
	username := cmd.String("user")
	store, err := openMigratedStore(ctx, cmd)
	if err != nil {
		return fmt.Errorf("token create: %w", err)
	}
	defer store.Close()
	u, err := store.UserByUsername(ctx, username)
	if ingest.ErrorCode(err) == ingest.ENotFound {
		return ingest.Errorf(ingest.ENotFound, `no user named %q; create it with "ingest user create %s"`, username, username)
	}
	if err != nil {
		return fmt.Errorf("token create: %w", err)
	}
	if u.DisabledAt != nil {
		return ingest.Errorf(ingest.EValidation, "user %s is disabled", u.Username)
	}
	// Only the token, which holds the secret's hash, reaches the database.
	token, secret := ingest.NewAPIToken(u.ID, cmd.String("name"))
	if err := store.CreateAPIToken(ctx, token); err != nil {
		return fmt.Errorf("token create: %w", err)
	}
	out := cmd.Root().Writer
	fmt.Fprintf(out, "created token %s (prefix %s) for user %s\n", token.ID, token.Prefix, u.Username)
	// DESIGN.md §6: the secret alone on the last line, so scripts can take it with tail -n 1.
	if _, err := fmt.Fprintln(out, secret); err != nil {
		return fmt.Errorf("token create: token %s was created but its secret could not be printed, so it is unusable: %w", token.ID, err)
	}
	fmt.Fprintln(cmd.Root().ErrWriter, "the secret above is shown once; store it now")
	return nil
}
