// Command loadgen measures a running credstore service and the floor and
// ceiling it is judged against, in one run:
//
//   - bare bcrypt: hashes per second at the server's cost, with as many
//     goroutines as the machine has cores (the server's parallelism);
//   - registrations (POST /users) and logins (POST /sessions) per second,
//     which bcrypt bounds, as ratios of bare bcrypt;
//   - authenticated GET /profile per second against the real server, and
//     against a minimal handler that does nothing but the same session-lookup
//     query on the same database; the ratio is what the service's routing,
//     logging and encoding cost;
//   - the API v1's GET /api/v1/me per second, authenticated by the session
//     cookie, by "Authorization: Bearer <session token>" and by a JWT
//     access token of POST /api/v1/token, against the
//     ceiling: a bare net/http handler answering the same route with no
//     database, writing the very bytes the service answered for one of the
//     users. Its ratio is everything authentication costs: the session
//     lookup, the middleware, logging and encoding.
//
// With -pocketbase it also measures the nearest route of a PocketBase
// running beside it, in the same rounds (pocketbase.go), and prints the
// ratios of GET /api/v1/me to it.
//
// The minimal and bare handlers run in a child process (this program,
// re-executed with -serve-minimal), so that they share the cores with the
// load generator exactly as the real server does.
//
// It drives -c concurrent keep-alive clients and prints requests/s, p50 and
// p95 for each phase. It only talks to the loopback interface.
//
//	go build -o /tmp/credstore ./cmd/credstore
//	/tmp/credstore serve -db /tmp/lg.db 2>/dev/null &
//	go run ./cmd/loadgen -db /tmp/lg.db
//
// Without -db the minimal lookup is skipped; the bare ceiling is measured
// all the same.
//
// With -burst N it runs the burst phase instead (burst.go): N clients
// register at once and retry after each 503 until they succeed; it counts
// the requests left without a reply (the target is none), the goodput
// (registrations/s as a ratio of bare bcrypt, target 0.9), and checks, in
// the database opened read-only, that the accounts stored are exactly the
// registrations answered 200.
//
//	/tmp/credstore serve -addr 127.0.0.1:0 -db /tmp/burst.db 2>/tmp/burst.log &
//	go run ./cmd/loadgen -burst 400 -url http://127.0.0.1:PORT -db /tmp/burst.db
package main

import (
	"bufio"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/crypto/bcrypt"

	"github.com/credstore/credstore/db"
	"github.com/credstore/credstore/internal/database"
)

type config struct {
	URL            string
	DB             string
	Clients        int
	Registrations  int
	Logins         int
	Duration       time.Duration
	BcryptCost     int
	BcryptHashes   int
	BcryptParallel int
	Rounds         int
	Round          time.Duration
	Burst          int
	BurstTimeout   time.Duration
	BurstLog       string
	ServerPID      int
	PocketBase     string
}

func main() {
	var c config
	flag.StringVar(&c.URL, "url", "http://127.0.0.1:5000", "base URL of the running service (loopback only)")
	flag.StringVar(&c.DB, "db", "", "the service's database (path or URL), for the minimal session-lookup handler; empty skips that ceiling")
	flag.IntVar(&c.Clients, "c", 8, "concurrent keep-alive clients")
	flag.IntVar(&c.Registrations, "registrations", 64, "registrations to send")
	flag.IntVar(&c.Logins, "logins", 64, "logins to send")
	flag.DurationVar(&c.Duration, "duration", 20*time.Second, "how long to send GET /profile (and the same to the minimal handler)")
	flag.IntVar(&c.Rounds, "rounds", 4, "alternate the sides of the bcrypt comparisons (bare bcrypt, registrations, logins) in this many rounds")
	flag.DurationVar(&c.Round, "round", time.Second, "alternate the GET phases in rounds of this long each (-duration ÷ -round rounds)")
	flag.IntVar(&c.BcryptCost, "bcrypt-cost", 12, "the server's bcrypt cost, for the bare bcrypt floor")
	flag.IntVar(&c.BcryptHashes, "bcrypt-hashes", 32, "bare bcrypt hashes to time")
	flag.IntVar(&c.BcryptParallel, "bcrypt-parallel", runtime.NumCPU(), "goroutines hashing at once: the server's parallelism")
	flag.IntVar(&c.Burst, "burst", 0, "instead of the steady phases: start this many registration clients at once, each retrying after a 503 until it registers (see burst.go)")
	flag.DurationVar(&c.BurstTimeout, "burst-timeout", 3*time.Minute, "time limit of the burst")
	flag.StringVar(&c.BurstLog, "burst-log", "", "write every attempt of the burst to this CSV file")
	flag.IntVar(&c.ServerPID, "server-pid", 0, "the server's process id, to read its CPU time during the burst (Linux)")
	flag.StringVar(&c.PocketBase, "pocketbase", "", "base URL of a running PocketBase (loopback only), to measure its authenticated record view beside GET /api/v1/me (see pocketbase.go)")
	serveMinimalOnly := flag.Bool("serve-minimal", false, "internal: serve the minimal and bare handlers, print the address, and wait for stdin to close")
	bareBody := flag.String("bare-body", "", "internal: the JSON the bare handler answers GET /api/v1/me with")
	flag.Parse()
	if *serveMinimalOnly {
		if err := runMinimalChild(context.Background(), c.DB, []byte(*bareBody)); err != nil {
			fmt.Fprintln(os.Stderr, "loadgen -serve-minimal:", err)
			os.Exit(1)
		}
		return
	}
	if err := run(context.Background(), c, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "loadgen:", err)
		os.Exit(1)
	}
}

