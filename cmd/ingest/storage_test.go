package main

import (
	"context"
	"testing"

	"github.com/ingest-portal/ingest"
	"github.com/ingest-portal/ingest/blob/azure"
	"github.com/ingest-portal/ingest/blob/gcs"
	"github.com/ingest-portal/ingest/blob/s3"
	"github.com/ingest-portal/ingest/internal/testkit/azurite"
	"github.com/ingest-portal/ingest/internal/testkit/fakegcs"
)

func TestOpenStorageGCSURL(t *testing.T) {
	srv := fakegcs.Start(t)
	bucket := srv.Bucket(t)
	store, err := openStorage(context.Background(), "gs://"+bucket+"/ingest?endpoint="+srv.URL, s3.DefaultTimeout, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := store.(*gcs.Store); !ok || store.Bucket() != bucket || store.Prefix() != "ingest" {
		t.Fatalf("store = %T %s/%s, want the GCS bucket %s under ingest", store, store.Bucket(), store.Prefix(), bucket)
	}
	if err := store.Ping(context.Background()); err != nil {
		t.Errorf("Ping: %v", err)
	}
}

func TestOpenStorageAzureURL(t *testing.T) {
	srv := azurite.Start(t)
	name := srv.Container(t)
	t.Setenv("AZURE_STORAGE_KEY", azurite.Key)
	store, err := openStorage(context.Background(), "azblob://"+name+"/ingest?account="+azurite.Account+"&endpoint="+srv.Endpoint, s3.DefaultTimeout, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := store.(*azure.Store); !ok || store.Bucket() != name || store.Prefix() != "ingest" {
		t.Fatalf("store = %T %s/%s, want the Azure container %s under ingest", store, store.Bucket(), store.Prefix(), name)
	}
	if err := store.Ping(context.Background()); err != nil {
		t.Errorf("Ping: %v", err)
	}
}

func TestOpenStorageRefusesAnUnknownScheme(t *testing.T) {
	for _, raw := range []string{"ftp://host/dir", "gcs://bucket", "file://"} {
		if _, err := openStorage(context.Background(), raw, s3.DefaultTimeout, nil); ingest.ErrorCode(err) != ingest.EValidation {
			t.Errorf("openStorage(%q) = %v, want VALIDATION_FAILED", raw, err)
		}
	}
}
