package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
)

// pocketBase drives a running PocketBase (https://pocketbase.io) for the
// peer comparison of GET /api/v1/me: the nearest route it has is the
// authenticated view of one's own record in its built-in users collection,
// GET /api/collections/users/records/{id} with the token of
// auth-with-password, which its default view rule ("id = @request.auth.id")
// checks. Start it beside credstore on the same machine:
//
//	go install github.com/pocketbase/pocketbase/examples/base@v0.36.8
//	base serve --http 127.0.0.1:8090 --dir /tmp/pb_data
//	loadgen -db /tmp/lg.db -pocketbase http://127.0.0.1:8090
//
// The users collection lets anyone register (its default create rule), so
// no administrator is needed.
type pocketBase struct {
	base   string
	tokens []string
	ids    []string
}

// newPocketBase registers n users on PocketBase and logs each in.
func newPocketBase(ctx context.Context, cl *http.Client, base, run string, n int) (*pocketBase, error) {
	u, err := url.Parse(base)
	if err != nil {
		return nil, err
	}
	if !isLoopback(u.Hostname()) {
		return nil, fmt.Errorf("-pocketbase %s: loadgen only sends traffic to the loopback interface", base)
	}
	pb := &pocketBase{base: base}
	const password = "loadgen-password"
	for i := range n {
		email := fmt.Sprintf("pb-%s-%d@example.com", run, i)
		if err := pbPost(ctx, cl, base+"/api/collections/users/records", map[string]string{
			"email": email, "password": password, "passwordConfirm": password,
		}, nil); err != nil {
			return nil, fmt.Errorf("register: %w", err)
		}
		var auth struct {
			Token  string `json:"token"`
			Record struct {
				ID string `json:"id"`
			} `json:"record"`
		}
		if err := pbPost(ctx, cl, base+"/api/collections/users/auth-with-password", map[string]string{
			"identity": email, "password": password,
		}, &auth); err != nil {
			return nil, fmt.Errorf("auth-with-password: %w", err)
		}
		if auth.Token == "" || auth.Record.ID == "" {
			return nil, fmt.Errorf("auth-with-password: no token or record id")
		}
		pb.tokens = append(pb.tokens, auth.Token)
		pb.ids = append(pb.ids, auth.Record.ID)
	}
	return pb, nil
}

// view is the phase's request: user i%n views its own record.
func (pb *pocketBase) view(ctx context.Context) func(cl *http.Client, i int) error {
	return func(cl *http.Client, i int) error {
		k := i % len(pb.tokens)
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, pb.base+"/api/collections/users/records/"+pb.ids[k], nil)
		req.Header.Set("Authorization", pb.tokens[k])
		return expect200(cl.Do(req))
	}
}

func pbPost(ctx context.Context, cl *http.Client, u string, body map[string]string, out any) error {
	b, _ := json.Marshal(body)
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, u, bytes.NewReader(b))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := cl.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("status %d: %s", resp.StatusCode, bytes.TrimSpace(data))
	}
	if out != nil {
		return json.Unmarshal(data, out)
	}
	return nil
}
