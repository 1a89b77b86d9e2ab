package main

import (
	"context"
	"database/sql"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/url"
	"os"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/credstore/credstore/internal/database"
)

// The burst phase (-burst N) asks what a crowd arriving at once gets: N
// clients each start a registration at the same instant, far more than
// bcrypt can serve, and each keeps trying, with a new address every time,
// until its own registration succeeds. A server that sheds load well
// answers every request (a 503 with Retry-After for those it cannot take),
// keeps bcrypt busy the whole time, and stores an account for exactly the
// registrations it answered 200.

// Targets of the burst phase.
const (
	burstGoodputTarget = 0.9 // successful registrations/s ÷ bare bcrypt hashes/s
	burstMaxAttempts   = 10_000
)

// statusCut marks an attempt the burst's time limit cancelled before its
// reply came.
const statusCut = -1

// attempt is one registration request of the burst.
type attempt struct {
	client, n int
	email     string
	status    int    // 0: no HTTP reply; statusCut
	err       string // why there was no reply
	start     time.Duration
	latency   time.Duration
}

// burstClient is one of the crowd: its own keep-alive connection, and the
// attempts it made.
type burstClient struct {
	http     *http.Client
	attempts []attempt
	done     time.Duration // since the burst's start: its 200, or when it gave up
	ok       bool
}

