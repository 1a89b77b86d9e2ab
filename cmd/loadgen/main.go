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
//     logging and encoding cost. The minimal handler runs in a child process
//     (this program, re-executed with -serve-minimal), so that it shares the
//     cores with the load generator exactly as the real server does.
//
// It drives -c concurrent keep-alive clients and prints requests/s, p50 and
// p95 for each phase. It only talks to the loopback interface.
//
//	go build -o /tmp/credstore ./cmd/credstore
//	/tmp/credstore serve -db /tmp/lg.db 2>/dev/null &
//	go run ./cmd/loadgen -db /tmp/lg.db
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
	Burst          int
	BurstTimeout   time.Duration
	BurstLog       string
	ServerPID      int
}

func main() {
	var c config
	flag.StringVar(&c.URL, "url", "http://127.0.0.1:5000", "base URL of the running service (loopback only)")
	flag.StringVar(&c.DB, "db", "", "the service's database (path or URL), for the minimal session-lookup handler; empty skips that ceiling")
	flag.IntVar(&c.Clients, "c", 8, "concurrent keep-alive clients")
	flag.IntVar(&c.Registrations, "registrations", 64, "registrations to send")
	flag.IntVar(&c.Logins, "logins", 64, "logins to send")
	flag.DurationVar(&c.Duration, "duration", 20*time.Second, "how long to send GET /profile (and the same to the minimal handler)")
	flag.IntVar(&c.Rounds, "rounds", 4, "alternate the two sides of each comparison in this many rounds")
	flag.IntVar(&c.BcryptCost, "bcrypt-cost", 12, "the server's bcrypt cost, for the bare bcrypt floor")
	flag.IntVar(&c.BcryptHashes, "bcrypt-hashes", 32, "bare bcrypt hashes to time")
	flag.IntVar(&c.BcryptParallel, "bcrypt-parallel", runtime.NumCPU(), "goroutines hashing at once: the server's parallelism")
	flag.IntVar(&c.Burst, "burst", 0, "instead of the steady phases: start this many registration clients at once, each retrying after a 503 until it registers (see burst.go)")
	flag.DurationVar(&c.BurstTimeout, "burst-timeout", 3*time.Minute, "time limit of the burst")
	flag.StringVar(&c.BurstLog, "burst-log", "", "write every attempt of the burst to this CSV file")
	flag.IntVar(&c.ServerPID, "server-pid", 0, "the server's process id, to read its CPU time during the burst (Linux)")
	serveMinimalOnly := flag.Bool("serve-minimal", false, "internal: serve the minimal handler on -db, print its address, and wait for stdin to close")
	flag.Parse()
	if *serveMinimalOnly {
		if err := runMinimalChild(context.Background(), c.DB); err != nil {
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

	profileGet := func(base string) func(cl *http.Client, i int) error {
		return func(cl *http.Client, i int) error {
			req, _ := http.NewRequestWithContext(ctx, http.MethodGet, base+"/profile", nil)
			req.AddCookie(&http.Cookie{Name: "session_id", Value: cookies[i%len(cookies)]})
			return expect200(cl.Do(req))
		}
	}
	// GET /profile and the minimal handler alternate in short rounds, so
	// that other load on the machine weighs on both alike.
	var minimalAddr string
	if c.DB != "" {
		addr, stop, err := startMinimalChild(c.DB)
		if err != nil {
			return fmt.Errorf("minimal handler: %w", err)
		}
		defer stop()
		minimalAddr = "http://" + addr
	}
	profile := result{name: "GET /profile"}
	minimal := result{name: "minimal lookup"}
	for range rounds {
		profile.add(drive(ctx, profile.name, clients, 0, c.Duration/time.Duration(rounds), profileGet(c.URL)))
		if minimalAddr != "" {
			minimal.add(drive(ctx, minimal.name, clients, 0, c.Duration/time.Duration(rounds), profileGet(minimalAddr)))
		}
	}
	results := []result{floor, regs, logins, profile}
	if minimalAddr != "" {
		results = append(results, minimal)
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
	if minimalAddr != "" {
		fmt.Fprintf(out, "profile/s ÷ minimal handler/s   = %.3f (target >= 0.70)\n", profile.rate()/minimal.rate())
	} else {
		fmt.Fprintln(out, "profile/s ÷ minimal handler/s   = not measured (pass -db)")
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

// serveMinimal serves, on a loopback port of this process, the least a
// session-authenticated GET can do: read the cookie, hash the token as auth
// does, run the same prepared session-lookup query, and write the email as
// JSON. No routing table, logging, or expiry logic.
func serveMinimal(ctx context.Context, dsn string) (addr string, stop func(), err error) {
	d, err := database.Open(ctx, dsn)
	if err != nil {
		return "", nil, err
	}
	q, err := db.Prepare(ctx, d.Executor())
	if err != nil {
		d.Close()
		return "", nil, err
	}
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
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
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		q.Close()
		d.Close()
		return "", nil, err
	}
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = srv.Serve(ln) }()
	return ln.Addr().String(), func() {
		_ = srv.Close()
		q.Close()
		d.Close()
	}, nil
}

// startMinimalChild runs this program with -serve-minimal and returns the
// address it serves on. stop ends the child by closing its stdin.
func startMinimalChild(dsn string) (addr string, stop func(), err error) {
	exe, err := os.Executable()
	if err != nil {
		return "", nil, err
	}
	cmd := exec.Command(exe, "-serve-minimal", "-db", dsn)
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
func runMinimalChild(ctx context.Context, dsn string) error {
	addr, stop, err := serveMinimal(ctx, dsn)
	if err != nil {
		return err
	}
	defer stop()
	fmt.Println(addr)
	_, _ = io.Copy(io.Discard, os.Stdin)
	return nil
}
