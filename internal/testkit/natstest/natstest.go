// Package natstest gives tests a NATS server with JetStream of their own: nats-server embedded in
// the test process, storing its streams in a temporary directory and listening on a free port of
// 127.0.0.1. Tests never touch a NATS server of the machine, so they pass on a clean clone and
// never see another run's messages.
package natstest

import (
	"context"
	"errors"
	"net"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// startTimeout bounds how long the embedded server may take to accept connections; it usually
// takes a few milliseconds.
const startTimeout = 20 * time.Second

// Server is a running embedded NATS server.
type Server struct {
	// URL is the client URL, nats://127.0.0.1:port.
	URL string

	opts    server.Options
	running *server.Server // nil while stopped
}

// Start starts a NATS server with JetStream for the test and shuts it down when the test ends.
func Start(t testing.TB) *Server {
	t.Helper()
	s := &Server{opts: server.Options{
		Host:      "127.0.0.1",
		Port:      server.RANDOM_PORT,
		JetStream: true,
		StoreDir:  t.TempDir(),
		NoLog:     true,
		NoSigs:    true,
	}}
	s.start(t)
	s.URL = s.running.ClientURL()
	// A restart must come back where the clients expect it: on the port the first start took.
	s.opts.Port = s.running.Addr().(*net.TCPAddr).Port
	t.Cleanup(s.Stop)
	return s
}

func (s *Server) start(t testing.TB) {
	t.Helper()
	opts := s.opts
	srv, err := server.NewServer(&opts)
	if err != nil {
		t.Fatalf("natstest: configure the server: %v", err)
	}
	go srv.Start()
	if !srv.ReadyForConnections(startTimeout) {
		srv.Shutdown()
		t.Fatalf("natstest: the server did not accept connections within %s", startTimeout)
	}
	s.running = srv
}

// Stop shuts the server down, as an outage would take it away: its clients lose their
// connections, and its streams stay in the store directory for Restart.
func (s *Server) Stop() {
	if s.running == nil {
		return
	}
	s.running.Shutdown()
	s.running.WaitForShutdown()
	s.running = nil
}

// Restart starts a stopped server again on the same port and store directory, with the streams it
// had.
func (s *Server) Restart(t testing.TB) {
	t.Helper()
	if s.running != nil {
		t.Fatal("natstest: Restart of a server that runs")
	}
	s.start(t)
}

// JetStream connects a client of the test to the server, closed when the test ends.
func (s *Server) JetStream(t testing.TB) jetstream.JetStream {
	t.Helper()
	nc, err := nats.Connect(s.URL)
	if err != nil {
		t.Fatalf("natstest: connect: %v", err)
	}
	t.Cleanup(nc.Close)
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatalf("natstest: JetStream: %v", err)
	}
	return js
}

// Messages returns every message the named stream holds, oldest first: what a test reads to count
// the copies of an event.
func (s *Server) Messages(t testing.TB, stream string) []*jetstream.RawStreamMsg {
	t.Helper()
	ctx := context.Background()
	st, err := s.JetStream(t).Stream(ctx, stream)
	if err != nil {
		t.Fatalf("natstest: stream %s: %v", stream, err)
	}
	info, err := st.Info(ctx)
	if err != nil {
		t.Fatalf("natstest: stream %s: %v", stream, err)
	}
	var msgs []*jetstream.RawStreamMsg
	for seq := info.State.FirstSeq; info.State.Msgs > 0 && seq <= info.State.LastSeq; seq++ {
		msg, err := st.GetMsg(ctx, seq)
		if errors.Is(err, jetstream.ErrMsgNotFound) {
			continue // deleted
		}
		if err != nil {
			t.Fatalf("natstest: stream %s, message %d: %v", stream, seq, err)
		}
		msgs = append(msgs, msg)
	}
	return msgs
}
