package auth

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"hash"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/credstore/credstore/db"
)

// EventType names a kind of audit event. The set is open: later features
// add their own types, each a dotted lower-case name of at most 64 bytes
// ([a-z0-9._]). The types credstore records today are the constants below.
type EventType string

// The audit events. Each is recorded in the transaction of the change it
// describes; the comments say what the event's Detail holds.
const (
	EventUserRegistered EventType = "user.registered" // {"is_admin": bool}
	EventUserUpdated    EventType = "user.updated"    // {"fields": [names of the fields that changed]}
	EventUserDeleted    EventType = "user.deleted"    // {}
	EventAdminGranted   EventType = "admin.granted"   // {}
	EventAdminRevoked   EventType = "admin.revoked"   // {}
	// EventUserDisabled: an administrator disabled the account (DisableUser):
	// {"reason": text given ("" for none), "sessions_ended": n}. The reason
	// is kept here only, not in the users table.
	EventUserDisabled EventType = "user.disabled"
	EventUserEnabled  EventType = "user.enabled" // {}: re-enabled (EnableUser)

	EventLoginSucceeded EventType = "login.succeeded" // {"session_id": n, "device": "known"|"new"|"none"}
	// EventLoginFailed: {"reason": "wrong_password"|"unknown_account"|"invalid_input"|"account_throttled"|"disabled", "device": bool}.
	// account_throttled: the account's bucket was waiting, so the password
	// was not evaluated (see the throttle in README.md). disabled: the
	// password (or the second factor) was right, but the account is
	// disabled (DisableUser).
	// For an identifier that names no account the event has no user, and
	// the identifier is not recorded (people type passwords into it).
	EventLoginFailed    EventType = "login.failed"
	EventLoginThrottled EventType = "login.throttled" // once per wait: {"retry_at": time, "failures": n, "device": bool}

	// By CreateSession, and by ChangePasswordSession and ChangePasswordTokens
	// ({"session_id": n, "tokens": true} for the latter), after the
	// password.changed of the same transaction.
	EventSessionCreated  EventType = "session.created"    // {"session_id": n}
	EventLoggedOut       EventType = "session.logged_out" // {"session_id": n}
	EventSessionsRevoked EventType = "session.revoked"    // {"session_id": n} or {"sessions": n}

	EventPasswordChanged         EventType = "password.changed"          // {"sessions_ended": n}
	EventPasswordChangeFailed    EventType = "password.change_failed"    // {"reason": ...}: a wrong current password
	EventPasswordChangeThrottled EventType = "password.change_throttled" // once per wait
	EventPasswordSet             EventType = "password.set"              // by an administrator: {"sessions_ended": n}
	EventResetRequested          EventType = "password.reset_requested"  // {} ({"unknown_account": true} without a user: at most one a minute, with "not_recorded_before": n)
	EventResetThrottled          EventType = "password.reset_throttled"  // once per wait
	EventPasswordReset           EventType = "password.reset"            // {"sessions_ended": n}

	EventTOTPEnrollmentStarted    EventType = "totp.enrollment_started"      // {}
	EventTOTPEnrolled             EventType = "totp.enrolled"                // {"sessions_ended": n}
	EventTOTPRemoved              EventType = "totp.removed"                 // {"sessions_ended": n, "by_admin": true?}
	EventRecoveryCodesRegenerated EventType = "recovery_codes.regenerated"   // {"sessions_ended": n}
	EventRecoveryCodeUsed         EventType = "recovery_code.used"           // {"sessions_ended": n, "left": n}
	EventSecondFactorRequired     EventType = "login.second_factor_required" // the password was right: {"challenge_id": n}
	EventSecretsReencrypted       EventType = "totp.secrets_reencrypted"     // {"factors": n, "enrollments": n, "signing_keys": n, "key_id": id}

	// EventRefreshTokenReused: a refresh token already exchanged was
	// presented again, so its family (its session) was ended: {"session_id": n}.
	EventRefreshTokenReused EventType = "token.reuse_detected"
	// EventSigningKeyCreated: a new key signs access tokens: {"kid": id,
	// "retired_kid": id of the key it replaced, absent for the first}.
	EventSigningKeyCreated EventType = "token.signing_key_created"

	EventAuditPurged EventType = "audit.purged" // {"through_id": n, "events": n}: the retention purge
)

