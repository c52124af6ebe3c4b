package main

import (
	"context"
	"path/filepath"
	"strings"
	"time"

	"github.com/urfave/cli/v3"

	"github.com/ingest-portal/ingest"
	"github.com/ingest-portal/ingest/blob/azure"
	"github.com/ingest-portal/ingest/blob/gcs"
	"github.com/ingest-portal/ingest/blob/local"
	"github.com/ingest-portal/ingest/blob/s3"
	"github.com/ingest-portal/ingest/internal/bytesize"
	"github.com/ingest-portal/ingest/internal/durable"
)

// storageFlag is --storage: where file bytes live.
func storageFlag() cli.Flag {
	return &cli.StringFlag{
		Name:        "storage",
		Usage:       "where files are stored: file://DIR, s3://BUCKET/PREFIX?endpoint=…&region=…, gs://BUCKET/PREFIX or azblob://CONTAINER/PREFIX?account=…",
		DefaultText: "file://<data-dir>/blobs",
		Sources:     cli.EnvVars("INGEST_STORAGE"),
	}
}

// storageTimeoutFlag is --storage-timeout, shared by serve and gc.
func storageTimeoutFlag() cli.Flag {
	return &cli.DurationFlag{
		Name:    "storage-timeout",
		Usage:   "how long S3 storage may stay silent: to answer a request (each try), or to take or give the next bytes of a body",
		Value:   s3.DefaultTimeout,
		Sources: cli.EnvVars("INGEST_STORAGE_TIMEOUT"),
	}
}

// storageURL is --storage, defaulting to a directory in the data directory.
func storageURL(raw, dataDir string) string {
	if raw == "" {
		return "file://" + filepath.Join(dataDir, "blobs")
	}
	return raw
}

// checkStorageURL returns EValidation unless url names a blob store the portal can open.
func checkStorageURL(url string) error {
	switch {
	case strings.HasPrefix(url, "file://"):
		if strings.TrimPrefix(url, "file://") == "" {
			return ingest.Errorf(ingest.EValidation, "--storage file:// needs a directory")
		}
		return nil
	case strings.HasPrefix(url, "s3://"), strings.HasPrefix(url, "gs://"), strings.HasPrefix(url, "azblob://"):
		return nil
	}
	return ingest.Errorf(ingest.EValidation, "--storage must be file://DIR, s3://BUCKET/PREFIX, gs://BUCKET/PREFIX or azblob://CONTAINER/PREFIX?account=NAME")
}

// openStorage opens the blob store at url; flusher makes a file:// store's objects durable. S3
// credentials come from AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (S3 may stay silent for
// timeout), GCS credentials from Application Default Credentials (GOOGLE_APPLICATION_CREDENTIALS),
// the Azure account key from AZURE_STORAGE_KEY.
func openStorage(ctx context.Context, url string, timeout time.Duration, flusher *durable.Flusher) (ingest.BlobStore, error) {
	if err := checkStorageURL(url); err != nil {
		return nil, err
	}
	if dir, ok := strings.CutPrefix(url, "file://"); ok {
		return local.New(dir, local.WithFlusher(flusher))
	}
	if strings.HasPrefix(url, "gs://") {
		return gcs.Open(ctx, url)
	}
	if strings.HasPrefix(url, "azblob://") {
		return azure.Open(ctx, url)
	}
	return s3.Open(ctx, url, s3.WithTimeout(timeout))
}

// parseSize reads a size such as 64MiB, 5GiB, 1TB or 1048576 (bytes).
func parseSize(flag, s string) (int64, error) {
	n, ok := bytesize.Parse(s)
	if !ok {
		return 0, ingest.Errorf(ingest.EValidation, "--%s %q: want a size such as 64MiB, 5GiB or a number of bytes", flag, s)
	}
	return n, nil
}

// sizeFlag is a flag holding a size, with its environment twin.
func sizeFlag(name, env, value, usage string) cli.Flag {
	return &cli.StringFlag{Name: name, Usage: usage, Value: value, Sources: cli.EnvVars(env)}
}