// runBurst runs the burst phase and prints its figures; it fails when a
// request got no reply, when the stored accounts differ from the 200s, or
// when goodput falls short of its target.
func runBurst(ctx context.Context, c config, out io.Writer) error {
	fmt.Fprintf(out, "loadgen burst: %s, %d clients at once, bcrypt cost %d, GOMAXPROCS %d, %d CPUs\n",
		c.URL, c.Burst, c.BcryptCost, runtime.GOMAXPROCS(0), runtime.NumCPU())

	// Bare bcrypt before and after the burst, pooled: the floor of one
	// registration, at the server's cost and parallelism, in this run.
	// Also the CPU time a bare hash takes, and the server's and this
	// process's CPU time during the burst: on a machine shared with other
	// work the wall-clock ratio moves with that work, while the share of
	// the server's CPU that went into the registrations' hashes does not.
	cpu0 := selfCPU()
	before := bareBcrypt(c.BcryptCost, share(c.BcryptHashes, 2, 0), c.BcryptParallel)
	cpu1 := selfCPU()
	run := fmt.Sprintf("%x", time.Now().UnixNano())
	server0, serverErr := processCPU(c.ServerPID)
	clients, elapsed := burst(ctx, c, run)
	server1, err := processCPU(c.ServerPID)
	serverErr = errors.Join(serverErr, err)
	cpu2 := selfCPU()
	after := bareBcrypt(c.BcryptCost, share(c.BcryptHashes, 2, 1), c.BcryptParallel)
	cpu3 := selfCPU()
	floor := before
	floor.add(after)
	hashCPU := (cpu1 - cpu0 + cpu3 - cpu2) / time.Duration(max(1, floor.n))

	var (
		all                       []attempt
		ok, busy, other, noReply  int
		registered                = map[string]bool{}
		cut                       int
		timeToSuccess, latency200 []time.Duration
		firstError                string
	)
	for _, cl := range clients {
		for _, a := range cl.attempts {
			all = append(all, a)
			switch a.status {
			case http.StatusOK:
				ok++
				registered[a.email] = true
				latency200 = append(latency200, a.latency)
			case http.StatusServiceUnavailable:
				busy++
			case statusCut:
				cut++
			case 0:
				noReply++
				if firstError == "" {
					firstError = a.err
				}
			default:
				other++
			}
		}
		if cl.ok {
			timeToSuccess = append(timeToSuccess, cl.done)
		}
	}
	goodput := float64(ok) / elapsed.Seconds()
	ratio := goodput / floor.rate()

	fmt.Fprintf(out, "\nbare bcrypt:    %d hashes, %.2f/s (%.2f/s before the burst, %.2f/s after)\n",
		floor.n, floor.rate(), before.rate(), after.rate())
	fmt.Fprintf(out, "burst:          %d clients, %d registered in %v (limit %v)\n",
		len(clients), len(timeToSuccess), elapsed.Round(10*time.Millisecond), c.BurstTimeout)
	fmt.Fprintf(out, "attempts:       %d: %d × 200, %d × 503, %d other, %d without a reply, %d cut by the time limit\n",
		len(all), ok, busy, other, noReply, cut)
	if noReply > 0 {
		fmt.Fprintf(out, "                first failure: %s\n", firstError)
	}
	fmt.Fprintf(out, "200 latency:    p50 %v, p95 %v, max %v\n", quantile(latency200, 0.5), quantile(latency200, 0.95), quantile(latency200, 1))
	fmt.Fprintf(out, "time to 200:    p50 %v, p95 %v, max %v (from the burst's start, per client)\n",
		quantile(timeToSuccess, 0.5), quantile(timeToSuccess, 0.95), quantile(timeToSuccess, 1))
	fmt.Fprintf(out, "goodput:        %.2f registrations/s = %.3f × bare bcrypt (target >= %.2f)\n", goodput, ratio, burstGoodputTarget)
	switch {
	case c.ServerPID == 0:
		fmt.Fprintln(out, "CPU:            not measured (pass -server-pid)")
	case serverErr != nil:
		fmt.Fprintf(out, "CPU:            not measured: %v\n", serverErr)
	default:
		serverCPU := server1 - server0
		useful := time.Duration(ok) * hashCPU
		fmt.Fprintf(out, "CPU:            server %.1fs during the burst, of which %d hashes × %v (a bare hash) = %.1fs: %.3f; load generator %.1fs\n",
			serverCPU.Seconds(), ok, hashCPU.Round(time.Millisecond), useful.Seconds(), useful.Seconds()/serverCPU.Seconds(),
			(cpu2 - cpu1).Seconds())
	}

	if c.BurstLog != "" {
		if err := writeAttempts(c.BurstLog, all); err != nil {
			return err
		}
		fmt.Fprintf(out, "attempts log:   %s\n", c.BurstLog)
	}

	var errs []error
	if c.DB != "" {
		stored, err := storedEmails(ctx, c.DB, "burst-"+run+"-")
		if err != nil {
			return fmt.Errorf("read the database: %w", err)
		}
		var missing, extra []string
		for e := range registered {
			if !stored[e] {
				missing = append(missing, e)
			}
		}
		for e := range stored {
			if !registered[e] {
				extra = append(extra, e)
			}
		}
		fmt.Fprintf(out, "database:       %d accounts of this burst stored, %d registrations answered 200: %d missing, %d extra\n",
			len(stored), len(registered), len(missing), len(extra))
		if len(missing)+len(extra) > 0 {
			errs = append(errs, fmt.Errorf("the stored accounts differ from the 200s: missing %.5q, extra %.5q", missing, extra))
		}
	} else {
		fmt.Fprintln(out, "database:       not checked (pass -db)")
	}
	if noReply > 0 {
		errs = append(errs, fmt.Errorf("%d requests got no reply", noReply))
	}
	if other > 0 {
		errs = append(errs, fmt.Errorf("%d requests got a status other than 200 or 503", other))
	}
	if ratio < burstGoodputTarget {
		errs = append(errs, fmt.Errorf("goodput %.3f × bare bcrypt is below %.2f", ratio, burstGoodputTarget))
	}
	return errors.Join(errs...)
}

// burst starts every client at once and waits for all of them: each
// registers until it gets a 200, its attempts run out, or c.BurstTimeout
// passes. It returns the clients and the burst's duration, until the last
// client finished.
func burst(ctx context.Context, c config, run string) ([]*burstClient, time.Duration) {
	ctx, cancel := context.WithTimeout(ctx, c.BurstTimeout)
	defer cancel()
	clients := make([]*burstClient, c.Burst)
	for i := range clients {
		// One keep-alive connection per client, as a crowd of browsers
		// would have. The client's timeout outlasts the server's write
		// timeout, so a dropped reply shows as such, not as impatience.
		clients[i] = &burstClient{http: &http.Client{
			Timeout:   time.Minute,
			Transport: &http.Transport{MaxIdleConnsPerHost: 1, MaxConnsPerHost: 1},
		}}
	}
	start := make(chan struct{})
	var wg sync.WaitGroup
	var t0 time.Time
	for i, cl := range clients {
		wg.Go(func() {
			<-start
			cl.register(ctx, c.URL, run, i, t0)
		})
	}
	t0 = time.Now()
	close(start)
	wg.Wait()
	for _, cl := range clients {
		cl.http.CloseIdleConnections()
	}
	return clients, time.Since(t0)
}