// validEventType is the shape of an EventType; the schema checks the same.
var validEventType = regexp.MustCompile(`^[a-z0-9._]{1,64}$`)

// userRef is the user an event is about.
type userRef struct {
	id       int64
	publicID string
}

func refOf(u db.User) *userRef { return &userRef{id: u.ID, publicID: u.PublicID} }

// pendingEvent is an event recorded in a transaction, written when it
// commits.
type pendingEvent struct {
	typ     EventType
	subject *userRef
	// actor is who did it when the context names nobody (WithActor).
	actor  Actor
	detail map[string]any
}

// record adds an event done by the subject themself (or by the context's
// actor, when it names one).
func (tx *txn) record(typ EventType, subject *userRef, detail map[string]any) {
	a := Actor{Kind: ActorAnonymous}
	if subject != nil {
		a = Actor{Kind: ActorUser, UserID: subject.id}
	}
	tx.recordBy(typ, subject, a, detail)
}

// recordBy adds an event done by actor (or by the context's actor, when it
// names one).
func (tx *txn) recordBy(typ EventType, subject *userRef, actor Actor, detail map[string]any) {
	tx.events = append(tx.events, pendingEvent{typ: typ, subject: subject, actor: actor, detail: detail})
}

// appendEvents writes the transaction's events at the end of the chain.
func (tx *txn) appendEvents() error {
	if len(tx.events) == 0 {
		return nil
	}
	client := clientFrom(tx.ctx)
	actor, named := actorFrom(tx.ctx)
	for _, e := range tx.events {
		detail := []byte("{}")
		if len(e.detail) > 0 {
			var err error
			if detail, err = json.Marshal(e.detail); err != nil {
				return fmt.Errorf("audit: %w", err)
			}
		}
		a := e.actor
		if named {
			a = actor
		}
		if err := a.check(); err != nil {
			return err
		}
		head, err := tx.q.AdvanceAuditChain(tx.ctx)
		if err != nil {
			return fmt.Errorf("audit: %w", err)
		}
		row := db.InsertAuditEventParams{
			ID:          head.LastID,
			OccurredAt:  tx.now,
			Type:        string(e.typ),
			ActorKind:   string(a.Kind),
			ActorName:   a.Name,
			ClientIp:    client.IP,
			UserAgent:   client.UserAgent,
			Detail:      string(detail),
			PrevHash:    head.LastHash,
			ActorUserID: sql.NullInt64{Int64: a.UserID, Valid: a.UserID != 0},
		}
		if a.UserID != 0 {
			if row.ActorPublicID, err = tx.publicIDOf(a.UserID, e.subject); err != nil {
				return fmt.Errorf("audit: %w", err)
			}
		}
		if e.subject != nil {
			row.UserID = sql.NullInt64{Int64: e.subject.id, Valid: true}
			row.UserPublicID = e.subject.publicID
		}
		row.Hash = eventHash(eventFields(row.ID, row.OccurredAt, row.Type, row.UserID, row.UserPublicID,
			row.ActorKind, row.ActorUserID, row.ActorPublicID, row.ActorName, row.ClientIp, row.UserAgent, row.Detail, row.PrevHash))
		if err := tx.q.InsertAuditEvent(tx.ctx, row); err != nil {
			return fmt.Errorf("audit: %w", err)
		}
		if err := tx.q.SetAuditChainHash(tx.ctx, row.Hash); err != nil {
			return fmt.Errorf("audit: %w", err)
		}
	}
	return nil
}

