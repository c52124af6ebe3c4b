package upload

import (
	"context"
	"io"

	"github.com/google/uuid"

	"github.com/ingest-portal/ingest"
)

// CreateGrant makes an upload grant of the actor and returns it with its secret, which is shown
// once. It returns EValidation for a request outside the grant's limits, EForbidden when the
// actor is itself a grant, and ENotFound for a batch the actor cannot see.
func (s *Service) CreateGrant(ctx context.Context, actor *ingest.User, req ingest.GrantRequest) (*ingest.UploadGrant, string, error) {
	if actor.Grant != nil {
		return nil, "", ingest.Errorf(ingest.EForbidden, "an upload grant cannot make upload grants")
	}
	if req.BatchID != nil {
		if _, err := s.batch(ctx, actor, *req.BatchID); err != nil {
			return nil, "", err
		}
	}
	g, secret, err := ingest.NewUploadGrant(actor.ID, req, s.now())
	if err != nil {
		return nil, "", err
	}
	if err := s.store.CreateGrant(ctx, g); err != nil {
		return nil, "", err
	}
	return g, secret, nil
}

// Grant returns a grant the actor can see, or ENotFound.
func (s *Service) Grant(ctx context.Context, actor *ingest.User, id uuid.UUID) (*ingest.UploadGrant, error) {
	g, err := s.store.Grant(ctx, id)
	if err != nil {
		return nil, err
	}
	if !visible(actor, g.CreatedByID) {
		return nil, notFound("upload grant", id)
	}
	return g, nil
}

// ListGrants returns up to limit of the actor's own grants, newest first, after the grant with id
// after when it is not nil. A grant lists nothing.
func (s *Service) ListGrants(ctx context.Context, actor *ingest.User, after *uuid.UUID, limit int) ([]*ingest.UploadGrant, error) {
	if actor.Grant != nil {
		return nil, nil
	}
	return s.store.Grants(ctx, actor.ID, after, limit)
}

// RevokeGrant revokes a grant the actor can see: it uploads nothing more. It returns ENotFound,
// and INVALID_TRANSITION for a grant already revoked.
func (s *Service) RevokeGrant(ctx context.Context, actor *ingest.User, id uuid.UUID) (*ingest.UploadGrant, error) {
	if _, err := s.Grant(ctx, actor, id); err != nil {
		return nil, err
	}
	return s.store.RevokeGrant(ctx, id)
}

// uploadedWith reports whether the actor acts through the grant f was uploaded with: all a grant
// may see.
func uploadedWith(actor *ingest.User, f *ingest.File) bool {
	return actor.Grant != nil && f.GrantID != nil && *f.GrantID == actor.Grant.ID
}

// grantID is the id of the actor's grant, nil when the actor acts as themselves.
func grantID(actor *ingest.User) *uuid.UUID {
	if actor.Grant == nil {
		return nil
	}
	return &actor.Grant.ID
}

// withGrant applies the actor's grant, if any, to a new upload: the file goes into the grant's
// batch, and the grant's metadata is merged over the file's (ingest.UploadGrant.FileMetadata).
// It returns EForbidden for another batch.
func withGrant(actor *ingest.User, req *CreateRequest) error {
	g := actor.Grant
	if g == nil {
		return nil
	}
	if req.BatchID != nil && (g.BatchID == nil || *req.BatchID != *g.BatchID) {
		return ingest.Errorf(ingest.EForbidden, "an upload grant uploads into its own batch only")
	}
	req.BatchID = g.BatchID
	var err error
	req.Metadata, err = g.FileMetadata(req.Metadata)
	return err
}

// checkBatch returns ENotFound unless the actor may add a file to the batch: their own, or the
// one of their grant, which was checked when the grant was made.
func (s *Service) checkBatch(ctx context.Context, actor *ingest.User, id *uuid.UUID) error {
	if id == nil || actor.Grant != nil {
		return nil
	}
	_, err := s.batch(ctx, actor, *id)
	return err
}

// reserve counts a file of req against the actor's grant, if any, and returns what gives the
// reservation back when the file is not recorded after all. A file once recorded keeps its
// reservation whatever becomes of it, as a batch counts its failed files.
func (s *Service) reserve(ctx context.Context, actor *ingest.User, req CreateRequest) (release func(), err error) {
	if actor.Grant == nil {
		return func() {}, nil
	}
	id := actor.Grant.ID
	if _, err := s.store.ReserveGrant(ctx, id, req.SizeBytes, req.ContentType); err != nil {
		return nil, err
	}
	return func() {
		if err := s.store.ReleaseGrant(context.WithoutCancel(ctx), id, req.SizeBytes); err != nil {
			s.logger.Warn("give back an upload grant's reservation", "grant", id, "err", err)
		}
	}, nil
}

// grantLength counts the length of an upload whose length was deferred, declared by req, against
// the grant its file was reserved with (ingest.GrantStore.ReserveGrantBytes), and returns what
// gives the bytes back when the length is not recorded after all. Until the length is declared,
// it keeps the bytes sent within what one more file of the grant could hold: a body of unknown
// length is cut off there, with the grant's refusal.
func (s *Service) grantLength(ctx context.Context, st *StreamState, req *AppendRequest) (release func(), err error) {
	none := func() {}
	id := st.File.GrantID
	if id == nil || !st.Session.LengthDeferred {
		return none, nil
	}
	if req.DeclaredLength == nil {
		g, err := s.store.Grant(ctx, *id)
		if err != nil {
			return nil, err
		}
		switch limit := g.RemainingFileBytes(); {
		case limit < 0:
		case req.Length < 0:
			req.Body = &grantCapped{r: req.Body, room: limit - req.Offset, refuse: g.CheckReserveBytes(limit + 1)}
		case req.Offset+req.Length > limit:
			return nil, g.CheckReserveBytes(req.Offset + req.Length)
		}
		return none, nil
	}
	size := *req.DeclaredLength
	if _, err := s.store.ReserveGrantBytes(ctx, *id, size); err != nil {
		return nil, err
	}
	return func() {
		if err := s.store.ReleaseGrantBytes(context.WithoutCancel(ctx), *id, size); err != nil {
			s.logger.Warn("give back the bytes of an upload grant's deferred length", "grant", *id, "err", err)
		}
	}, nil
}

// grantCapped is a body of unknown length sent to a grant's upload whose length is deferred: past
// room bytes it fails with refuse, the grant's refusal of a file that large.
type grantCapped struct {
	r      io.Reader
	room   int64
	refuse error
}

func (c *grantCapped) Read(p []byte) (int, error) {
	if c.room <= 0 {
		var probe [1]byte
		if n, err := c.r.Read(probe[:]); n > 0 {
			return 0, c.refuse
		} else if err != nil {
			return 0, err
		}
		return 0, nil
	}
	if int64(len(p)) > c.room {
		p = p[:c.room]
	}
	n, err := c.r.Read(p)
	c.room -= int64(n)
	return n, err
}

// errGrantConcat refuses the concatenation extension of tus (partial and final uploads) to an
// upload grant: partial uploads are not files, so no reservation would count their bytes.
func errGrantConcat() error {
	return &ingest.Error{Code: ingest.EForbidden,
		Message: "an upload grant does not upload by concatenation (Upload-Concat); send the file as one upload",
		Details: map[string]any{"reason": "upload_grant_concatenation"}}
}
