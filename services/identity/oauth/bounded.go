package oauth

import "sync"

// boundedMap is a map safe for concurrent use that holds at most max
// entries: a new key past the bound takes the place of an arbitrary old
// one (the map's order is as good as any, since every entry of the caches
// built on it can be made again from the database at the cost of a read).
type boundedMap[K comparable, V any] struct {
	max int

	mu sync.Mutex
	m  map[K]V
}

func newBoundedMap[K comparable, V any](max int) *boundedMap[K, V] {
	return &boundedMap[K, V]{max: max, m: make(map[K]V)}
}

func (b *boundedMap[K, V]) get(k K) (V, bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	v, ok := b.m[k]
	return v, ok
}

func (b *boundedMap[K, V]) put(k K, v V) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if _, ok := b.m[k]; !ok && len(b.m) >= b.max {
		for old := range b.m {
			delete(b.m, old)
			break
		}
	}
	b.m[k] = v
}

func (b *boundedMap[K, V]) drop(k K) {
	b.mu.Lock()
	defer b.mu.Unlock()
	delete(b.m, k)
}

func (b *boundedMap[K, V]) len() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return len(b.m)
}