// publicIDOf is the public id of the user id who acts in an event about
// subject: the subject's own, the actor's that assertActor read, or one
// read now (and kept for the transaction's other events); "" for a user
// who is gone.
func (tx *txn) publicIDOf(id int64, subject *userRef) (string, error) {
	switch {
	case subject != nil && subject.id == id:
		return subject.publicID, nil
	case tx.actor != nil && tx.actor.id == id:
		return tx.actor.publicID, nil
	}
	u, err := tx.q.GetUserByID(tx.ctx, id)
	if errors.Is(err, sql.ErrNoRows) {
		return "", nil
	} else if err != nil {
		return "", err
	}
	tx.actor = refOf(u)
	return u.PublicID, nil
}

// ErrInvalidActor means the context named an actor (WithActor) that is not
// one: an unknown kind, or a user or administrator without a user id. The
// operation is refused, since its audit event could not say who did it.
var ErrInvalidActor = errors.New("invalid audit actor")

func (a Actor) check() error {
	switch a.Kind {
	case ActorAnonymous, ActorSystem, ActorOS:
		return nil
	case ActorUser, ActorAdmin:
		if a.UserID > 0 {
			return nil
		}
		return fmt.Errorf("%w: %s without a user id", ErrInvalidActor, a.Kind)
	}
	return fmt.Errorf("%w: kind %q is none of anonymous, user, admin, system, os", ErrInvalidActor, a.Kind)
}

// eventFields lists what an event's hash covers, in order: everything but
// the hash itself, the previous event's hash included. The actor's public
// id is listed only when there is one: events written before migration
// 0008 have none, and their hashes, which did not cover it, still verify.
// A list with it and one without never encode alike (eventHash), so
// neither adding one to an old event nor removing one from a new event
// goes unnoticed.
func eventFields(id int64, at time.Time, typ string, userID sql.NullInt64, publicID, actorKind string,
	actorUserID sql.NullInt64, actorPublicID, actorName, ip, ua, detail, prevHash string) []string {
	optional := func(n sql.NullInt64) string {
		if !n.Valid {
			return ""
		}
		return strconv.FormatInt(n.Int64, 10)
	}
	fields := []string{
		"credstore audit v1", strconv.FormatInt(id, 10), at.UTC().Format(time.RFC3339Nano), typ,
		optional(userID), publicID, actorKind, optional(actorUserID),
	}
	if actorPublicID != "" {
		fields = append(fields, actorPublicID)
	}
	return append(fields, actorName, ip, ua, detail, prevHash)
}

// eventHash is the hex SHA-256 of fields, each written with its length so
// that no two lists of fields write the same bytes.
func eventHash(fields []string) string {
	h := sha256.New()
	for _, f := range fields {
		writeField(h, f)
	}
	return hex.EncodeToString(h.Sum(nil))
}

func writeField(h hash.Hash, f string) {
	h.Write([]byte(strconv.Itoa(len(f))))
	h.Write([]byte{':'})
	h.Write([]byte(f))
	h.Write([]byte{'\n'})
}

// AuditEvent is one entry of the audit trail.
type AuditEvent struct {
	ID   int64     `json:"id"` // gapless and increasing: the order events committed in
	Time time.Time `json:"time"`
	Type EventType `json:"type"`
	// UserID and UserPublicID name the user the event is about (0 and ""
	// when there is none, as for a failed login that named no account). The
	// user may have been deleted since.
	UserID       int64  `json:"user_id,omitempty"`
	UserPublicID string `json:"user_public_id,omitempty"`
	Actor        Actor  `json:"actor"`
	Client       Client `json:"client"`
	// Detail is a small JSON object; what it holds depends on Type.
	Detail json.RawMessage `json:"detail"`
	// Hash chains the event to the one before it (see VerifyAuditChain).
	Hash string `json:"hash"`
}

func eventFromDB(r db.AuditEvent) AuditEvent {
	return AuditEvent{
		ID:           r.ID,
		Time:         r.OccurredAt.UTC(),
		Type:         EventType(r.Type),
		UserID:       r.UserID.Int64,
		UserPublicID: r.UserPublicID,
		Actor:        Actor{Kind: ActorKind(r.ActorKind), UserID: r.ActorUserID.Int64, PublicID: r.ActorPublicID, Name: r.ActorName},
		Client:       Client{IP: r.ClientIp, UserAgent: r.UserAgent},
		Detail:       json.RawMessage(r.Detail),
		Hash:         r.Hash,
	}
}

