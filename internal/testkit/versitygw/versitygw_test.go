package versitygw_test

import (
	"bytes"
	"context"
	"io"
	"net"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/ingest-portal/ingest/internal/testkit/versitygw"
)

func TestServer(t *testing.T) {
	var endpoint string
	t.Run("a started server stores objects in new buckets", func(t *testing.T) {
		begin := time.Now()
		srv := versitygw.Start(t)
		t.Logf("the gateway answered after %s", time.Since(begin))
		endpoint = srv.Endpoint

		first, second := srv.NewBucket(t), srv.NewBucket(t)
		if first == second {
			t.Fatalf("NewBucket returned %q twice", first)
		}
		ctx := context.Background()
		client := srv.Client()
		want := []byte("hello, versitygw")
		if _, err := client.PutObject(ctx, &s3.PutObjectInput{
			Bucket: aws.String(first), Key: aws.String("a/b"), Body: bytes.NewReader(want),
		}); err != nil {
			t.Fatalf("PutObject: %v", err)
		}
		out, err := client.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(first), Key: aws.String("a/b")})
		if err != nil {
			t.Fatalf("GetObject: %v", err)
		}
		got, err := io.ReadAll(out.Body)
		out.Body.Close()
		if err != nil || !bytes.Equal(got, want) {
			t.Errorf("GetObject read %q, %v; want %q", got, err, want)
		}
		list, err := client.ListObjectsV2(ctx, &s3.ListObjectsV2Input{Bucket: aws.String(second)})
		if err != nil {
			t.Fatalf("ListObjectsV2: %v", err)
		}
		if len(list.Contents) != 0 {
			t.Errorf("a new bucket holds %d objects", len(list.Contents))
		}
	})

	t.Run("the server is gone when its test ends", func(t *testing.T) {
		if endpoint == "" {
			t.Fatal("the previous subtest did not start a server")
		}
		conn, err := net.DialTimeout("tcp", endpoint[len("http://"):], time.Second)
		if err == nil {
			conn.Close()
			t.Errorf("%s still accepts connections", endpoint)
		}
	})
}

func TestServersAreSeparate(t *testing.T) {
	a, b := versitygw.Start(t), versitygw.Start(t)
	if a.Endpoint == b.Endpoint {
		t.Fatalf("two servers share %s", a.Endpoint)
	}
	bucket := a.NewBucket(t)
	_, err := b.Client().HeadBucket(context.Background(), &s3.HeadBucketInput{Bucket: aws.String(bucket)})
	if err == nil {
		t.Errorf("bucket %s of one server exists on the other", bucket)
	}
}
