package sendctx_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/ingest-portal/ingest/internal/sendctx"
)

func TestAnEndedContextFailsEverySlot(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	errs, _, stop, ended := sendctx.Start(ctx, 2, time.Minute)
	defer stop()
	if !ended || len(errs) != 2 || !errors.Is(errs[0], context.Canceled) || !errors.Is(errs[1], context.Canceled) {
		t.Errorf("Start = %v, ended %v; want two context.Canceled and ended", errs, ended)
	}
}

func TestAContextWithoutDeadlineGetsTheLimit(t *testing.T) {
	before := time.Now()
	errs, ctx, stop, ended := sendctx.Start(context.Background(), 3, time.Hour)
	defer stop()
	deadline, ok := ctx.Deadline()
	if ended || len(errs) != 3 || errs[0] != nil || !ok || deadline.Before(before.Add(time.Hour)) {
		t.Errorf("Start = %v, deadline %v %v, ended %v; want 3 empty slots and a deadline an hour away", errs, deadline, ok, ended)
	}
}

func TestAContextWithADeadlineKeepsIt(t *testing.T) {
	want := time.Now().Add(time.Second)
	parent, cancel := context.WithDeadline(context.Background(), want)
	defer cancel()
	_, ctx, stop, _ := sendctx.Start(parent, 1, time.Hour)
	defer stop()
	if got, _ := ctx.Deadline(); !got.Equal(want) {
		t.Errorf("deadline = %v, want the caller's %v", got, want)
	}
}