// register is one client's loop: a registration with a new address per
// attempt; after a 503 it waits Retry-After seconds, with ±50% jitter so that
// the crowd does not come back at once; after anything else but a 200 it
// waits one second. Bounded by ctx and burstMaxAttempts.
func (cl *burstClient) register(ctx context.Context, base, run string, id int, t0 time.Time) {
	defer func() { cl.done = time.Since(t0) }()
	for n := range burstMaxAttempts {
		a := attempt{client: id, n: n, email: fmt.Sprintf("burst-%s-%d-%d@example.com", run, id, n), start: time.Since(t0)}
		form := url.Values{"email": {a.email}, "password": {"loadgen-password"}}
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, base+"/users", strings.NewReader(form.Encode()))
		if err != nil {
			panic(err) // a bad -url, refused before
		}
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		resp, err := cl.http.Do(req)
		a.latency = time.Since(t0) - a.start
		if err != nil {
			a.err = err.Error()
			if ctx.Err() != nil {
				a.status = statusCut
				cl.attempts = append(cl.attempts, a)
				return
			}
			cl.attempts = append(cl.attempts, a)
			if !sleep(ctx, time.Second) {
				return
			}
			continue
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		a.status = resp.StatusCode
		cl.attempts = append(cl.attempts, a)
		wait := time.Second
		switch resp.StatusCode {
		case http.StatusOK:
			cl.ok = true
			return
		case http.StatusServiceUnavailable:
			if s, err := strconv.Atoi(resp.Header.Get("Retry-After")); err == nil && s > 0 {
				wait = time.Duration(s) * time.Second
			}
			wait = time.Duration(float64(wait) * (0.5 + rand.Float64()))
		}
		if !sleep(ctx, wait) {
			return
		}
	}
}

// sleep waits d or until ctx ends; it reports whether ctx is still live.
func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}

func quantile(d []time.Duration, q float64) time.Duration {
	if len(d) == 0 {
		return 0
	}
	s := slices.Clone(d)
	slices.Sort(s)
	return s[min(len(s)-1, int(q*float64(len(s))))].Round(time.Millisecond)
}

// storedEmails reads, without writing anything, the emails of the
// accounts whose address starts with prefix. SQLite is opened read-only;
// PostgreSQL is read in a read-only transaction.
func storedEmails(ctx context.Context, dsn, prefix string) (map[string]bool, error) {
	driver, source := "pgx", dsn
	if !database.IsPostgres(dsn) {
		driver = "sqlite"
		if strings.HasPrefix(dsn, "file:") {
			sep := "?"
			if strings.Contains(dsn, "?") {
				sep = "&"
			}
			source = dsn + sep + "mode=ro"
		} else {
			source = "file:" + strings.NewReplacer("%", "%25", "#", "%23", "?", "%3f").Replace(dsn) + "?mode=ro"
		}
	}
	d, err := sql.Open(driver, source)
	if err != nil {
		return nil, err
	}
	defer d.Close()
	tx, err := d.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		return nil, err
	}
	defer tx.Rollback() //nolint:errcheck // read-only
	rows, err := tx.QueryContext(ctx, "SELECT email FROM users WHERE email LIKE '"+prefix+"%'")
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	emails := map[string]bool{}
	for rows.Next() {
		var e string
		if err := rows.Scan(&e); err != nil {
			return nil, err
		}
		emails[e] = true
	}
	return emails, rows.Err()
}

// writeAttempts writes every attempt as CSV.
func writeAttempts(path string, all []attempt) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	w := csv.NewWriter(f)
	_ = w.Write([]string{"client", "attempt", "email", "status", "start_ms", "latency_ms", "error"})
	for _, a := range all {
		_ = w.Write([]string{strconv.Itoa(a.client), strconv.Itoa(a.n), a.email, strconv.Itoa(a.status),
			strconv.FormatInt(a.start.Milliseconds(), 10), strconv.FormatInt(a.latency.Milliseconds(), 10), a.err})
	}
	w.Flush()
	if err := w.Error(); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}
