package authhttp

import (
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/credstore/credstore/auth"
	"github.com/credstore/credstore/internal/testdb"
)

// TestClientAddr: X-Forwarded-For is believed only from a trusted proxy,
// and then only as far as the first address that is not trusted, read from
// the right; a malformed entry stops the walk at the last trusted hop.
func TestClientAddr(t *testing.T) {
	t.Parallel()
	trusted := []netip.Prefix{
		netip.MustParsePrefix("10.0.0.0/8"),
		netip.MustParsePrefix("192.168.1.1/32"),
		netip.MustParsePrefix("2001:db8:ffff::/48"),
	}
	many := strings.Repeat("10.0.0.3, ", 40) + "10.0.0.4"
	cases := []struct {
		name      string
		remote    string
		forwarded []string
		trusted   []netip.Prefix
		want      string // "" for no valid address
	}{
		{"no proxy", "203.0.113.9:5555", nil, nil, "203.0.113.9"},
		{"spoofed header, no trusted proxies", "203.0.113.9:5555", []string{"198.51.100.1"}, nil, "203.0.113.9"},
		{"spoofed trusted address, no trusted proxies", "203.0.113.9:5555", []string{"10.0.0.1"}, nil, "203.0.113.9"},
		{"spoofed header from a peer that is not trusted", "203.0.113.9:5555", []string{"198.51.100.1"}, trusted, "203.0.113.9"},
		{"trusted proxy without the header", "10.0.0.1:80", nil, trusted, "10.0.0.1"},
		{"trusted proxy, one client", "10.0.0.1:80", []string{"198.51.100.7"}, trusted, "198.51.100.7"},
		{"a trusted single address", "192.168.1.1:80", []string{"198.51.100.7"}, trusted, "198.51.100.7"},
		{"its neighbour is not trusted", "192.168.1.2:80", []string{"198.51.100.7"}, trusted, "192.168.1.2"},
		{"chain of trusted proxies", "10.0.0.2:80", []string{"198.51.100.7, 10.0.0.3, 10.0.0.4"}, trusted, "198.51.100.7"},
		{"what the client wrote is ignored", "10.0.0.2:80", []string{"1.2.3.4, 10.9.9.9, 198.51.100.7, 10.0.0.3"}, trusted, "198.51.100.7"},
		{"every entry trusted: the leftmost", "10.0.0.2:80", []string{"10.0.0.9, 10.0.0.3"}, trusted, "10.0.0.9"},
		{"several headers are one list", "10.0.0.2:80", []string{"1.2.3.4", "198.51.100.7, 10.0.0.4", "10.0.0.3"}, trusted, "198.51.100.7"},
		{"the client in the last header", "10.0.0.2:80", []string{"1.2.3.4, 5.6.7.8", "198.51.100.7"}, trusted, "198.51.100.7"},
		{"empty elements are skipped", "10.0.0.2:80", []string{"198.51.100.7, , 10.0.0.3,", " ", ""}, trusted, "198.51.100.7"},
		{"entries with ports", "10.0.0.2:80", []string{"198.51.100.7:4711, 10.0.0.3:443"}, trusted, "198.51.100.7"},
		{"IPv6 client and proxy", "[2001:db8:ffff::1]:443", []string{"2001:db8:1::5"}, trusted, "2001:db8:1::5"},
		{"IPv6 with a port", "[2001:db8:ffff::1]:443", []string{"[2001:db8:1::5]:4711, 2001:db8:ffff::2"}, trusted, "2001:db8:1::5"},
		{"IPv6 in brackets", "[2001:db8:ffff::1]:443", []string{"[2001:db8:1::5]"}, trusted, "2001:db8:1::5"},
		{"IPv6 peer not trusted", "[2001:db8:1::1]:443", []string{"198.51.100.7"}, trusted, "2001:db8:1::1"},
		{"IPv4-mapped peer is its IPv4 address", "[::ffff:10.0.0.1]:80", []string{"198.51.100.7"}, trusted, "198.51.100.7"},
		{"IPv4-mapped client is its IPv4 address", "10.0.0.1:80", []string{"::ffff:198.51.100.7"}, trusted, "198.51.100.7"},
		{"a zone is dropped", "[fe80::1%eth0]:80", nil, nil, "fe80::1"},
		{"malformed rightmost: the proxy", "10.0.0.2:80", []string{"198.51.100.7, garbage"}, trusted, "10.0.0.2"},
		{"malformed after a trusted hop: that hop", "10.0.0.2:80", []string{"198.51.100.7, unknown, 10.0.0.3"}, trusted, "10.0.0.3"},
		{"malformed left of the client: ignored", "10.0.0.2:80", []string{"garbage, 198.51.100.7"}, trusted, "198.51.100.7"},
		{"an obfuscated address is malformed", "10.0.0.2:80", []string{"010.000.000.001"}, trusted, "10.0.0.2"},
		{"a port alone is malformed", "10.0.0.2:80", []string{":80"}, trusted, "10.0.0.2"},
		{"an RFC 7239 element is malformed", "10.0.0.2:80", []string{"for=198.51.100.7"}, trusted, "10.0.0.2"},
		{"past the hop bound: the last trusted hop", "10.0.0.2:80", []string{"198.51.100.7, " + many}, trusted, "10.0.0.3"},
		{"a peer that is no address", "@", []string{"198.51.100.7"}, trusted, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			got := clientAddr(tc.remote, tc.forwarded, tc.trusted)
			if tc.want == "" {
				assert.False(t, got.IsValid(), "got %v", got)
				return
			}
			assert.Equal(t, netip.MustParseAddr(tc.want), got)
		})
	}
}

