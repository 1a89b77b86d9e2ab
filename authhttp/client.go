package authhttp

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"strings"

	"github.com/credstore/credstore/auth"
)

// stateKey is the context key of a request's state.
type stateKey struct{}

// requestState is what a Handler learned about a request: its client, and
// who it is authenticated as. It is put into the request's context once,
// by the first of the Handler's middleware the request meets, and filled
// in by the others, so that an application wrapping its whole mux in
// Authenticate and mounting the Handler inside does each thing once.
type requestState struct {
	h      *Handler
	client client

	// authenticated is set once the request's credentials were looked at
	// (authenticate); user and session are meaningful when ok.
	authenticated bool
	ok            bool
	user          auth.User
	session       auth.Session
	token         string // the token that authenticated: never logged
	bearer        bool   // the credential was an Authorization header
	accessToken   bool   // the credential was an access token (a JWT), not a session token

	// wantTwoFactor asks authenticate to read the user's second-factor
	// status with a session token's session, in the same query, into
	// twoFactor (haveTwoFactor then).
	wantTwoFactor bool
	haveTwoFactor bool
	twoFactor     auth.TwoFactorStatus
}

// stateOf returns the request state in ctx; a zero one when none is there.
func stateOf(ctx context.Context) *requestState {
	if st, ok := ctx.Value(stateKey{}).(*requestState); ok {
		return st
	}
	return &requestState{}
}

// client is who sent a request, as far as the Handler can tell.
type client struct {
	// Addr is the client's address: the connection's peer, or, behind
	// Options.TrustedProxies, the address X-Forwarded-For names. Invalid
	// when the peer's address does not parse (a listener that is not TCP).
	Addr netip.Addr
	// Auth is what auth records of the client in the audit trail.
	Auth auth.Client
}

// withClient puts the request's client (its address and User-Agent) into
// the request's context, for auth's audit trail (auth.WithClient) and the
// per-IP limits, unless this Handler's middleware already did. It runs
// first, so that every handler, the access log and every refusal see the
// same client. This is the one place where the trusted-proxy rule
// (clientAddr) is applied.
func (h *Handler) withClient(next http.Handler) http.Handler {
	return h.withRequestContext(next, false)
}

// withClientAndDeadline is withClient for the service's own routes, whose
// request context also ends after Options.RequestTimeout (with the cause
// errRequestTimeout). Work that cannot answer in time (a hash queued behind
// a burst, a database that stalls) is then abandoned instead of committing
// for a client that has gone: auth checks its context before hashing and
// runs its transactions in it, and database/sql refuses to commit a
// transaction whose context ended. The handler's reply is 503 (WriteError),
// while the server's WriteTimeout, a few seconds later, still lets it be
// written. The deadline arms its timer only when something waits on it
// (lazyDeadline). The client and the deadline go into one new context, so
// that the request is copied once for both.
func (h *Handler) withClientAndDeadline(next http.Handler) http.Handler {
	return h.withRequestContext(next, h.opts.RequestTimeout >= 0)
}

func (h *Handler) withRequestContext(next http.Handler, deadline bool) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ctx := r.Context()
		st, ok := ctx.Value(stateKey{}).(*requestState)
		fresh := !ok || st.h != h
		if !fresh && !deadline {
			next.ServeHTTP(w, r)
			return
		}
		if deadline {
			lazy := newLazyDeadline(ctx, h.opts.RequestTimeout)
			defer lazy.stop()
			ctx = lazy
		}
		if fresh {
			c := client{Addr: clientAddr(r.RemoteAddr, r.Header.Values("X-Forwarded-For"), h.opts.TrustedProxies)}
			c.Auth = auth.Client{IP: c.Addr.String(), UserAgent: r.UserAgent()}
			if !c.Addr.IsValid() {
				// Keep what the listener gave (a Unix socket's name, say):
				// auth cleans and bounds it.
				c.Auth.IP = hostOf(r.RemoteAddr)
			}
			ctx = auth.WithClient(ctx, c.Auth)
			ctx = context.WithValue(ctx, stateKey{}, &requestState{h: h, client: c})
		}
		next.ServeHTTP(w, r.WithContext(ctx))
	})
}

// ClientAddr returns the address of the client of the request whose
// context is ctx, as the Handler's middleware found it: the peer's, or,
// behind Options.TrustedProxies, the one X-Forwarded-For names (see
// Options.TrustedProxies). ok is false when no middleware of a Handler
// saw the request, or when the peer's address is not an IP address.
func ClientAddr(ctx context.Context) (addr netip.Addr, ok bool) {
	a := stateOf(ctx).client.Addr
	return a, a.IsValid()
}

// maxForwardedHops bounds how many X-Forwarded-For entries clientAddr
// walks: far more proxies than any real chain has, and few enough that a
// header stuffed with trusted addresses costs nothing.
const maxForwardedHops = 32