// result is one phase's measurement.
type result struct {
	name      string
	n, errors int
	elapsed   time.Duration
	latencies []time.Duration
}

// add pools another round of the same phase into r.
func (r *result) add(o result) {
	r.n += o.n
	r.errors += o.errors
	r.elapsed += o.elapsed
	r.latencies = append(r.latencies, o.latencies...)
}

func (r result) rate() float64 { return float64(r.n) / r.elapsed.Seconds() }

func (r result) quantile(q float64) time.Duration {
	if len(r.latencies) == 0 {
		return 0
	}
	s := slices.Clone(r.latencies)
	slices.Sort(s)
	return s[min(len(s)-1, int(q*float64(len(s))))]
}

func run(ctx context.Context, c config, out io.Writer) error {
	base, err := url.Parse(c.URL)
	if err != nil {
		return err
	}
	if !isLoopback(base.Hostname()) {
		return fmt.Errorf("-url %s: loadgen only sends traffic to the loopback interface", c.URL)
	}
	if c.Burst > 0 {
		return runBurst(ctx, c, out)
	}
	if c.Round <= 0 || c.Duration <= 0 {
		return fmt.Errorf("-round %v and -duration %v must be positive", c.Round, c.Duration)
	}
	fmt.Fprintf(out, "loadgen: %s, %d clients, GOMAXPROCS %d, %d CPUs\n", c.URL, c.Clients, runtime.GOMAXPROCS(0), runtime.NumCPU())

	clients := make([]*http.Client, c.Clients)
	for i := range clients {
		clients[i] = &http.Client{Timeout: 5 * time.Minute, Transport: &http.Transport{MaxIdleConnsPerHost: 1}}
	}
	run := fmt.Sprintf("%x", time.Now().UnixNano())
	email := func(i int) string { return fmt.Sprintf("lg-%s-%d@example.com", run, i) }
	const password = "loadgen-password"
	rounds := max(1, c.Rounds)

	// Every comparison alternates its two sides in short rounds (bare
	// bcrypt, registrations, logins; then GET /profile, minimal handler), so
	// that other load on the machine or a change of clock speed weighs on
	// both sides of each ratio alike.
	floor := result{name: "bare bcrypt"}
	regs := result{name: "registrations"}
	logins := result{name: "logins"}
	var cookies []string
	registered := 0
	for r := range rounds {
		floor.add(bareBcrypt(c.BcryptCost, share(c.BcryptHashes, rounds, r), c.BcryptParallel))
		first := registered
		rr := drive(ctx, regs.name, clients, share(c.Registrations, rounds, r), 0, func(cl *http.Client, i int) error {
			return expect200(post(ctx, cl, c.URL+"/users", url.Values{"email": {email(first + i)}, "password": {password}}))
		})
		regs.add(rr)
		registered += rr.n + rr.errors
		if regs.n == 0 {
			return errors.New("no registration succeeded")
		}
		users := registered
		var mu sync.Mutex
		logins.add(drive(ctx, logins.name, clients, share(c.Logins, rounds, r), 0, func(cl *http.Client, i int) error {
			resp, err := post(ctx, cl, c.URL+"/sessions", url.Values{"email": {email(i % users)}, "password": {password}})
			if err := expect200(resp, err); err != nil {
				return err
			}
			for _, ck := range resp.Cookies() {
				if ck.Name == "session_id" {
					mu.Lock()
					cookies = append(cookies, ck.Value)
					mu.Unlock()
					return nil
				}
			}
			return errors.New("no session cookie")
		}))
	}
	if len(cookies) == 0 {
		return errors.New("no login succeeded")
	}

	// Access tokens (JWTs) for the first users, one password grant each.
	access, err := accessTokens(ctx, clients[0], c.URL, email, password, min(len(clients), registered))
	if err != nil {
		return fmt.Errorf("POST /api/v1/token: %w", err)
	}
	bearerGet := func(base, path string, bearer bool, tokens []string) func(cl *http.Client, i int) error {
		return func(cl *http.Client, i int) error {
			req, _ := http.NewRequestWithContext(ctx, http.MethodGet, base+path, nil)
			if token := tokens[i%len(tokens)]; bearer {
				req.Header.Set("Authorization", "Bearer "+token)
			} else {
				req.AddCookie(&http.Cookie{Name: "session_id", Value: token})
			}
			return expect200(cl.Do(req))
		}
	}
	authGet := func(base, path string, bearer bool) func(cl *http.Client, i int) error {
		return bearerGet(base, path, bearer, cookies)
	}
	// The bare handler answers the bytes the service answers one user.
	body, err := getBody(ctx, clients[0], c.URL+"/api/v1/me", cookies[0])
	if err != nil {
		return fmt.Errorf("GET /api/v1/me: %w", err)
	}
	addr, stop, err := startMinimalChild(c.DB, body)
	if err != nil {
		return fmt.Errorf("minimal handler: %w", err)
	}
	defer stop()
	child := "http://" + addr
	var pb *pocketBase
	if c.PocketBase != "" {
		if pb, err = newPocketBase(ctx, clients[0], c.PocketBase, run, len(clients)); err != nil {
			return fmt.Errorf("pocketbase: %w", err)
		}
	}

	// The phases alternate in short rounds, so that other load on the
	// machine weighs on every side of each ratio alike. A shared machine's
	// speed drifts by tens of percent over seconds: with rounds of five
	// seconds, two paths of equal cost measured in one run came out up to
	// 0.09 apart (as ratios to the ceiling); with rounds of one second,
	// a few hundredths. (The bcrypt phases keep -rounds: a round must hold
	// enough hashes to keep every core busy.)
	profile := result{name: "GET /profile"}
	minimal := result{name: "minimal lookup"}
	meCookie := result{name: "me cookie"}
	meBearer := result{name: "me bearer"}
	meJWT := result{name: "me jwt"}
	bare := result{name: "bare ceiling"}
	pbView := result{name: "pocketbase view"}
	per := min(c.Round, c.Duration)
	for range max(1, int(c.Duration/per)) {
		profile.add(drive(ctx, profile.name, clients, 0, per, authGet(c.URL, "/profile", false)))
		if c.DB != "" {
			minimal.add(drive(ctx, minimal.name, clients, 0, per, authGet(child, "/profile", false)))
		}
		meCookie.add(drive(ctx, meCookie.name, clients, 0, per, authGet(c.URL, "/api/v1/me", false)))
		meBearer.add(drive(ctx, meBearer.name, clients, 0, per, authGet(c.URL, "/api/v1/me", true)))
		meJWT.add(drive(ctx, meJWT.name, clients, 0, per, bearerGet(c.URL, "/api/v1/me", true, access)))
		bare.add(drive(ctx, bare.name, clients, 0, per, authGet(child, "/api/v1/me", false)))
		if pb != nil {
			pbView.add(drive(ctx, pbView.name, clients, 0, per, pb.view(ctx)))
		}
	}
	results := []result{floor, regs, logins, profile}
	if c.DB != "" {
		results = append(results, minimal)
	}
	results = append(results, meCookie, meBearer, meJWT, bare)
	if pb != nil {
		results = append(results, pbView)
	}

	fmt.Fprintf(out, "\n%-16s %9s %7s %10s %10s %10s\n", "phase", "requests", "errors", "req/s", "p50", "p95")
	for _, r := range results {
		p50, p95 := "-", "-"
		if len(r.latencies) > 0 {
			p50, p95 = r.quantile(0.50).Round(10*time.Microsecond).String(), r.quantile(0.95).Round(10*time.Microsecond).String()
		}
		fmt.Fprintf(out, "%-16s %9d %7d %10.2f %10s %10s\n", r.name, r.n, r.errors, r.rate(), p50, p95)
	}
	fmt.Fprintf(out, "\nregistrations/s ÷ bare bcrypt/s = %.3f (target >= 0.95)\n", regs.rate()/floor.rate())
	fmt.Fprintf(out, "logins/s ÷ bare bcrypt/s        = %.3f (target >= 0.95)\n", logins.rate()/floor.rate())
	if c.DB != "" {
		fmt.Fprintf(out, "profile/s ÷ minimal handler/s   = %.3f (target >= 0.70)\n", profile.rate()/minimal.rate())
	} else {
		fmt.Fprintln(out, "profile/s ÷ minimal handler/s   = not measured (pass -db)")
	}
	fmt.Fprintf(out, "me cookie/s ÷ bare ceiling/s    = %.3f (target >= 0.85)\n", meCookie.rate()/bare.rate())
	fmt.Fprintf(out, "me bearer/s ÷ bare ceiling/s    = %.3f (target >= 0.85)\n", meBearer.rate()/bare.rate())
	fmt.Fprintf(out, "me jwt/s ÷ bare ceiling/s       = %.3f (target >= 0.85)\n", meJWT.rate()/bare.rate())
	if pb != nil {
		fmt.Fprintf(out, "me cookie/s ÷ pocketbase view/s = %.2f (target >= 5)\n", meCookie.rate()/pbView.rate())
		fmt.Fprintf(out, "me jwt/s ÷ pocketbase view/s    = %.2f (target >= 5)\n", meJWT.rate()/pbView.rate())
	}
	for _, r := range results {
		if r.errors > 0 {
			return fmt.Errorf("%s: %d requests failed", r.name, r.errors)
		}
	}
	return nil
}

