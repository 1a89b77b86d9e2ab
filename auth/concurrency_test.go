package auth_test

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/credstore/credstore/auth"
	"github.com/credstore/credstore/internal/testdb"
)

// TestConcurrentRegisterSameValue: of 50 simultaneous registrations of one
// value exactly one wins and 49 get a DuplicateError naming the field; the
// database's unique constraints decide, under write contention.
func TestConcurrentRegisterSameValue(t *testing.T) {
	t.Parallel()
	const n = 50
	cases := []struct {
		name  string
		reg   func(i int) auth.Registration
		field string
	}{
		{
			name: "username",
			reg: func(i int) auth.Registration {
				return auth.Registration{Username: "racer", Email: fmt.Sprintf("racer%d@example.com", i), Password: pw("racer")}
			},
			field: "username",
		},
		{
			name: "email in different cases",
			reg: func(i int) auth.Registration {
				e := []byte("racer@example.com")
				for b := range e { // a different mix of cases for each goroutine
					if i>>(b%6)&1 == 1 {
						e[b] = strings.ToUpper(string(e[b]))[0]
					}
				}
				return auth.Registration{Username: fmt.Sprintf("racer%d", i), Email: string(e), Password: pw("racer")}
			},
			field: "email",
		},
		{
			name: "phone",
			reg: func(i int) auth.Registration {
				return auth.Registration{
					Username: fmt.Sprintf("racer%d", i), Email: fmt.Sprintf("racer%d@example.com", i),
					Phone: "+15551230001", Password: pw("racer"),
				}
			},
			field: "phone",
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			testdb.Run(t, func(t *testing.T, dsn string) {
				t.Parallel()
				ctx := context.Background()
				s := newStore(t, dsn)
				raw := testdb.Raw(t, dsn)

				start := make(chan struct{})
				errs := make([]error, n)
				var wg sync.WaitGroup
				for i := range n {
					wg.Go(func() {
						<-start
						_, errs[i] = s.Register(ctx, tc.reg(i))
					})
				}
				close(start)
				wg.Wait()

				wins := 0
				for i, err := range errs {
					if err == nil {
						wins++
						continue
					}
					var dup *auth.DuplicateError
					if assert.ErrorAs(t, err, &dup, "goroutine %d", i) {
						assert.Equal(t, tc.field, dup.Field, "goroutine %d", i)
					}
				}
				assert.Equal(t, 1, wins, "exactly one registration wins")
				assert.Equal(t, 1, countRows(t, raw, "users"))
				assert.Equal(t, 1, countRows(t, raw, "credentials"))
			})
		})
	}
}

// TestConcurrentMixedLoad runs 8 goroutines of registrations, logins,
// updates, password changes and deletes against one file database, 50
// operations each (a count, not a duration: a slow machine runs the same
// load, only later). The only errors allowed are the typed ones the
// operations document; "database is locked" (SQLITE_BUSY) in particular
// must never surface.
func TestConcurrentMixedLoad(t *testing.T) {
	t.Parallel()
	testdb.Run(t, func(t *testing.T, dsn string) {
		t.Parallel()
		ctx, cancel := context.WithTimeout(context.Background(), testdb.Patience)
		defer cancel()
		s := newStore(t, dsn)
		const seeded = 20
		for i := range seeded {
			mustRegister(t, s, reg(fmt.Sprintf("seed%d", i)))
		}

		const workers, perWorker = 8, 50
		var (
			mu         sync.Mutex
			ops        = map[string]int{}
			typed      = map[string]int{}
			unexpected []error
		)
		record := func(op string, err error) {
			mu.Lock()
			defer mu.Unlock()
			ops[op]++
			switch {
			case err == nil:
			case errors.Is(err, auth.ErrDuplicate), errors.Is(err, auth.ErrNotFound),
				errors.Is(err, auth.ErrInvalidCredentials), errors.Is(err, auth.ErrValidation):
				typed[op]++
			default:
				unexpected = append(unexpected, fmt.Errorf("%s: %w", op, err))
			}
		}

		var wg sync.WaitGroup
		for w := range workers {
			wg.Go(func() {
				rng := rand.New(rand.NewPCG(uint64(w), 42))
				// Names from a small shared pool, so that workers collide.
				name := func() string { return fmt.Sprintf("n%d", rng.IntN(40)) }
				id := func() int64 { return 1 + rng.Int64N(seeded+60) }
				for range perWorker {
					switch rng.IntN(6) {
					case 0:
						nm := name()
						_, err := s.Register(ctx, reg(nm))
						record("register", err)
					case 1:
						nm := name()
						if rng.IntN(2) == 0 {
							nm = fmt.Sprintf("seed%d", rng.IntN(seeded))
						}
						password := pw(nm)
						if rng.IntN(3) == 0 {
							password = "wrong-password"
						}
						_, err := s.Login(ctx, nm+"@example.com", password)
						record("login", err)
					case 2:
						_, err := s.UpdateUser(ctx, id(), auth.UserUpdate{
							Email: ptr(name() + "@example.com"),
							Phone: ptr(fmt.Sprintf("+1555123%04d", rng.IntN(30))),
						})
						record("update", err)
					case 3:
						err := s.DeleteUser(ctx, id())
						record("delete", err)
					case 4:
						err := s.SetPassword(ctx, id(), "Reset-password-1")
						record("set password", err)
					case 5:
						_, err := s.ListUsers(ctx, auth.ListOptions{AfterID: id(), Limit: 5})
						record("list", err)
					}
				}
			})
		}
		wg.Wait()
		require.NoError(t, ctx.Err(), "the load finished (a hang, not slowness, takes testdb.Patience)")

		total := 0
		for _, n := range ops {
			total += n
		}
		t.Logf("%d operations %v; typed errors %v", total, ops, typed)
		locked := 0
		for _, err := range unexpected {
			msg := strings.ToLower(err.Error())
			if strings.Contains(msg, "database is locked") || strings.Contains(msg, "sqlite_busy") {
				locked++
			}
		}
		assert.Zero(t, locked, "database is locked / SQLITE_BUSY")
		assert.Empty(t, unexpected, "errors other than the typed ones")
		for _, op := range []string{"register", "login", "update", "delete", "set password", "list"} {
			assert.Positive(t, ops[op], "the load must exercise %s", op)
		}
		assert.Positive(t, typed["register"], "workers must collide on registration")
	})
}