// AuditFilter selects a page of audit events. The zero value is the first
// page of every event, oldest first.
type AuditFilter struct {
	// UserID keeps the events about this user (0: every user).
	UserID int64
	// Types keeps the events of these types (none: every type).
	Types []EventType
	// Since and Until keep the events with Since <= Time < Until (zero:
	// unbounded), compared to the microsecond, as event times are stored.
	Since, Until time.Time
	// NewestFirst reverses the order.
	NewestFirst bool
	// Cursor is the ID of the last event of the previous page (0: the first
	// page). Keyset pagination: a page is consistent however many events
	// are added meanwhile, and every page costs the same.
	Cursor int64
	// Limit is the page size: DefaultPageSize when 0, at most MaxPageSize.
	Limit int
}

// The bounds of an unbounded time range; both engines store them.
var (
	timeMin = time.Date(1, 1, 1, 0, 0, 0, 0, time.UTC)
	timeMax = time.Date(9999, 12, 31, 0, 0, 0, 0, time.UTC)
)

// AuditEvents returns a page of audit events matching f. A page shorter
// than the limit is the last one; pass the last event's ID as the next
// page's Cursor.
//
// Errors: *ValidationError for a limit out of range or a malformed type.
func (s *Store) AuditEvents(ctx context.Context, f AuditFilter) ([]AuditEvent, error) {
	probs := problems{}
	limit := f.Limit
	switch {
	case limit == 0:
		limit = DefaultPageSize
	case limit < 0 || limit > MaxPageSize:
		probs.add("limit", fmt.Sprintf("must be between 1 and %d", MaxPageSize))
	}
	var types strings.Builder
	for _, t := range f.Types {
		if !validEventType.MatchString(string(t)) {
			probs.add("types", "must be names of [a-z0-9._], at most 64 characters")
			break
		}
		if types.Len() == 0 {
			types.WriteByte(',')
		}
		types.WriteString(string(t))
		types.WriteByte(',')
	}
	if err := probs.err(); err != nil {
		return nil, wrap("audit events", err)
	}
	// Bounds are taken to the microsecond, the precision event times are
	// stored at, so that both engines compare alike and a time read from the
	// store's clock selects the events recorded at that reading.
	since, until := timeMin, timeMax
	if !f.Since.IsZero() {
		since = f.Since.UTC().Truncate(time.Microsecond)
	}
	if !f.Until.IsZero() {
		until = f.Until.UTC().Truncate(time.Microsecond)
	}
	var (
		rows []db.AuditEvent
		err  error
	)
	if f.NewestFirst {
		before := f.Cursor
		if before <= 0 {
			before = 1<<63 - 1
		}
		rows, err = read(ctx, s.q.ListAuditEventsDesc, db.ListAuditEventsDescParams{
			BeforeID: before, UserID: f.UserID, Types: types.String(), Since: since, Until: until, MaxRows: int64(limit),
		})
	} else {
		rows, err = read(ctx, s.q.ListAuditEvents, db.ListAuditEventsParams{
			AfterID: f.Cursor, UserID: f.UserID, Types: types.String(), Since: since, Until: until, MaxRows: int64(limit),
		})
	}
	if err != nil {
		return nil, wrap("audit events", err)
	}
	out := make([]AuditEvent, len(rows))
	for i, r := range rows {
		out[i] = eventFromDB(r)
	}
	return out, nil
}

// ErrAuditChainBroken is matched by every *AuditChainError.
var ErrAuditChainBroken = errors.New("audit chain broken")

// AuditChainError reports the first event at which the audit trail's hash
// chain breaks: the event, or one before it, was modified, removed or
// inserted by something other than the store.
type AuditChainError struct {
	EventID int64  // the first event that does not verify
	Reason  string // what is wrong with it
}

func (e *AuditChainError) Error() string {
	return fmt.Sprintf("audit chain broken at event %d: %s", e.EventID, e.Reason)
}

