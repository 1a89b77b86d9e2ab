package auth_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"runtime"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"

	"github.com/credstore/credstore/auth"
	"github.com/credstore/credstore/internal/testdb"
)

// The benchmarks compare the store with its floor in the same run, because
// the machines are shared and noisy: Register and Login interleave each
// operation with a bare bcrypt call at the same cost and report the ratio
// (store time ÷ bcrypt time; the target is at most 1.05). scripts/bench
// runs them all and prints the README's table.

// benchStores runs fn once per engine with a fresh store configured by cfg
// (the zero Config: the default bcrypt cost).
func benchStores(b *testing.B, cfg auth.Config, fn func(b *testing.B, s *auth.Store, dsn string)) {
	for _, e := range testdb.Engines() {
		b.Run(string(e), func(b *testing.B) {
			dsn := testdb.DSN(b, e)
			s, err := auth.Open(context.Background(), dsn, cfg)
			if err != nil {
				b.Fatal(err)
			}
			b.Cleanup(func() { s.Close() })
			fn(b, s, dsn)
		})
	}
}

// fastHashing is for benchmarks that only need users to exist.
var fastHashing = auth.Config{BcryptCost: 4, InsecureAllowLowBcryptCostForTesting: true}

// pair times a and then b, adding each duration to its own total.
func pair(ta, tb *time.Duration, a, b func()) {
	start := time.Now()
	a()
	mid := time.Now()
	b()
	*ta += mid.Sub(start)
	*tb += time.Since(mid)
}

func reportRatio(b *testing.B, store, floor time.Duration) {
	b.ReportMetric(float64(store.Nanoseconds())/float64(b.N), "store-ns/op")
	b.ReportMetric(float64(floor.Nanoseconds())/float64(b.N), "bcrypt-ns/op")
	b.ReportMetric(float64(store)/float64(floor), "ratio")
}

func BenchmarkRegister(b *testing.B) {
	benchStores(b, auth.Config{}, func(b *testing.B, s *auth.Store, _ string) {
		ctx := context.Background()
		var store, floor time.Duration
		for i := 0; b.Loop(); i++ {
			pair(&floor, &store, func() {
				if _, err := bcrypt.GenerateFromPassword([]byte("correct horse battery"), auth.DefaultBcryptCost); err != nil {
					b.Fatal(err)
				}
			}, func() {
				_, err := s.Register(ctx, auth.Registration{
					Username: fmt.Sprintf("user%d", i),
					Email:    fmt.Sprintf("user%d@example.com", i),
					Password: "correct horse battery",
				})
				if err != nil {
					b.Fatal(err)
				}
			})
		}
		reportRatio(b, store, floor)
	})
}

func BenchmarkLogin(b *testing.B) {
	benchStores(b, auth.Config{}, func(b *testing.B, s *auth.Store, _ string) {
		ctx := context.Background()
		if _, err := s.Register(ctx, auth.Registration{Username: "alice", Email: "alice@example.com", Password: "hunter2!"}); err != nil {
			b.Fatal(err)
		}
		hash, err := bcrypt.GenerateFromPassword([]byte("hunter2!"), auth.DefaultBcryptCost)
		if err != nil {
			b.Fatal(err)
		}
		var store, floor time.Duration
		for b.Loop() {
			pair(&floor, &store, func() {
				if err := bcrypt.CompareHashAndPassword(hash, []byte("hunter2!")); err != nil {
					b.Fatal(err)
				}
			}, func() {
				if _, err := s.Login(ctx, "alice", "hunter2!"); err != nil {
					b.Fatal(err)
				}
			})
		}
		reportRatio(b, store, floor)
	})
}

// BenchmarkLoginParallel logs in from GOMAXPROCS goroutines at once; run it
// with -cpu 1,2 and compare: logins take no write lock, so throughput should
// grow with the cores.
func BenchmarkLoginParallel(b *testing.B) {
	benchStores(b, auth.Config{}, func(b *testing.B, s *auth.Store, _ string) {
		ctx := context.Background()
		if _, err := s.Register(ctx, auth.Registration{Username: "alice", Email: "alice@example.com", Password: "hunter2!"}); err != nil {
			b.Fatal(err)
		}
		b.ResetTimer()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				if _, err := s.Login(ctx, "alice", "hunter2!"); err != nil {
					b.Error(err)
					return
				}
			}
		})
		b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "logins/s")
	})
}