// share is round r's part of n split over rounds.
func share(n, rounds, r int) int {
	return n/rounds + btoi(r < n%rounds)
}

func btoi(b bool) int {
	if b {
		return 1
	}
	return 0
}

func isLoopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// bareBcrypt hashes n passwords on parallel goroutines: the work a
// registration or a login cannot avoid.
func bareBcrypt(cost, n, parallel int) result {
	var next atomic.Int64
	start := time.Now()
	var wg sync.WaitGroup
	for range parallel {
		wg.Go(func() {
			for next.Add(1) <= int64(n) {
				if _, err := bcrypt.GenerateFromPassword([]byte("loadgen-password"), cost); err != nil {
					panic(err)
				}
			}
		})
	}
	wg.Wait()
	return result{name: "bare bcrypt", n: n, elapsed: time.Since(start)}
}

// drive runs do on every client concurrently, either n times in all
// (n > 0) or for d, and collects the latencies of the successful calls.
func drive(ctx context.Context, name string, clients []*http.Client, n int, d time.Duration, do func(cl *http.Client, i int) error) result {
	var (
		next     atomic.Int64
		mu       sync.Mutex
		lat      []time.Duration
		failures int
		firstErr error
	)
	deadline := time.Now().Add(d)
	start := time.Now()
	var wg sync.WaitGroup
	for _, cl := range clients {
		wg.Go(func() {
			var mine []time.Duration
			for ctx.Err() == nil {
				i := int(next.Add(1) - 1)
				if (n > 0 && i >= n) || (n == 0 && time.Now().After(deadline)) {
					break
				}
				t := time.Now()
				err := do(cl, i)
				took := time.Since(t)
				if err != nil {
					mu.Lock()
					failures++
					if firstErr == nil {
						firstErr = err
					}
					mu.Unlock()
					continue
				}
				mine = append(mine, took)
			}
			mu.Lock()
			lat = append(lat, mine...)
			mu.Unlock()
		})
	}
	wg.Wait()
	elapsed := time.Since(start)
	if firstErr != nil {
		fmt.Fprintf(os.Stderr, "%s: first error: %v\n", name, firstErr)
	}
	return result{name: name, n: len(lat), errors: failures, elapsed: elapsed, latencies: lat}
}

