package upload

import (
	"context"
	"sync"
)

// keyedMutex is a set of mutexes by key, created on first use and dropped when nobody holds or
// waits for them. Lock honours context cancellation, so a client that gives up stops waiting.
type keyedMutex[K comparable] struct {
	mu    sync.Mutex
	locks map[K]*keyedLock
}

type keyedLock struct {
	ch    chan struct{} // holds a token while locked
	users int           // holders and waiters
}

// Lock locks key and returns its unlock function, or ctx's error.
func (m *keyedMutex[K]) Lock(ctx context.Context, key K) (func(), error) {
	m.mu.Lock()
	if m.locks == nil {
		m.locks = map[K]*keyedLock{}
	}
	l := m.locks[key]
	if l == nil {
		l = &keyedLock{ch: make(chan struct{}, 1)}
		m.locks[key] = l
	}
	l.users++
	m.mu.Unlock()

	select {
	case l.ch <- struct{}{}:
		return func() { <-l.ch; m.release(key, l) }, nil
	case <-ctx.Done():
		m.release(key, l)
		return nil, ctx.Err()
	}
}

func (m *keyedMutex[K]) release(key K, l *keyedLock) {
	m.mu.Lock()
	defer m.mu.Unlock()
	l.users--
	if l.users == 0 {
		delete(m.locks, key)
	}
}

// handoff lets one caller at a time do the work of a key for everyone: a caller that finds the
// work in hand leaves it to the one doing it, who goes round again before letting go.
type handoff[K comparable] struct {
	mu    sync.Mutex
	state map[K]bool // present while a caller works on the key; true when asked to go round again
}

// begin reports whether the caller is now the one to work on key; if someone else is, it asks
// them to go round again and returns false.
func (h *handoff[K]) begin(key K) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	if _, busy := h.state[key]; busy {
		h.state[key] = true
		return false
	}
	if h.state == nil {
		h.state = map[K]bool{}
	}
	h.state[key] = false
	return true
}

// again reports whether the worker of key was asked to go round again since it began or last
// asked; when not, the worker is done and the key is free.
func (h *handoff[K]) again(key K) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.state[key] {
		h.state[key] = false
		return true
	}
	delete(h.state, key)
	return false
}
