package authhttp

import (
	"container/list"
	"fmt"
	"net/netip"
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// Limit is a rate per client address: N requests per Per, in bursts of at
// most Burst. The zero value (N = 0) is no limit.
type Limit struct {
	N   int
	Per time.Duration
	// Burst is how many requests a client may send at once after being
	// quiet. Default: N, so that N requests in a row pass, and then one
	// every Per/N.
	Burst int
}

// String is l as credstore serve's flags write it: "20/m", "5/h", "off";
// a burst other than N follows ("20/m burst 5").
func (l Limit) String() string {
	if !l.enabled() {
		return "off"
	}
	var s string
	switch l.Per {
	case time.Second:
		s = fmt.Sprintf("%d/s", l.N)
	case time.Minute:
		s = fmt.Sprintf("%d/m", l.N)
	case time.Hour:
		s = fmt.Sprintf("%d/h", l.N)
	default:
		s = fmt.Sprintf("%d/%v", l.N, l.Per)
	}
	if l.Burst != 0 && l.Burst != l.N {
		s += fmt.Sprintf(" burst %d", l.Burst)
	}
	return s
}

// enabled reports whether l limits anything.
func (l Limit) enabled() bool { return l.N > 0 }

func (l Limit) check(name string) error {
	switch {
	case !l.enabled():
		return nil
	case l.Per <= 0:
		return fmt.Errorf("authhttp: %s: %d per %v: the period must be positive", name, l.N, l.Per)
	case l.Burst < 0:
		return fmt.Errorf("authhttp: %s: burst %d is negative", name, l.Burst)
	}
	return nil
}

// maxTrackedClients bounds the clients one limiter remembers: a flood from
// many addresses cannot grow its memory past this. Each costs about 250
// bytes (a rate.Limiter, its list element and map entry: measured on
// amd64), so 25 MB at most per limiter; a new client costs about a
// microsecond even when the table is full.
const maxTrackedClients = 100_000

// ipLimiter is a token bucket (golang.org/x/time/rate) per client address,
// in memory. Buckets are kept in a list, most recently used first; every
// call first forgets the buckets at its tail that have been idle long
// enough to be full again (forgetting them changes no answer: a new bucket
// is full too), so memory follows the clients of the last few periods.
// When maxTracked clients are still active, a new one evicts the least
// recently seen, whose bucket starts full on its next request: past that
// many addresses the limit loosens for the quietest of them rather than
// refuse everyone new.
type ipLimiter struct {
	limit      rate.Limit
	burst      int
	idle       time.Duration // from empty to full: burst / limit
	maxTracked int
	now        func() time.Time

	mu      sync.Mutex
	buckets map[netip.Addr]*list.Element // of *bucket
	lru     list.List                    // of *bucket, most recently seen first
}

type bucket struct {
	key  netip.Addr
	lim  *rate.Limiter
	seen time.Time // the client's last request, allowed or not
}

// newIPLimiter returns the limiter of l on the clock now, or nil when l is
// off.
func newIPLimiter(l Limit, now func() time.Time) *ipLimiter {
	if !l.enabled() {
		return nil
	}
	burst := l.Burst
	if burst == 0 {
		burst = l.N
	}
	return &ipLimiter{
		limit:      rate.Limit(float64(l.N) / l.Per.Seconds()),
		burst:      burst,
		idle:       time.Duration(float64(l.Per) * float64(burst) / float64(l.N)),
		maxTracked: maxTrackedClients,
		now:        now,
		buckets:    make(map[netip.Addr]*list.Element),
	}
}

// allow takes one request of addr's bucket. When it is empty the request
// is refused, costs nothing, and wait is how long until the bucket allows
// one.
func (l *ipLimiter) allow(addr netip.Addr) (ok bool, wait time.Duration) {
	key := limitKey(addr)
	now := l.now()
	l.mu.Lock()
	defer l.mu.Unlock()
	for e := l.lru.Back(); e != nil && now.Sub(e.Value.(*bucket).seen) >= l.idle; e = l.lru.Back() {
		l.remove(e)
	}
	var b *bucket
	if e, found := l.buckets[key]; found {
		b = e.Value.(*bucket)
		l.lru.MoveToFront(e)
	} else {
		if l.lru.Len() >= l.maxTracked {
			l.remove(l.lru.Back())
		}
		b = &bucket{key: key, lim: rate.NewLimiter(l.limit, l.burst)}
		l.buckets[key] = l.lru.PushFront(b)
	}
	b.seen = now
	r := b.lim.ReserveN(now, 1)
	if !r.OK() {
		return false, l.idle // burst 0: never; cannot happen with N > 0
	}
	if d := r.DelayFrom(now); d > 0 {
		r.CancelAt(now) // a refused request takes no token
		return false, d
	}
	return true, 0
}

func (l *ipLimiter) remove(e *list.Element) {
	delete(l.buckets, l.lru.Remove(e).(*bucket).key)
}

// tracked is how many clients l remembers.
func (l *ipLimiter) tracked() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.lru.Len()
}

// limitKey is the bucket of a client address: the address itself for
// IPv4, its /64 for IPv6. A subscriber is usually given a whole /64, and a
// host in one can use a new address for every request; keyed by address,
// it would escape its limit and fill the table at will.
func limitKey(addr netip.Addr) netip.Addr {
	if addr.Is6() {
		p, _ := addr.Prefix(64)
		return p.Addr()
	}
	return addr
}
