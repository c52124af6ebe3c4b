package main

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"sync"

	"github.com/ingest-portal/ingest/client"
)

// dataset is a file of random bytes, written once, that uploads stream from: the page cache
// holds it, and sendfile(2) sends it, so the client costs the servers next to no CPU.
type dataset struct {
	path string
	size int64

	mu   sync.Mutex
	sums map[[2]int64]string // SHA-256 by offset and length
}

// source is a range of the dataset that is uploaded as one file.
type source struct {
	data   *dataset
	offset int64
	size   int64
	sha256 string // of the range
}

// writeDataset writes size random bytes to path, from a fixed seed, and syncs them so that their
// writeback does not fall into a measurement.
func writeDataset(ctx context.Context, path string, size int64) (*dataset, error) {
	f, err := os.Create(path)
	if err != nil {
		return nil, fmt.Errorf("create the dataset: %w", err)
	}
	defer f.Close()
	rng := rand.NewChaCha8([32]byte{'i', 'n', 'g', 'e', 's', 't', '-', 'b', 'e', 'n', 'c', 'h'})
	buf := make([]byte, 4<<20)
	for written := int64(0); written < size; {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		chunk := buf[:min(int64(len(buf)), size-written)]
		_, _ = rng.Read(chunk) // ChaCha8.Read never fails
		if _, err := f.Write(chunk); err != nil {
			return nil, fmt.Errorf("write the dataset: %w", err)
		}
		written += int64(len(chunk))
	}
	if err := f.Sync(); err != nil {
		return nil, fmt.Errorf("write the dataset: %w", err)
	}
	if err := f.Close(); err != nil {
		return nil, fmt.Errorf("write the dataset: %w", err)
	}
	return &dataset{path: path, size: size, sums: map[[2]int64]string{}}, nil
}

// source returns the range of size bytes at offset, with its SHA-256.
func (d *dataset) source(offset, size int64) (source, error) {
	if offset < 0 || size < 0 || offset+size > d.size {
		return source{}, fmt.Errorf("range %d+%d is outside the dataset of %d bytes", offset, size, d.size)
	}
	sum, err := d.sha256(offset, size)
	if err != nil {
		return source{}, err
	}
	return source{data: d, offset: offset, size: size, sha256: sum}, nil
}

// sha256 hashes a range of the dataset, once.
func (d *dataset) sha256(offset, size int64) (string, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	key := [2]int64{offset, size}
	if sum, ok := d.sums[key]; ok {
		return sum, nil
	}
	f, err := os.Open(d.path)
	if err != nil {
		return "", fmt.Errorf("hash the dataset: %w", err)
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, io.NewSectionReader(f, offset, size)); err != nil {
		return "", fmt.Errorf("hash the dataset: %w", err)
	}
	sum := hex.EncodeToString(h.Sum(nil))
	d.sums[key] = sum
	return sum, nil
}

// section opens a request body of length bytes of the dataset from offset, sent with
// sendfile(2) (see client.FileSection).
func (d *dataset) section(offset, length int64) (io.ReadCloser, error) {
	body, err := client.FileSection(d.path, offset, length)()
	if err != nil {
		return nil, fmt.Errorf("open the dataset: %w", err)
	}
	return body, nil
}