// Is makes errors.Is(err, ErrAuditChainBroken) true.
func (e *AuditChainError) Is(target error) bool { return target == ErrAuditChainBroken }

// AuditChainReport is what VerifyAuditChain checked.
type AuditChainReport struct {
	Events  int64 // how many events it checked
	FirstID int64 // the oldest event kept (0 when there is none)
	LastID  int64 // the newest event when it started
}

// AuditHead names an event of the audit chain by its id and hash: the
// chain's head when AuditChainHead read it. Its text form (String,
// ParseAuditHead) is "ID:HASH", the hash in lower-case hex.
type AuditHead struct {
	ID   int64  // the event's id; 0 for a chain with no event yet
	Hash string // its hash (64 hex digits); zeros for ID 0
}

// String is "ID:HASH", what ParseAuditHead reads.
func (h AuditHead) String() string { return strconv.FormatInt(h.ID, 10) + ":" + h.Hash }

// auditHash is the form of an event's hash.
var auditHash = regexp.MustCompile(`^[0-9a-f]{64}$`)

// ParseAuditHead reads an AuditHead from its text form, "ID:HASH".
func ParseAuditHead(s string) (AuditHead, error) {
	id, hash, ok := strings.Cut(strings.TrimSpace(s), ":")
	n, err := strconv.ParseInt(id, 10, 64)
	if !ok || err != nil || n < 0 || !auditHash.MatchString(hash) {
		return AuditHead{}, fmt.Errorf("audit head %q: want ID:HASH, a non-negative event id and its 64 lower-case hex digits", s)
	}
	return AuditHead{ID: n, Hash: hash}, nil
}

// AuditChainHead returns the chain's head: the newest event's id and hash.
//
// Anyone who can delete events can delete the newest and set the head back
// (the runtime role may delete, for the retention purge), and the chain
// left behind verifies. Record the head outside the database, from time to
// time (credstore serve logs it; credstore audit head prints it), and hand
// the last one recorded to VerifyAuditChain (RecordedHead): the chain must
// still hold that event with that hash.
func (s *Store) AuditChainHead(ctx context.Context) (AuditHead, error) {
	head, err := read0(ctx, s.q.GetAuditChain)
	if err != nil {
		return AuditHead{}, wrap("audit chain head", err)
	}
	return AuditHead{ID: head.LastID, Hash: head.LastHash}, nil
}

// AuditVerifyOption adds a check to VerifyAuditChain.
type AuditVerifyOption func(*auditVerify)

type auditVerify struct {
	recorded *AuditHead
}

// RecordedHead makes VerifyAuditChain check that the chain still holds the
// event h names, with h's hash: a head recorded earlier, outside the
// database (AuditChainHead). The chain fails when it ends before h.ID
// (newest events removed and the head set back), when the event's hash is
// not h.Hash (rewritten, hashes recomputed), and when h.ID lies before the
// oldest event kept, since it can no longer be checked: record heads more
// often than Config.AuditRetention purges.
func RecordedHead(h AuditHead) AuditVerifyOption {
	return func(v *auditVerify) { v.recorded = &h }
}