func post(ctx context.Context, cl *http.Client, u string, form url.Values) (*http.Response, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, u, strings.NewReader(form.Encode()))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	return cl.Do(req)
}

// accessTokens gets an access token (POST /api/v1/token, the password
// grant) for each of the first n users.
func accessTokens(ctx context.Context, cl *http.Client, base string, email func(int) string, password string, n int) ([]string, error) {
	tokens := make([]string, 0, n)
	for i := range n {
		resp, err := post(ctx, cl, base+"/api/v1/token", url.Values{"grant_type": {"password"}, "username": {email(i)}, "password": {password}})
		if err != nil {
			return nil, err
		}
		var r struct {
			AccessToken string `json:"access_token"`
		}
		err = json.NewDecoder(resp.Body).Decode(&r)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK || err != nil || r.AccessToken == "" {
			return nil, fmt.Errorf("status %d (%v)", resp.StatusCode, err)
		}
		tokens = append(tokens, r.AccessToken)
	}
	return tokens, nil
}

// expect200 drains and closes the body (so the connection is reused) and
// fails on any status but 200.
func expect200(resp *http.Response, err error) error {
	if err != nil {
		return err
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("status %d: %s", resp.StatusCode, strings.TrimSpace(string(body)))
	}
	return nil
}

// getBody returns the body of a cookie-authenticated GET, failing on any
// status but 200.
func getBody(ctx context.Context, cl *http.Client, u, token string) ([]byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return nil, err
	}
	req.AddCookie(&http.Cookie{Name: "session_id", Value: token})
	resp, err := cl.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err == nil && resp.StatusCode != http.StatusOK {
		err = fmt.Errorf("status %d", resp.StatusCode)
	}
	return body, err
}

