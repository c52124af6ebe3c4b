package main

import (
	"net"
	"testing"
	"time"
)

// TestAConnectionOverTheLimitWaitsForOneToClose: with a limit of one, a second connection is
// accepted only once the first is closed, and closing the listener frees an Accept that waits.
func TestAConnectionOverTheLimitWaitsForOneToClose(t *testing.T) {
	t.Parallel()
	raw, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ln := limitConnections(raw, 1)
	accepted := make(chan net.Conn, 2)
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				close(accepted)
				return
			}
			accepted <- c
		}
	}()
	for range 2 {
		c, err := net.Dial("tcp", raw.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
	}
	first := <-accepted
	select {
	case <-accepted:
		t.Fatal("a second connection was accepted while the first, at the limit, was open")
	case <-time.After(200 * time.Millisecond):
	}
	first.Close()
	first.Close() // a second Close gives back nothing more
	select {
	case c := <-accepted:
		c.Close()
	case <-time.After(10 * time.Second):
		t.Fatal("the second connection was not accepted once the first closed")
	}
	ln.Close()
	if _, open := <-accepted; open {
		t.Error("Accept returned a connection after Close")
	}
}