// VerifyAuditChain checks the whole audit trail: every event's hash covers
// its fields and the hash of the event before it, ids are gapless from the
// last event the retention purge deleted to the newest, and the newest is
// the one the chain's head names; with RecordedHead, also that the chain
// still holds a head recorded earlier. It returns *AuditChainError
// (ErrAuditChainBroken) for the first event that fails.
//
// The chain shows tampering by anyone who edits rows without recomputing
// every hash after them. Someone with write access to the database who
// recomputes them, or who deletes the newest events and sets the head back,
// is detected only against a head recorded elsewhere (RecordedHead). Events
// appended while it runs are checked next time.
func (s *Store) VerifyAuditChain(ctx context.Context, opts ...AuditVerifyOption) (AuditChainReport, error) {
	var v auditVerify
	for _, o := range opts {
		o(&v)
	}
	head, err := read0(ctx, s.q.GetAuditChain)
	if err != nil {
		return AuditChainReport{}, wrap("verify audit chain", err)
	}
	r := AuditChainReport{LastID: head.LastID}
	prevID, prevHash := head.AnchorID, head.AnchorHash
	if v.recorded != nil {
		// Checked first, against the head and the anchor as they are now:
		// the walk below moves past a purge, which would hide a recorded
		// event that lies before the anchor.
		if err := s.checkRecordedHead(ctx, *v.recorded, head); err != nil {
			return r, err
		}
	}
	const page = 1000
	for prevID < head.LastID {
		rows, err := read(ctx, s.q.ListAuditEvents, db.ListAuditEventsParams{
			AfterID: prevID, Since: timeMin, Until: timeMax, MaxRows: page,
		})
		if err != nil {
			return r, wrap("verify audit chain", err)
		}
		if len(rows) == 0 {
			return r, &AuditChainError{EventID: prevID + 1, Reason: "missing"}
		}
		for _, e := range rows {
			if e.ID > head.LastID {
				break
			}
			if e.ID != prevID+1 {
				// A purge may have deleted events since they were read up to
				// here, moving the anchor past them.
				if now, err := read0(ctx, s.q.GetAuditChain); err == nil && now.AnchorID == e.ID-1 && now.AnchorID > prevID {
					prevID, prevHash = now.AnchorID, now.AnchorHash
				}
			}
			if err := verifyEvent(e, prevID, prevHash); err != nil {
				return r, err
			}
			if r.Events == 0 {
				r.FirstID = e.ID
			}
			r.Events++
			prevID, prevHash = e.ID, e.Hash
		}
	}
	if head.LastID > 0 && subtle.ConstantTimeCompare([]byte(prevHash), []byte(head.LastHash)) != 1 {
		return r, &AuditChainError{EventID: head.LastID, Reason: "is not the event the chain's head names"}
	}
	return r, s.checkNoStrayEvents(ctx, head.AnchorID, prevID)
}

// checkRecordedHead returns *AuditChainError unless the chain, whose head
// and anchor are head, still holds the event recorded names with its hash.
// The walk of VerifyAuditChain then checks that the event is chained to
// the rest.
func (s *Store) checkRecordedHead(ctx context.Context, recorded AuditHead, head db.AuditChain) error {
	var hash string
	switch {
	case recorded.ID > head.LastID:
		return &AuditChainError{EventID: recorded.ID, Reason: fmt.Sprintf(
			"is missing: the chain ends at event %d, before the head recorded earlier (its newest events were removed)", head.LastID)}
	case recorded.ID < head.AnchorID:
		return &AuditChainError{EventID: recorded.ID, Reason: fmt.Sprintf(
			"cannot be checked: it lies before the oldest event kept (%d); record heads more often than the retention purges", head.AnchorID+1)}
	case recorded.ID == head.AnchorID:
		// The last event purged (or, with none purged, the zero hash of
		// event 0).
		hash = head.AnchorHash
	default:
		h, err := read(ctx, s.q.AuditEventHash, recorded.ID)
		if errors.Is(err, ErrNotFound) {
			return &AuditChainError{EventID: recorded.ID, Reason: "is missing"}
		} else if err != nil {
			return wrap("verify audit chain", err)
		}
		hash = h
	}
	if subtle.ConstantTimeCompare([]byte(hash), []byte(recorded.Hash)) != 1 {
		return &AuditChainError{EventID: recorded.ID, Reason: "does not have the hash recorded earlier (the chain was rewritten)"}
	}
	return nil
}