// serveMinimal serves, on a loopback port of this process, two ceilings.
//
// GET /profile (when dsn is set) is the least a session-authenticated GET
// can do: read the cookie, hash the token as auth does, run the same
// prepared session-lookup query, and write the email as JSON. No routing
// table, logging, or expiry logic.
//
// GET /api/v1/me is the bare handler: no database at all; it writes body,
// the reply the service gave for one user, as JSON.
func serveMinimal(ctx context.Context, dsn string, body []byte) (addr string, stop func(), err error) {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /api/v1/me", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write(body)
	})
	closeDB := func() {}
	if dsn != "" {
		d, err := database.Open(ctx, dsn)
		if err != nil {
			return "", nil, err
		}
		q, err := db.Prepare(ctx, d.Executor())
		if err != nil {
			d.Close()
			return "", nil, err
		}
		closeDB = func() {
			q.Close()
			d.Close()
		}
		mux.HandleFunc("GET /profile", func(w http.ResponseWriter, r *http.Request) {
			ck, err := r.Cookie("session_id")
			if err != nil {
				http.Error(w, "forbidden", http.StatusForbidden)
				return
			}
			raw, err := base64.RawURLEncoding.DecodeString(ck.Value)
			if err != nil {
				http.Error(w, "forbidden", http.StatusForbidden)
				return
			}
			sum := sha256.Sum256(raw)
			row, err := q.GetSessionUser(r.Context(), hex.EncodeToString(sum[:]))
			if err != nil {
				http.Error(w, "forbidden", http.StatusForbidden)
				return
			}
			w.Header().Set("Content-Type", "application/json")
			_ = json.NewEncoder(w).Encode(struct {
				Email string `json:"email"`
			}{row.User.Email})
		})
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		closeDB()
		return "", nil, err
	}
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = srv.Serve(ln) }()
	return ln.Addr().String(), func() {
		_ = srv.Close()
		closeDB()
	}, nil
}

// startMinimalChild runs this program with -serve-minimal and returns the
// address it serves on. stop ends the child by closing its stdin.
func startMinimalChild(dsn string, body []byte) (addr string, stop func(), err error) {
	exe, err := os.Executable()
	if err != nil {
		return "", nil, err
	}
	cmd := exec.Command(exe, "-serve-minimal", "-db", dsn, "-bare-body", string(body))
	cmd.Stderr = os.Stderr
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return "", nil, err
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return "", nil, err
	}
	if err := cmd.Start(); err != nil {
		return "", nil, err
	}
	line, err := bufio.NewReader(stdout).ReadString('\n')
	if err != nil {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		return "", nil, fmt.Errorf("child did not start: %w", err)
	}
	return strings.TrimSpace(line), func() {
		stdin.Close()
		_ = cmd.Wait()
	}, nil
}

// runMinimalChild is the child's side: serve, print the address, and stop
// when the parent closes stdin.
func runMinimalChild(ctx context.Context, dsn string, body []byte) error {
	addr, stop, err := serveMinimal(ctx, dsn, body)
	if err != nil {
		return err
	}
	defer stop()
	fmt.Println(addr)
	_, _ = io.Copy(io.Discard, os.Stdin)
	return nil
}
