package main

import (
	"context"
	"fmt"
	"text/tabwriter"
	"time"

	"github.com/google/uuid"
	"github.com/urfave/cli/v3"

	"github.com/ingest-portal/ingest"
	"github.com/ingest-portal/ingest/readmodel"
)

// userListCommand is "ingest user ls": every user, oldest first.
func userListCommand() *cli.Command {
	return &cli.Command{Name: "ls", Usage: "list the users, oldest first", Action: listUsers}
}

// tokenListCommand is "ingest token ls [--user NAME]": every API token, oldest first.
func tokenListCommand() *cli.Command {
	return &cli.Command{
		Name:   "ls",
		Usage:  "list the API tokens (never their secrets), oldest first",
		Flags:  []cli.Flag{&cli.StringFlag{Name: "user", Usage: "only the tokens of the user named `NAME`"}},
		Action: listTokens,
	}
}

// tokenRevokeCommand is "ingest token revoke ID".
func tokenRevokeCommand() *cli.Command {
	return &cli.Command{
		Name:      "revoke",
		Usage:     "revoke an API token: it authenticates nothing more (a running portal may trust it for --auth-cache-ttl)",
		ArgsUsage: "ID",
		Action:    revokeToken,
	}
}

// everyRow pages through a list of the read model from its oldest row to its newest.
func everyRow[T any](ctx context.Context, find func(context.Context, readmodel.ListQuery) (*readmodel.Listing[T], error),
	q readmodel.ListQuery, id func(T) uuid.UUID) ([]T, error) {
	q.Asc, q.Limit = true, ingest.MaxPageLimit
	var rows []T
	for {
		page, err := find(ctx, q)
		if err != nil {
			return nil, err
		}
		rows = append(rows, page.Items...)
		if !page.More || len(page.Items) == 0 {
			return rows, nil
		}
		last := id(page.Items[len(page.Items)-1])
		q.Cursor = readmodel.Cursor{After: &last}
	}
}

func listUsers(ctx context.Context, cmd *cli.Command) error {
	store, err := openMigratedStore(ctx, cmd)
	if err != nil {
		return fmt.Errorf("user ls: %w", err)
	}
	defer store.Close()
	users, err := everyRow(ctx, store.FindUsers, readmodel.ListQuery{}, func(u *ingest.User) uuid.UUID { return u.ID })
	if err != nil {
		return fmt.Errorf("user ls: %w", err)
	}
	w := tabwriter.NewWriter(cmd.Root().Writer, 0, 4, 2, ' ', 0)
	fmt.Fprintln(w, "USERNAME\tID\tROLE\tSTATE\tCREATED")
	for _, u := range users {
		role, state := "uploader", "active"
		if u.IsAdmin {
			role = "admin"
		}
		if u.DisabledAt != nil {
			state = "disabled"
		}
		fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\n", u.Username, u.ID, role, state, u.CreatedAt.Format(time.RFC3339))
	}
	return w.Flush()
}

func listTokens(ctx context.Context, cmd *cli.Command) error {
	store, err := openMigratedStore(ctx, cmd)
	if err != nil {
		return fmt.Errorf("token ls: %w", err)
	}
	defer store.Close()
	users, err := everyRow(ctx, store.FindUsers, readmodel.ListQuery{}, func(u *ingest.User) uuid.UUID { return u.ID })
	if err != nil {
		return fmt.Errorf("token ls: %w", err)
	}
	names := make(map[uuid.UUID]string, len(users))
	var q readmodel.ListQuery
	for _, u := range users {
		names[u.ID] = u.Username
		if u.Username == cmd.String("user") {
			q.UserID = &u.ID
		}
	}
	if cmd.String("user") != "" && q.UserID == nil {
		return ingest.Errorf(ingest.ENotFound, "no user named %q", cmd.String("user"))
	}
	tokens, err := everyRow(ctx, store.FindTokens, q, func(t *ingest.APIToken) uuid.UUID { return t.ID })
	if err != nil {
		return fmt.Errorf("token ls: %w", err)
	}
	now := time.Now()
	w := tabwriter.NewWriter(cmd.Root().Writer, 0, 4, 2, ' ', 0)
	fmt.Fprintln(w, "ID\tPREFIX\tUSER\tNAME\tSTATE\tLAST USED\tCREATED")
	for _, t := range tokens {
		used := "never"
		if t.LastUsedAt != nil {
			used = t.LastUsedAt.Format(time.RFC3339)
		}
		fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", t.ID, t.Prefix, names[t.UserID], orDash(&t.Name), t.State(now), used,
			t.CreatedAt.Format(time.RFC3339))
	}
	return w.Flush()
}

func revokeToken(ctx context.Context, cmd *cli.Command) error {
	if cmd.NArg() != 1 {
		return ingest.Errorf(ingest.EValidation, "token revoke takes one argument, the token's id (see \"ingest token ls\")")
	}
	id, err := uuid.Parse(cmd.Args().First())
	if err != nil {
		return ingest.Errorf(ingest.EValidation, "%q is not a token id (see \"ingest token ls\")", cmd.Args().First())
	}
	store, err := openMigratedStore(ctx, cmd)
	if err != nil {
		return fmt.Errorf("token revoke: %w", err)
	}
	defer store.Close()
	t, err := store.RevokeAPIToken(ctx, id)
	if err != nil {
		return err
	}
	_, err = fmt.Fprintf(cmd.Root().Writer, "revoked token %s (prefix %s)\n", t.ID, t.Prefix)
	return err
}