// BenchmarkLookupByUsername compares Store.UserByUsername with the floor: a
// raw prepared SELECT of the same row on the same table.
func BenchmarkLookupByUsername(b *testing.B) {
	benchStores(b, fastHashing, func(b *testing.B, s *auth.Store, dsn string) {
		ctx := context.Background()
		for i := range 100 {
			_, err := s.Register(ctx, auth.Registration{
				Username: fmt.Sprintf("user%d", i), Email: fmt.Sprintf("user%d@example.com", i), Password: "correct horse",
			})
			if err != nil {
				b.Fatal(err)
			}
		}
		b.Run("store", func(b *testing.B) {
			for b.Loop() {
				if _, err := s.UserByUsername(ctx, "user42"); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run("raw-prepared", func(b *testing.B) {
			query := "SELECT id, public_id, username, email, phone, is_admin, created_at, updated_at FROM users WHERE username = ?"
			if strings.HasPrefix(dsn, "postgres") {
				query = strings.Replace(query, "?", "$1", 1)
			}
			stmt, err := testdb.Raw(b, dsn).PrepareContext(ctx, query)
			if err != nil {
				b.Fatal(err)
			}
			defer stmt.Close()
			var (
				id                        int64
				publicID, username, email string
				phone                     *string
				isAdmin                   bool
				createdAt, updatedAt      time.Time
			)
			for b.Loop() {
				err := stmt.QueryRowContext(ctx, "user42").Scan(&id, &publicID, &username, &email, &phone, &isAdmin, &createdAt, &updatedAt)
				if err != nil {
					b.Fatal(err)
				}
			}
		})
	})
}

// BenchmarkLoginThrottled times a login refused by a waiting bucket, and
// in the same run a bare bcrypt comparison at cost 12: the refusal is two
// indexed reads, so its ratio should be a small fraction of a percent. The
// two are timed apart, not interleaved: right after bcrypt the caches are
// cold, which would charge bcrypt's cost to the refusal.
func BenchmarkLoginThrottled(b *testing.B) {
	frozen := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	cfg := auth.Config{Now: func() time.Time { return frozen }}
	benchStores(b, cfg, func(b *testing.B, s *auth.Store, _ string) {
		ctx := context.Background()
		if _, err := s.Register(ctx, auth.Registration{Username: "alice", Email: "alice@example.com", Password: "hunter2!"}); err != nil {
			b.Fatal(err)
		}
		for range auth.DefaultLoginThrottle().FreeFailures + 1 { // the clock stands still: the bucket waits for good
			_, _ = s.Login(ctx, "alice", "wrong password")
		}
		hash, err := bcrypt.GenerateFromPassword([]byte("hunter2!"), auth.DefaultBcryptCost)
		if err != nil {
			b.Fatal(err)
		}
		const floorRuns = 5
		start := time.Now()
		for range floorRuns {
			if err := bcrypt.CompareHashAndPassword(hash, []byte("hunter2!")); err != nil {
				b.Fatal(err)
			}
		}
		floor := time.Since(start) / floorRuns
		b.ResetTimer()
		for b.Loop() {
			if _, err := s.Login(ctx, "alice", "hunter2!"); !errors.Is(err, auth.ErrThrottled) {
				b.Fatalf("want throttled, got %v", err)
			}
		}
		store := b.Elapsed() / time.Duration(b.N)
		b.ReportMetric(float64(store.Nanoseconds()), "store-ns/op")
		b.ReportMetric(float64(floor.Nanoseconds()), "bcrypt-ns/op")
		b.ReportMetric(float64(store)/float64(floor), "ratio")
	})
}

// BenchmarkImportUsers imports 200 users with plaintext passwords at the
// default cost and, in the same iteration, hashes 200 passwords at that
// cost on GOMAXPROCS goroutines with bare bcrypt: the floor. It reports
// users/s of each and their ratio (import ÷ floor; 1 is the ideal). Run
// with -benchtime=1x: one iteration takes two hundred hashes twice.
func BenchmarkImportUsers(b *testing.B) {
	const n = 200
	benchStores(b, auth.Config{Policy: lenientPolicy()}, func(b *testing.B, s *auth.Store, _ string) {
		ctx := context.Background()
		var importTime, floorTime time.Duration
		round := 0
		for b.Loop() {
			rows := make([]auth.ImportedUser, n)
			for i := range rows {
				rows[i] = auth.ImportedUser{Line: i + 1, Email: fmt.Sprintf("r%d-u%d@example.com", round, i), Password: pw(fmt.Sprint(i))}
			}
			round++
			start := time.Now()
			results, err := s.ImportUsers(ctx, rows, auth.ImportOptions{})
			importTime += time.Since(start)
			if err != nil {
				b.Fatal(err)
			}
			for _, r := range results {
				if r.Err != nil {
					b.Fatal(r.Err)
				}
			}
			start = time.Now()
			jobs := make(chan int)
			done := make(chan struct{})
			workers := runtime.GOMAXPROCS(0)
			for range workers {
				go func() {
					for i := range jobs {
						if _, err := bcrypt.GenerateFromPassword([]byte(pw(fmt.Sprint(i))), auth.DefaultBcryptCost); err != nil {
							panic(err)
						}
					}
					done <- struct{}{}
				}()
			}
			for i := range n {
				jobs <- i
			}
			close(jobs)
			for range workers {
				<-done
			}
			floorTime += time.Since(start)
		}
		users := float64(n * round)
		b.ReportMetric(users/importTime.Seconds(), "import_users/s")
		b.ReportMetric(users/floorTime.Seconds(), "bcrypt_users/s")
		b.ReportMetric(floorTime.Seconds()/importTime.Seconds(), "import/bcrypt_speed")
	})
}

// lenientPolicy is the default policy without a required username.
func lenientPolicy() *auth.Policy {
	p := auth.DefaultPolicy()
	p.RequireUsername = false
	return &p
}

// BenchmarkVerifyAccessToken verifies an access token offline (signature
// and claims, the keys cached) and with the session check (one read by
// primary key besides), beside SessionUser on a session token, the cookie
// path's read, for the ratio.
func BenchmarkVerifyAccessToken(b *testing.B) {
	cfg := fastHashing
	cfg.SecretKeys = &auth.Keyring{Current: "k", Keys: map[string][]byte{"k": make([]byte, 32)}}
	benchStores(b, cfg, func(b *testing.B, s *auth.Store, _ string) {
		ctx := context.Background()
		if _, err := s.Register(ctx, auth.Registration{Username: "alice", Email: "alice@example.com", Password: "hunter2!"}); err != nil {
			b.Fatal(err)
		}
		r, err := s.IssueTokens(ctx, auth.LoginAttempt{Identifier: "alice", Password: "hunter2!"})
		if err != nil {
			b.Fatal(err)
		}
		_, sess, err := s.LoginSession(ctx, "alice", "hunter2!")
		if err != nil {
			b.Fatal(err)
		}
		set, err := s.JWKS(ctx)
		if err != nil {
			b.Fatal(err)
		}
		doc, err := json.Marshal(set)
		if err != nil {
			b.Fatal(err)
		}
		verifier, err := auth.NewJWKSVerifier(doc, "credstore", "credstore")
		if err != nil {
			b.Fatal(err)
		}
		for _, c := range []struct {
			name string
			fn   func() error
		}{
			// Every verification in full (Ed25519), as for a token seen
			// for the first time: the JWKS verifier remembers nothing.
			{"first_sight", func() error { _, err := verifier.Verify(r.AccessToken, time.Now()); return err }},
			// The store remembers a token that verified (verified.go).
			{"offline", func() error { _, err := s.VerifyAccessToken(ctx, r.AccessToken, auth.VerifyOptions{}); return err }},
			{"check_session", func() error {
				_, err := s.VerifyAccessToken(ctx, r.AccessToken, auth.VerifyOptions{CheckSession: true})
				return err
			}},
			{"session_token", func() error { _, _, err := s.SessionUser(ctx, sess.Token); return err }},
		} {
			b.Run(c.name, func(b *testing.B) {
				for b.Loop() {
					if err := c.fn(); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
	})
}
