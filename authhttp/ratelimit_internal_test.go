package authhttp

import (
	"fmt"
	"net/netip"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/credstore/credstore/internal/testdb"
)

// newTestLimiter is the limiter of l on a fake clock.
func newTestLimiter(t *testing.T, l Limit) (*ipLimiter, *testdb.Clock) {
	t.Helper()
	lim := newIPLimiter(l, time.Now)
	require.NotNil(t, lim)
	clk := testdb.NewClock(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	lim.now = clk.Now
	return lim, clk
}

// TestIPLimiter: N requests pass at once, then one every Per/N; a refused
// request takes nothing and says how long to wait; clients are counted
// apart.
func TestIPLimiter(t *testing.T) {
	t.Parallel()
	lim, clk := newTestLimiter(t, Limit{N: 3, Per: time.Minute})
	a, b := netip.MustParseAddr("198.51.100.1"), netip.MustParseAddr("198.51.100.2")
	for i := range 3 {
		ok, _ := lim.allow(a)
		require.True(t, ok, "request %d of the burst", i+1)
	}
	for range 100 {
		ok, wait := lim.allow(a)
		require.False(t, ok)
		require.InDelta(t, float64(20*time.Second), float64(wait), float64(time.Microsecond), "a refused request takes no token")
	}
	ok, _ := lim.allow(b)
	assert.True(t, ok, "another client has its own bucket")

	clk.Advance(19 * time.Second)
	ok, wait := lim.allow(a)
	assert.False(t, ok)
	assert.InDelta(t, float64(time.Second), float64(wait), float64(time.Microsecond), "the rate's float arithmetic")
	clk.Advance(time.Second)
	ok, _ = lim.allow(a)
	assert.True(t, ok, "one more after Per/N")
	ok, _ = lim.allow(a)
	assert.False(t, ok)
}

// TestIPLimiterBurst: Burst, when set, replaces N as the size of the
// bucket.
func TestIPLimiterBurst(t *testing.T) {
	t.Parallel()
	lim, _ := newTestLimiter(t, Limit{N: 60, Per: time.Hour, Burst: 2})
	a := netip.MustParseAddr("198.51.100.1")
	for range 2 {
		ok, _ := lim.allow(a)
		require.True(t, ok)
	}
	ok, wait := lim.allow(a)
	assert.False(t, ok)
	assert.InDelta(t, float64(time.Minute), float64(wait), float64(time.Microsecond))
}

// TestIPLimiterForgetsIdleClients: a client idle long enough for its
// bucket to be full again is forgotten (its next request passes as a new
// client's would), so the table holds only recent clients.
func TestIPLimiterForgetsIdleClients(t *testing.T) {
	t.Parallel()
	lim, clk := newTestLimiter(t, Limit{N: 2, Per: time.Minute})
	for i := range 50 {
		ok, _ := lim.allow(netip.AddrFrom4([4]byte{198, 51, 100, byte(i)}))
		require.True(t, ok)
	}
	assert.Equal(t, 50, lim.tracked())
	clk.Advance(59 * time.Second)
	lim.allow(netip.MustParseAddr("203.0.113.1"))
	assert.Equal(t, 51, lim.tracked(), "not idle for a whole period yet")
	clk.Advance(time.Second)
	lim.allow(netip.MustParseAddr("203.0.113.2"))
	assert.Equal(t, 2, lim.tracked(), "the first fifty are full again, and forgotten")

	ok, _ := lim.allow(netip.MustParseAddr("198.51.100.0"))
	assert.True(t, ok)
}

// TestIPLimiterBounded: past maxTracked clients a new one evicts the least
// recently seen, however many addresses a flood comes from.
func TestIPLimiterBounded(t *testing.T) {
	t.Parallel()
	lim, _ := newTestLimiter(t, Limit{N: 1, Per: time.Hour})
	lim.maxTracked = 100
	first := netip.MustParseAddr("10.0.0.0")
	ok, _ := lim.allow(first)
	require.True(t, ok)
	ok, _ = lim.allow(first)
	require.False(t, ok)
	for i := range 1000 {
		lim.allow(netip.AddrFrom4([4]byte{10, 1, byte(i >> 8), byte(i)}))
		require.LessOrEqual(t, lim.tracked(), 100)
	}
	assert.Equal(t, 100, lim.tracked())
	ok, _ = lim.allow(first)
	assert.True(t, ok, "evicted, it starts again with a full bucket")
}

// TestLimitKey: an IPv6 client is counted by its /64; IPv4 by address.
func TestLimitKey(t *testing.T) {
	t.Parallel()
	lim, _ := newTestLimiter(t, Limit{N: 1, Per: time.Hour})
	for _, tc := range []struct {
		addr string
		ok   bool
	}{
		{"2001:db8:1:2::1", true},
		{"2001:db8:1:2:ffff:ffff:ffff:ffff", false},
		{"2001:db8:1:3::1", true},
		{"198.51.100.1", true},
		{"198.51.100.2", true},
	} {
		ok, _ := lim.allow(netip.MustParseAddr(tc.addr))
		assert.Equal(t, tc.ok, ok, tc.addr)
	}
}

// TestLimitCheck: a limit is off at N = 0 and needs a positive period
// otherwise.
func TestLimitCheck(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		l   Limit
		bad bool
	}{
		{Limit{}, false},
		{Limit{N: 0, Per: -1}, false},
		{Limit{N: 5, Per: time.Minute}, false},
		{Limit{N: 5, Per: time.Minute, Burst: 1}, false},
		{Limit{N: 5}, true},
		{Limit{N: 5, Per: -time.Second}, true},
		{Limit{N: 5, Per: time.Minute, Burst: -1}, true},
	} {
		err := tc.l.check("LoginLimit")
		assert.Equal(t, tc.bad, err != nil, fmt.Sprintf("%+v: %v", tc.l, err))
	}
	assert.Nil(t, newIPLimiter(Limit{}, time.Now))
}

func TestLimitString(t *testing.T) {
	t.Parallel()
	assert.Equal(t, "off", Limit{}.String())
	assert.Equal(t, "20/m", Limit{N: 20, Per: time.Minute}.String())
	assert.Equal(t, "5/h", Limit{N: 5, Per: time.Hour, Burst: 5}.String())
	assert.Equal(t, "2/s burst 1", Limit{N: 2, Per: time.Second, Burst: 1}.String())
	assert.Equal(t, "3/10m0s", Limit{N: 3, Per: 10 * time.Minute}.String())
}