// verifyEvent checks e, the event read after the one with prevID and
// prevHash: its id follows on, it chains to that event's hash, and its own
// hash covers its fields. The hashes are compared in constant time.
func verifyEvent(e db.AuditEvent, prevID int64, prevHash string) error {
	if e.ID != prevID+1 {
		return &AuditChainError{EventID: prevID + 1, Reason: "missing"}
	}
	if subtle.ConstantTimeCompare([]byte(e.PrevHash), []byte(prevHash)) != 1 {
		return &AuditChainError{EventID: e.ID, Reason: "does not chain to the event before it"}
	}
	want := eventHash(eventFields(e.ID, e.OccurredAt, e.Type, e.UserID, e.UserPublicID, e.ActorKind,
		e.ActorUserID, e.ActorPublicID, e.ActorName, e.ClientIp, e.UserAgent, e.Detail, e.PrevHash))
	if subtle.ConstantTimeCompare([]byte(e.Hash), []byte(want)) != 1 {
		return &AuditChainError{EventID: e.ID, Reason: "its fields do not match its hash"}
	}
	return nil
}

// checkNoStrayEvents returns *AuditChainError for a row that lies outside
// the chain VerifyAuditChain walked from anchorID to lastID. No row may lie
// at or below the anchor (the purge deletes those and moves the anchor in
// one transaction) or above the head (an event and the head's advance
// commit together). The rows are read before the head is read again, so an
// event committed meanwhile is under the head read after it.
func (s *Store) checkNoStrayEvents(ctx context.Context, anchorID, lastID int64) error {
	bounds, err := read0(ctx, s.q.AuditEventIDBounds)
	if err != nil {
		return wrap("verify audit chain", err)
	}
	if bounds.Events > 0 && bounds.MinID <= anchorID {
		return &AuditChainError{EventID: bounds.MinID, Reason: "lies before the first event the chain covers"}
	}
	now, err := read0(ctx, s.q.GetAuditChain)
	if err != nil {
		return wrap("verify audit chain", err)
	}
	lastID = max(lastID, now.LastID)
	above, err := read(ctx, s.q.ListAuditEvents, db.ListAuditEventsParams{AfterID: lastID, Since: timeMin, Until: timeMax, MaxRows: 1})
	if err != nil {
		return wrap("verify audit chain", err)
	}
	if len(above) > 0 {
		return &AuditChainError{EventID: above[0].ID, Reason: "lies after the last event the chain's head names"}
	}
	return nil
}

// auditPurgeBatch bounds the events one purge transaction deletes, so that
// the chain's row (which every audited transaction takes) is held briefly.
const auditPurgeBatch = 5000

// purgeAudit deletes the events older than the retention, oldest first, in
// batches, moving the chain's anchor to the last one deleted, and records
// the purge as an event of its own.
func (s *Store) purgeAudit(ctx context.Context) (int64, error) {
	if s.cfg.AuditRetention < 0 {
		return 0, nil
	}
	var total int64
	for {
		var n, through int64
		err := s.inTx(ctx, "purge audit events", func(tx *txn) error {
			n, through = 0, 0
			if _, err := tx.q.LockAuditChain(tx.ctx); err != nil {
				return err
			}
			cut, err := tx.q.LastAuditEventBefore(tx.ctx, tx.now.Add(-s.cfg.AuditRetention))
			if errors.Is(err, sql.ErrNoRows) {
				return nil
			} else if err != nil {
				return err
			}
			head, err := tx.q.GetAuditChain(tx.ctx)
			if err != nil {
				return err
			}
			if cut.ID <= head.AnchorID {
				return nil
			}
			through = min(cut.ID, head.AnchorID+auditPurgeBatch)
			hash, err := tx.q.AuditEventHash(tx.ctx, through)
			if err != nil {
				return err
			}
			if n, err = tx.q.DeleteAuditEventsThrough(tx.ctx, db.DeleteAuditEventsThroughParams{
				ThroughID: through, AfterID: head.AnchorID,
			}); err != nil {
				return err
			}
			if err := tx.q.SetAuditChainAnchor(tx.ctx, db.SetAuditChainAnchorParams{AnchorID: through, AnchorHash: hash}); err != nil {
				return err
			}
			tx.recordBy(EventAuditPurged, nil, Actor{Kind: ActorSystem}, map[string]any{"through_id": through, "events": n})
			return nil
		})
		if err != nil {
			return total, err
		}
		total += n
		if through == 0 || n < auditPurgeBatch {
			return total, nil
		}
	}
}
