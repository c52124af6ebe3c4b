package main

import (
	"context"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/urfave/cli/v3"

	"github.com/ingest-portal/ingest"
	"github.com/ingest-portal/ingest/blob/local"
	"github.com/ingest-portal/ingest/blob/s3"
)

// storageFlag is --storage: where file bytes live.
func storageFlag() cli.Flag {
	return &cli.StringFlag{
		Name:        "storage",
		Usage:       "where files are stored: file://DIR or s3://BUCKET/PREFIX?endpoint=…&region=…",
		DefaultText: "file://<data-dir>/blobs",
		Sources:     cli.EnvVars("INGEST_STORAGE"),
	}
}

// openStorage opens the blob store named by --storage, defaulting to a directory in the data
// directory. S3 credentials come from AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY.
func openStorage(ctx context.Context, cmd *cli.Command) (ingest.BlobStore, error) {
	url := cmd.String("storage")
	if url == "" {
		url = "file://" + filepath.Join(cmd.String(dataDirFlag), "blobs")
	}
	switch {
	case strings.HasPrefix(url, "file://"):
		dir := strings.TrimPrefix(url, "file://")
		if dir == "" {
			return nil, ingest.Errorf(ingest.EValidation, "--storage file:// needs a directory")
		}
		flush, err := flushMode(cmd)
		if err != nil {
			return nil, err
		}
		return local.New(dir, local.WithFlush(flush))
	case strings.HasPrefix(url, "s3://"):
		return s3.Open(ctx, url)
	}
	return nil, ingest.Errorf(ingest.EValidation, "--storage must be file://DIR or s3://BUCKET/PREFIX")
}

// parseSize reads a size such as 64MiB, 5GiB, 1TB or 1048576 (bytes).
func parseSize(flag, s string) (int64, error) {
	units := []struct {
		suffix string
		factor int64
	}{
		{"KiB", 1 << 10}, {"MiB", 1 << 20}, {"GiB", 1 << 30}, {"TiB", 1 << 40},
		{"KB", 1e3}, {"MB", 1e6}, {"GB", 1e9}, {"TB", 1e12}, {"B", 1},
	}
	number, factor := strings.TrimSpace(s), int64(1)
	for _, u := range units {
		if rest, ok := strings.CutSuffix(number, u.suffix); ok {
			number, factor = strings.TrimSpace(rest), u.factor
			break
		}
	}
	n, err := strconv.ParseInt(number, 10, 64)
	if err != nil || n < 0 || n > (1<<62)/factor {
		return 0, ingest.Errorf(ingest.EValidation, "--%s %q: want a size such as 64MiB, 5GiB or a number of bytes", flag, s)
	}
	return n * factor, nil
}

// sizeFlag is a flag holding a size, with its environment twin.
func sizeFlag(name, env, value, usage string) cli.Flag {
	return &cli.StringFlag{Name: name, Usage: usage, Value: value, Sources: cli.EnvVars(env)}
}

// flagSize reads a size flag.
func flagSize(cmd *cli.Command, name string) (int64, error) {
	return parseSize(name, cmd.String(name))
}
