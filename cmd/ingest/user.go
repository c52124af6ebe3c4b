package main

import (
	"context"
	"fmt"

	"github.com/urfave/cli/v3"

	"github.com/ingest-portal/ingest"
)

// userCommand is "ingest user create|set-password|ls".
func userCommand() *cli.Command {
	return &cli.Command{
		Name:  "user",
		Usage: "manage the portal's users",
		Flags: databaseFlags(),
		Commands: []*cli.Command{
			{
				Name:      "create",
				Usage:     "create a user",
				ArgsUsage: "NAME",
				Flags: []cli.Flag{
					&cli.BoolFlag{Name: "admin", Usage: "make the user an administrator"},
				},
				Action: createUser,
			},
			setPasswordCommand(),
			userListCommand(),
		},
	}
}

func createUser(ctx context.Context, cmd *cli.Command) error {
	if cmd.NArg() != 1 {
		return ingest.Errorf(ingest.EValidation, "user create takes one argument, the user's name; got %d", cmd.NArg())
	}
	// Refuse a bad name before touching the database.
	username := cmd.Args().First()
	if err := ingest.ValidateUsername(username); err != nil {
		return err
	}
	store, err := openMigratedStore(ctx, cmd)
	if err != nil {
		return fmt.Errorf("user create: %w", err)
	}
	defer store.Close()
	u := &ingest.User{Username: username, IsAdmin: cmd.Bool("admin")}
	if err := store.CreateUser(ctx, u); err != nil {
		return fmt.Errorf("user create: %w", err)
	}
	role := ""
	if u.IsAdmin {
		role = ", admin"
	}
	fmt.Fprintf(cmd.Root().Writer, "created user %s (id %s%s)\n", u.Username, u.ID, role)
	return nil
}
