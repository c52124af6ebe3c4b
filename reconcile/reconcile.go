// Package reconcile removes what a blob store holds and no row needs (DESIGN.md §9): objects no
// file points to, such as the object of a single-request upload whose process was killed before
// it recorded the file, and the temporary data of uploads that ended or were never recorded. It
// touches only what is older than a grace period, so that uploads in flight, whose bytes exist
// before their rows, are left alone; and it asks the store again just before each removal.
//
// Several instances may reconcile at once: every removal is idempotent, so two that race remove
// the same thing once, and nothing more.
package reconcile

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/google/uuid"

	"github.com/ingest-portal/ingest"
)

// DefaultGrace is how old what the reconciler removes must be, unless configured otherwise: far
// longer than an upload takes between writing its bytes and recording them.
const DefaultGrace = time.Hour

// Kind says what a removal removes.
type Kind string

// The kinds of removal.
const (
	Object    Kind = "object"
	Temporary Kind = "temporary"
)

// Removal is one thing a pass removed, or would remove in a dry run.
type Removal struct {
	Kind Kind
	// Name is the object's key, or what names the temporary data: its session, or the key of the
	// object its upload becomes and the store's handle on it.
	Name     string
	Modified time.Time
}

// Result counts what a pass removed, or would remove in a dry run.
type Result struct {
	Objects, Temporary int
}

// Reconciler compares a blob store with the rows of a store.
type Reconciler struct {
	store  ingest.ReconcileStore
	blobs  ingest.BlobStore
	inv    ingest.BlobInventory
	grace  time.Duration
	now    func() time.Time
	logger *slog.Logger
}

// Option configures a Reconciler.
type Option func(*Reconciler)

// WithClock makes the reconciler read the time from now.
func WithClock(now func() time.Time) Option { return func(r *Reconciler) { r.now = now } }

// WithLogger makes the periodic reconciler log to logger.
func WithLogger(logger *slog.Logger) Option { return func(r *Reconciler) { r.logger = logger } }

// New returns a reconciler of blobs against store that leaves alone what is younger than grace.
// It returns EValidation for a blob store that cannot list what it holds and a negative grace.
func New(store ingest.ReconcileStore, blobs ingest.BlobStore, grace time.Duration, opts ...Option) (*Reconciler, error) {
	inv, ok := blobs.(ingest.BlobInventory)
	if !ok {
		return nil, ingest.Errorf(ingest.EValidation, "the storage cannot list what it holds")
	}
	if grace < 0 {
		return nil, ingest.Errorf(ingest.EValidation, "the grace period cannot be negative")
	}
	r := &Reconciler{store: store, blobs: blobs, inv: inv, grace: grace, now: time.Now, logger: slog.New(slog.DiscardHandler)}
	for _, o := range opts {
		o(r)
	}
	return r, nil
}

// Run makes one pass: it finds what no row needs and is older than the grace period, removes it
// unless dryRun, and calls report with each. It returns what it removed (or would remove) until
// it stopped, with the error that stopped it.
func (r *Reconciler) Run(ctx context.Context, dryRun bool, report func(Removal)) (Result, error) {
	p := &pass{Reconciler: r, ctx: ctx, dryRun: dryRun, report: report, cutoff: r.now().Add(-r.grace)}
	if err := p.objects(); err != nil {
		return p.result, err
	}
	err := p.temporary()
	return p.result, err
}

// RunEvery runs a pass every interval until ctx ends, logging what each removed and any error.
func (r *Reconciler) RunEvery(ctx context.Context, interval time.Duration) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		res, err := r.Run(ctx, false, func(rm Removal) {
			r.logger.Info("gc: removed", "kind", rm.Kind, "name", rm.Name, "modified", rm.Modified)
		})
		if err != nil && ctx.Err() == nil {
			r.logger.Warn("gc: pass failed", "err", err)
		}
		if res.Objects+res.Temporary > 0 {
			r.logger.Info("gc: pass done", "objects", res.Objects, "temporary", res.Temporary)
		}
	}
}

// pass is one Run.
type pass struct {
	*Reconciler
	ctx    context.Context
	dryRun bool
	report func(Removal)
	cutoff time.Time // what was last written after it is left alone
	result Result
}