// clientAddr is the address of the client that sent a request through the
// peer remoteAddr, given its X-Forwarded-For headers (in order) and the
// trusted proxies.
//
// A peer that is not a trusted proxy is the client: its X-Forwarded-For,
// which anyone can send, is ignored. A trusted proxy appends the address it
// received the request from to X-Forwarded-For, so the list is read from the
// right: each trusted address is skipped, and the first one that is not
// trusted is the client. Entries to its left were written by the client
// itself and are never believed. Several headers are one list, in order
// (RFC 9110, section 5.3); empty elements are skipped; entries may carry a
// port ("192.0.2.1:4711", "[2001:db8::1]:4711").
//
// When every entry is trusted the leftmost is the client: a request from
// inside the proxies' own network. An entry that does not parse as an
// address (or a walk past maxForwardedHops) stops the walk at the last
// trusted hop reached, which becomes the client. Not the entry itself: a
// malformed entry comes from the left of the chain, which the client
// writes, and taking it as a key would let one client escape the per-IP
// limits by sending a different bit of garbage each time; the last trusted
// hop is an address the service knows, and every client that sends garbage
// through it shares one key (so garbage buys a client nothing). Skipping the
// bad entry instead would believe whatever the client put to its left.
func clientAddr(remoteAddr string, forwarded []string, trusted []netip.Prefix) netip.Addr {
	hop, ok := parseAddr(remoteAddr)
	if !ok || !isTrusted(hop, trusted) {
		return hop
	}
	walked := 0
	for i := len(forwarded) - 1; i >= 0; i-- {
		list := forwarded[i]
		for list != "" {
			var entry string
			if j := strings.LastIndexByte(list, ','); j >= 0 {
				list, entry = list[:j], list[j+1:]
			} else {
				list, entry = "", list
			}
			entry = strings.TrimSpace(entry)
			if entry == "" {
				continue
			}
			if walked++; walked > maxForwardedHops {
				return hop
			}
			addr, ok := parseAddr(entry)
			if !ok {
				return hop
			}
			if !isTrusted(addr, trusted) {
				return addr
			}
			hop = addr
		}
	}
	return hop
}

// parseAddr parses an address as a peer or X-Forwarded-For gives it: bare
// ("192.0.2.1", "2001:db8::1"), with a port ("192.0.2.1:80",
// "[2001:db8::1]:80"), or bracketed ("[2001:db8::1]"). The result has no
// zone, and an IPv4 address mapped into IPv6 is the IPv4 address, so that
// one client has one form (and matches an IPv4 prefix).
//
// A peer has a port as a rule, an X-Forwarded-For entry none: the form s
// looks like is tried first, which spares the other's failed parse (and
// its error) on every request. The two forms accept no string in common,
// so the order changes nothing else.
func parseAddr(s string) (netip.Addr, bool) {
	first, second := netip.ParseAddr, parseAddrWithPort
	if strings.Count(s, ":") == 1 || strings.Contains(s, "]:") {
		first, second = second, first
	}
	addr, err := first(s)
	if err != nil {
		addr, err = second(s)
	}
	if err != nil && len(s) > 2 && s[0] == '[' && s[len(s)-1] == ']' {
		addr, err = netip.ParseAddr(s[1 : len(s)-1])
	}
	if err != nil {
		return netip.Addr{}, false
	}
	return addr.WithZone("").Unmap(), true
}

// parseAddrWithPort is the address of "192.0.2.1:80" or "[2001:db8::1]:80".
func parseAddrWithPort(s string) (netip.Addr, error) {
	ap, err := netip.ParseAddrPort(s)
	return ap.Addr(), err
}

// isTrusted reports whether addr is inside one of the trusted prefixes.
func isTrusted(addr netip.Addr, trusted []netip.Prefix) bool {
	for _, p := range trusted {
		if p.Contains(addr) {
			return true
		}
	}
	return false
}

// hostOf is remoteAddr without its port, or all of it when it has none.
func hostOf(remoteAddr string) string {
	if host, _, err := net.SplitHostPort(remoteAddr); err == nil {
		return host
	}
	return remoteAddr
}

// normalizePrefixes checks the trusted proxies and puts them in the form
// parseAddr gives addresses: an IPv4-mapped prefix (::ffff:10.0.0.0/104)
// becomes the IPv4 one, which it means.
func normalizePrefixes(prefixes []netip.Prefix) ([]netip.Prefix, error) {
	out := make([]netip.Prefix, 0, len(prefixes))
	for _, p := range prefixes {
		switch {
		case !p.IsValid():
			return nil, fmt.Errorf("authhttp: trusted proxies: invalid prefix %v", p)
		case p.Addr().Is4In6() && p.Bits() >= 96:
			p = netip.PrefixFrom(p.Addr().Unmap(), p.Bits()-96)
		}
		out = append(out, p.Masked())
	}
	return out, nil
}
