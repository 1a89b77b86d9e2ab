package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/credstore/credstore/auth"
)

const auditUsage = `usage: credstore audit [flags]          print audit events (a table, or JSON lines with -json)
       credstore audit verify [flags]   check the audit trail's hash chain (-head ID:HASH: and that it still holds that event)
       credstore audit head [flags]     print the chain's head, ID:HASH, to record outside the database

`

// audit reads the audit trail: a page of events as JSON lines, oldest first
// unless -newest; with "verify" a check of the hash chain, against a head
// recorded earlier with -head; with "head" the chain's head, for the
// operator to record elsewhere (the runtime role may delete events, so only
// a head kept outside the database shows the newest ones removed). It
// opens the database serve uses (the same -db flag and CREDSTORE_DB twin).
func audit(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) int {
	var sub string
	if len(args) > 0 && (args[0] == "verify" || args[0] == "head") {
		sub, args = args[0], args[1:]
	}
	fs := flag.NewFlagSet("credstore audit", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() { fmt.Fprint(stderr, auditUsage); fs.PrintDefaults() }
	def := getenv("CREDSTORE_DB")
	if def == "" {
		def = "credstore.db"
	}
	dsn := fs.String("db", def, "SQLite path or file: URI, or postgres:// URL (env CREDSTORE_DB)")
	var f auth.AuditFilter
	user := fs.String("user", "", "only events about this user: an id or a public id")
	fs.Func("type", "only events of these types, comma-separated (login.failed,user.deleted)", func(v string) error {
		for _, t := range strings.Split(v, ",") {
			if t = strings.TrimSpace(t); t != "" {
				f.Types = append(f.Types, auth.EventType(t))
			}
		}
		return nil
	})
	fs.Func("since", "only events at or after this time (RFC 3339, 2026-01-02T15:04:05Z, or a duration ago: 24h)", func(v string) error {
		t, err := parseWhen(v)
		f.Since = t
		return err
	})
	fs.Func("until", "only events before this time (as -since)", func(v string) error {
		t, err := parseWhen(v)
		f.Until = t
		return err
	})
	fs.BoolVar(&f.NewestFirst, "newest", false, "newest first")
	asJSON := fs.Bool("json", false, "JSON lines (every field, the hash included) instead of a table")
	fs.Int64Var(&f.Cursor, "cursor", 0, "the id printed after the previous page (next page)")
	fs.IntVar(&f.Limit, "limit", auth.DefaultPageSize, fmt.Sprintf("events per page, at most %d", auth.MaxPageSize))
	var recorded *auth.AuditHead
	fs.Func("head", "verify: the chain must still hold this event, as \"credstore audit head\" printed it earlier (ID:HASH)", func(v string) error {
		h, err := auth.ParseAuditHead(v)
		recorded = &h
		return err
	})
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "credstore audit: unexpected argument %q\n", fs.Arg(0))
		return 2
	}
	if recorded != nil && sub != "verify" {
		fmt.Fprintln(stderr, "credstore audit: -head is a flag of audit verify")
		return 2
	}
	store, err := auth.OpenExisting(ctx, *dsn, auth.Config{})
	if err != nil {
		fmt.Fprintf(stderr, "credstore audit: %v\n", err)
		return 1
	}
	defer store.Close()

	switch sub {
	case "verify":
		return verifyAudit(ctx, store, recorded, stdout, stderr)
	case "head":
		h, err := store.AuditChainHead(ctx)
		if err != nil {
			fmt.Fprintf(stderr, "credstore audit head: %v\n", err)
			return 1
		}
		fmt.Fprintln(stdout, h)
		return 0
	}
	if *user != "" {
		if f.UserID, err = resolveUser(ctx, store, *user); err != nil {
			fmt.Fprintf(stderr, "credstore audit: -user %s: %v\n", *user, err)
			return 1
		}
	}
	events, err := store.AuditEvents(ctx, f)
	if err != nil {
		fmt.Fprintf(stderr, "credstore audit: %v\n", err)
		return 2
	}
	if err := printEvents(stdout, events, *asJSON); err != nil {
		fmt.Fprintf(stderr, "credstore audit: %v\n", err)
		return 1
	}
	if len(events) > 0 && len(events) == max(f.Limit, 1) {
		fmt.Fprintf(stderr, "more events: -cursor %d\n", events[len(events)-1].ID)
	}
	return 0
}

// verifyAudit checks the chain, and that it holds recorded when not nil.
func verifyAudit(ctx context.Context, store *auth.Store, recorded *auth.AuditHead, stdout, stderr io.Writer) int {
	var opts []auth.AuditVerifyOption
	if recorded != nil {
		opts = append(opts, auth.RecordedHead(*recorded))
	}
	r, err := store.VerifyAuditChain(ctx, opts...)
	if err != nil {
		fmt.Fprintf(stderr, "credstore audit verify: %v\n", err)
		return 1
	}
	fmt.Fprintf(stdout, "audit chain intact: %d events checked, ids %d to %d\n", r.Events, r.FirstID, r.LastID)
	if recorded != nil {
		fmt.Fprintf(stdout, "it holds the head recorded earlier, event %d\n", recorded.ID)
	}
	return 0
}

// resolveUser reads a user id, or a public id; a deleted user's public id
// is found in the trail, not in the users table, so ids are taken as given.
func resolveUser(ctx context.Context, store *auth.Store, v string) (int64, error) {
	if id, err := strconv.ParseInt(v, 10, 64); err == nil && id > 0 {
		return id, nil
	}
	u, err := store.UserByPublicID(ctx, v)
	if err != nil {
		return 0, err
	}
	return u.ID, nil
}

// parseWhen reads an RFC 3339 time, or a duration before now.
func parseWhen(v string) (time.Time, error) {
	if d, err := time.ParseDuration(v); err == nil && d >= 0 {
		return time.Now().Add(-d), nil
	}
	t, err := time.Parse(time.RFC3339, v)
	if err != nil {
		return time.Time{}, fmt.Errorf("want an RFC 3339 time (2026-01-02T15:04:05Z) or a duration (24h)")
	}
	return t, nil
}

// printEvents writes events as JSON lines, or as a table for a person to
// read: time, type, the user, who acted, from where, and the detail.
func printEvents(w io.Writer, events []auth.AuditEvent, asJSON bool) error {
	if asJSON {
		enc := json.NewEncoder(w)
		for _, e := range events {
			if err := enc.Encode(e); err != nil {
				return err
			}
		}
		return nil
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tTIME\tTYPE\tUSER\tACTOR\tCLIENT\tDETAIL")
	for _, e := range events {
		user := "-"
		if e.UserID != 0 {
			user = strconv.FormatInt(e.UserID, 10)
		}
		actor := string(e.Actor.Kind)
		switch {
		case e.Actor.Name != "":
			actor += ":" + e.Actor.Name
		case e.Actor.UserID != 0:
			actor += ":" + strconv.FormatInt(e.Actor.UserID, 10)
		}
		client := e.Client.IP
		if client == "" {
			client = "-"
		}
		fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\t%s\t%s\n", e.ID, e.Time.Format(time.RFC3339), e.Type, user, actor, client, e.Detail)
	}
	return tw.Flush()
}