// batch is how many candidates are looked up in the store at once.
const batch = ingest.MaxPageLimit

// objects removes the objects no row needs.
func (p *pass) objects() error {
	candidates := map[string]uuid.UUID{}
	modified := map[string]time.Time{}
	flush := func() error {
		inUse, err := p.store.ObjectsInUse(p.ctx, candidates)
		if err != nil {
			return fmt.Errorf("gc: objects in use: %w", err)
		}
		for key, id := range candidates {
			if !inUse[key] {
				if err := p.removeObject(key, id, modified[key]); err != nil {
					return err
				}
			}
		}
		clear(candidates)
		clear(modified)
		return nil
	}
	err := p.inv.ListObjects(p.ctx, func(key string, mod time.Time) error {
		id, ours := ingest.ParseObjectKey(p.blobs.Prefix(), key)
		if !ours || mod.After(p.cutoff) {
			return nil
		}
		candidates[key], modified[key] = id, mod
		if len(candidates) == batch {
			return flush()
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("gc: list objects: %w", err)
	}
	return flush()
}

// removeObject removes the object at key unless its file has been recorded meanwhile.
func (p *pass) removeObject(key string, id uuid.UUID, modified time.Time) error {
	if !p.dryRun {
		inUse, err := p.store.ObjectsInUse(p.ctx, map[string]uuid.UUID{key: id})
		if err != nil {
			return fmt.Errorf("gc: objects in use: %w", err)
		}
		if inUse[key] {
			return nil
		}
		if err := p.blobs.DeleteObject(p.ctx, key); err != nil {
			return fmt.Errorf("gc: delete object %s: %w", key, err)
		}
	}
	p.result.Objects++
	p.report(Removal{Kind: Object, Name: key, Modified: modified})
	return nil
}

// temporary removes the temporary data of uploads that are not in progress.
func (p *pass) temporary() error {
	type candidate struct {
		data ingest.TemporaryData
		id   uuid.UUID // its session's id, or its file's
	}
	var candidates []candidate
	flush := func() error {
		ids := make([]uuid.UUID, len(candidates))
		for i, c := range candidates {
			ids[i] = c.id
		}
		active, err := p.store.ActiveUploads(p.ctx, ids)
		if err != nil {
			return fmt.Errorf("gc: active uploads: %w", err)
		}
		for _, c := range candidates {
			if !active[c.id] {
				if err := p.removeTemporary(c.data, c.id); err != nil {
					return err
				}
			}
		}
		candidates = candidates[:0]
		return nil
	}
	err := p.inv.ListTemporary(p.ctx, func(t ingest.TemporaryData) error {
		id := t.SessionID
		if id == uuid.Nil {
			fileID, ours := ingest.ParseObjectKey(p.blobs.Prefix(), t.Key)
			if !ours {
				return nil
			}
			id = fileID
		}
		if t.Modified.After(p.cutoff) {
			return nil
		}
		candidates = append(candidates, candidate{t, id})
		if len(candidates) == batch {
			return flush()
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("gc: list temporary data: %w", err)
	}
	return flush()
}

// removeTemporary removes temporary data unless its upload has begun meanwhile.
func (p *pass) removeTemporary(t ingest.TemporaryData, id uuid.UUID) error {
	if !p.dryRun {
		active, err := p.store.ActiveUploads(p.ctx, []uuid.UUID{id})
		if err != nil {
			return fmt.Errorf("gc: active uploads: %w", err)
		}
		if active[id] {
			return nil
		}
		if err := p.inv.RemoveTemporary(p.ctx, t); err != nil {
			return fmt.Errorf("gc: remove temporary data of %s: %w", id, err)
		}
	}
	p.result.Temporary++
	p.report(Removal{Kind: Temporary, Name: temporaryName(t), Modified: t.Modified})
	return nil
}

// temporaryName names temporary data for people: by its session, or by the key its upload
// becomes and the store's handle.
func temporaryName(t ingest.TemporaryData) string {
	if t.Key != "" {
		return fmt.Sprintf("upload of %s (%s)", t.Key, t.Handle)
	}
	return "session " + t.SessionID.String()
}