// TestNormalizePrefixes: an IPv4-mapped prefix means its IPv4 network (the
// form client addresses are compared in), host bits are dropped, and an
// invalid prefix is refused.
func TestNormalizePrefixes(t *testing.T) {
	t.Parallel()
	got, err := normalizePrefixes([]netip.Prefix{
		netip.MustParsePrefix("::ffff:10.0.0.0/104"),
		netip.MustParsePrefix("192.168.1.7/24"),
		netip.MustParsePrefix("2001:db8::/32"),
	})
	require.NoError(t, err)
	assert.Equal(t, []netip.Prefix{
		netip.MustParsePrefix("10.0.0.0/8"), netip.MustParsePrefix("192.168.1.0/24"), netip.MustParsePrefix("2001:db8::/32"),
	}, got)
	_, err = normalizePrefixes([]netip.Prefix{{}})
	assert.Error(t, err)
}

// TestEveryRouteSeesTheClient: whatever the route (the login among them),
// its handler runs in a context that carries the client's address and
// User-Agent, as given to auth.WithClient, and the access log records the
// client's address. The routes here are probes: what auth does with the
// client is auth's to test.
func TestEveryRouteSeesTheClient(t *testing.T) {
	t.Parallel()
	log := &testdb.Buffer{}
	h, err := New(nil, Options{
		TrustedProxies: []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")}, RequestTimeout: -1,
		Logger: slog.New(slog.NewJSONHandler(log, nil)),
	})
	require.NoError(t, err)
	var seen []client
	probe := func(w http.ResponseWriter, r *http.Request) {
		seen = append(seen, stateOf(r.Context()).client)
		writeJSON(w, http.StatusOK, message{"probed"})
	}
	h.routes = http.NewServeMux()
	patterns := []string{"POST /users", "POST /sessions", "DELETE /sessions", "GET /profile", "POST /reset_password", "PUT /reset_password"}
	for _, pattern := range patterns {
		h.routes.HandleFunc(pattern, probe)
	}

	cases := []struct {
		name, remote, forwarded string
		want                    auth.Client
	}{
		{"direct", "203.0.113.9:5555", "", auth.Client{IP: "203.0.113.9", UserAgent: "probe/1"}},
		{"direct, spoofed", "203.0.113.9:5555", "198.51.100.1", auth.Client{IP: "203.0.113.9", UserAgent: "probe/1"}},
		{"through a trusted proxy", "10.1.2.3:80", "198.51.100.7", auth.Client{IP: "198.51.100.7", UserAgent: "probe/1"}},
		{"IPv6", "[2001:db8::1]:443", "", auth.Client{IP: "2001:db8::1", UserAgent: "probe/1"}},
	}
	for _, tc := range cases {
		for _, pattern := range patterns {
			method, path, _ := strings.Cut(pattern, " ")
			seen = nil
			r := httptest.NewRequest(method, path, nil)
			r.RemoteAddr = tc.remote
			r.Header.Set("User-Agent", "probe/1")
			if tc.forwarded != "" {
				r.Header.Set("X-Forwarded-For", tc.forwarded)
			}
			w := httptest.NewRecorder()
			h.ServeHTTP(w, r)
			require.Equal(t, http.StatusOK, w.Code, "%s %s %s: %s", tc.name, method, path, w.Body)
			require.Len(t, seen, 1)
			assert.Equal(t, tc.want, seen[0].Auth, "%s: %s %s", tc.name, method, path)
			assert.Equal(t, tc.want.IP, seen[0].Addr.String())
		}
		assert.Contains(t, log.String(), `"client":"`+tc.want.IP+`"`, tc.name)
	}
}
