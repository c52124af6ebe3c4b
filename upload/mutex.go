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
