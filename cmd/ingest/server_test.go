package main

import (
	"context"
	"log/slog"
	"net"
	"net/http"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/urfave/cli/v3"

	"github.com/ingest-portal/ingest"
	"github.com/ingest-portal/ingest/internal/testkit/syncbuf"
)

// testServeConfig returns serve's defaults on the database at dbURL, with storage, events and a
// free port of the test's own.
func testServeConfig(t *testing.T, dbURL string) serveConfig {
	dir := t.TempDir()
	cfg := defaultServeConfig()
	cfg.Database = databaseConfig{DataDir: dir, URL: dbURL}
	cfg.Storage = "file://" + filepath.Join(dir, "blobs")
	cfg.Sink.URL = "file://" + filepath.Join(dir, "events.jsonl")
	cfg.Addr = "127.0.0.1:0"
	cfg.ShutdownTimeout = 5 * time.Second
	if err := cfg.Validate(); err != nil {
		t.Fatalf("the test's config: %v", err)
	}
	return cfg
}

func countUsers(t *testing.T, dbURL string) int {
	t.Helper()
	var n int
	if err := openDB(t, dbURL).QueryRow(`SELECT count(*) FROM users`).Scan(&n); err != nil {
		t.Fatalf("count users: %v", err)
	}
	return n
}

func TestServeOnABusyPortCreatesNoAdmin(t *testing.T) {
	unsetIngestEnv(t)
	forEachDialect(t, func(t *testing.T, dialect, dbURL string) {
		busy, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer busy.Close()
		dir := t.TempDir()
		r := mustFail(t, "serve", "--addr", busy.Addr().String(), "--data-dir", dir, "--database-url", dbURL)
		if got := lastLine(r.stderr); !strings.HasPrefix(got, "ingest: listen: ") || !strings.Contains(got, "address already in use") {
			t.Errorf("serve on a busy port: stderr ends %q, want the listen error", got)
		}
		if r.stdout != "" {
			t.Errorf("serve on a busy port printed %q", r.stdout)
		}
		if n := countUsers(t, dbURL); n != 0 {
			t.Fatalf("serve on a busy port left %d users, want none", n)
		}

		// The token was not used up: the next serve, on a free port, creates the admin and prints it.
		cfg := testServeConfig(t, dbURL)
		var stdout, logs syncbuf.Buffer
		srv := newServer(cfg, slog.New(slog.NewTextHandler(&logs, nil)), &stdout)
		if err := srv.open(t.Context()); err != nil {
			srv.close()
			t.Fatalf("open: %v\n%s", err, logs.String())
		}
		secret, ok := strings.CutPrefix(strings.TrimSuffix(stdout.String(), "\n"), "admin token: ")
		if !ok || !strings.HasPrefix(secret, "ingest_") || strings.Contains(secret, "\n") {
			t.Fatalf("stdout = %q, want one line \"admin token: <secret>\"", stdout.String())
		}
		url := srv.url()
		ctx, stop := context.WithCancel(t.Context())
		ran := make(chan error, 1)
		go func() { ran <- srv.run(ctx) }()
		req, _ := http.NewRequest("GET", url+"/api/v1/files", nil)
		req.Header.Set("Authorization", "Bearer "+secret)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Errorf("GET /api/v1/files with the printed token: %d, want 200", resp.StatusCode)
		}
		stop()
		if err := <-ran; err != nil {
			t.Errorf("run: %v", err)
		}
		if err := srv.close(); err != nil {
			t.Errorf("close: %v", err)
		}
		for _, line := range []string{"msg=listening url=" + url, `msg="shutting down"`, "msg=stopped"} {
			if !strings.Contains(logs.String(), line) {
				t.Errorf("the log has no %q:\n%s", line, logs.String())
			}
		}
	})
}

func TestServeFlagsDefaultToTheConfigDefaults(t *testing.T) {
	unsetIngestEnv(t)
	var got serveConfig
	cmd := serveCommand()
	cmd.Action = func(_ context.Context, cmd *cli.Command) error {
		var err error
		got, err = serveConfigFrom(cmd)
		return err
	}
	if err := cmd.Run(t.Context(), []string{"serve", "--data-dir", "d"}); err != nil {
		t.Fatal(err)
	}
	// An empty list flag reads as an empty slice; the defaults hold none.
	if len(got.Sink.WebhookSecrets) == 0 {
		got.Sink.WebhookSecrets = nil
	}
	want := defaultServeConfig()
	want.Database = databaseConfig{DataDir: "d", URL: "sqlite://" + filepath.Join("d", "ingest.db")}
	want.Storage = "file://" + filepath.Join("d", "blobs")
	want.Sink.URL = "file://" + filepath.Join("d", "events.jsonl")
	if !reflect.DeepEqual(got, want) {
		t.Errorf("serve's flags read\n%+v\nwant the defaults\n%+v", got, want)
	}
	if err := got.Validate(); err != nil {
		t.Errorf("the defaults do not validate: %v", err)
	}
}

func TestServeConfigValidate(t *testing.T) {
	for name, change := range map[string]func(*serveConfig){
		"no database":                 func(c *serveConfig) { c.Database = databaseConfig{} },
		"unknown storage":             func(c *serveConfig) { c.Storage = "ftp://host/dir" },
		"no storage directory":        func(c *serveConfig) { c.Storage = "file://" },
		"a zero session TTL":          func(c *serveConfig) { c.Upload.SessionTTL = 0 },
		"a public URL with a query":   func(c *serveConfig) { c.PublicURL = "https://upload.example.com/?x=1" },
		"an origin with a path":       func(c *serveConfig) { c.CORSAllowedOrigins = []string{"https://app.example.com/page"} },
		"a zero sweep interval":       func(c *serveConfig) { c.SweepInterval = 0 },
		"a zero storage timeout":      func(c *serveConfig) { c.StorageTimeout = 0 },
		"a negative shutdown timeout": func(c *serveConfig) { c.ShutdownTimeout = -time.Second },
		"too many relay workers":      func(c *serveConfig) { c.RelayConfig.Workers = 65 },
	} {
		t.Run(name, func(t *testing.T) {
			cfg := defaultServeConfig()
			cfg.Database = databaseConfig{URL: "sqlite://x.db"}
			cfg.Storage = "file://blobs"
			if err := cfg.Validate(); err != nil {
				t.Fatalf("the valid config: %v", err)
			}
			change(&cfg)
			if err := cfg.Validate(); ingest.ErrorCode(err) != ingest.EValidation {
				t.Errorf("Validate = %v, want VALIDATION_FAILED", err)
			}
		})
	}
}
