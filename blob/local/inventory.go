package local

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	"github.com/google/uuid"

	"github.com/ingest-portal/ingest"
)

var _ ingest.BlobInventory = (*Store)(nil)

// ListObjects implements ingest.BlobInventory: every regular file under the root but the uploads'
// directory, by its key.
func (s *Store) ListObjects(ctx context.Context, fn func(key string, modified time.Time) error) error {
	err := filepath.WalkDir(s.root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				return nil // removed while listed
			}
			return err
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		if d.IsDir() {
			if p == s.uploads {
				return filepath.SkipDir
			}
			return nil
		}
		if !d.Type().IsRegular() {
			return nil
		}
		info, err := d.Info()
		if errors.Is(err, fs.ErrNotExist) {
			return nil
		}
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(s.root, p)
		if err != nil {
			return err
		}
		return fn(filepath.ToSlash(rel), info.ModTime())
	})
	if err != nil {
		return fmt.Errorf("list local objects: %w", err)
	}
	return nil
}

// ListTemporary implements ingest.BlobInventory: the directory of each session under the uploads'
// directory, last written when its data file was.
func (s *Store) ListTemporary(ctx context.Context, fn func(ingest.TemporaryData) error) error {
	entries, err := os.ReadDir(s.uploads)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("list local uploads: %w", err)
	}
	for _, e := range entries {
		if err := ctx.Err(); err != nil {
			return err
		}
		id, err := uuid.Parse(e.Name())
		if err != nil || !e.IsDir() {
			continue // not a session's (a ping's file, say)
		}
		modified, err := lastWritten(filepath.Join(s.uploads, e.Name()))
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			return fmt.Errorf("list local uploads: %w", err)
		}
		if err := fn(ingest.TemporaryData{SessionID: id, Modified: modified}); err != nil {
			return err
		}
	}
	return nil
}

// lastWritten is the latest modification time of the directory and its data file.
func lastWritten(dir string) (time.Time, error) {
	info, err := os.Stat(dir)
	if err != nil {
		return time.Time{}, err
	}
	modified := info.ModTime()
	if data, err := os.Stat(filepath.Join(dir, dataName)); err == nil && data.ModTime().After(modified) {
		modified = data.ModTime()
	}
	return modified, nil
}

// RemoveTemporary implements ingest.BlobInventory.
func (s *Store) RemoveTemporary(ctx context.Context, t ingest.TemporaryData) error {
	if t.SessionID == uuid.Nil {
		return ingest.Errorf(ingest.EValidation, "local temporary data is named by its session")
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	if err := s.removeSession(ingest.BlobUpload{SessionID: t.SessionID}); err != nil {
		return fmt.Errorf("remove the temporary data of session %s: %w", t.SessionID, err)
	}
	return nil
}
