package auth

import (
	"context"

	"github.com/credstore/credstore/db"
)

// exportPageSize is how many users ExportUsers reads per query.
const exportPageSize = 500

// ExportedUser is a user as ExportUsers hands it out: the user and, only
// when the export asked for hashes, their bcrypt password hash.
type ExportedUser struct {
	User
	// PasswordHash is the user's bcrypt hash; "" unless ExportUsers was
	// called withHashes (and for a user without a credential). It is a
	// secret: whoever holds it can try passwords against it offline.
	PasswordHash string `json:"password_hash,omitempty"`
}

// ExportUsers calls fn with every user, in id order, reading them in pages
// by id so that a large table is never held in memory nor read in one long
// transaction: a user registered during the export is included or not
// depending on where the export is; none is listed twice. With withHashes
// each user's password hash comes too (see ImportUsers, which takes it
// back).
//
// Errors: fn's error, returned as it is and ending the export; the
// database's.
func (s *Store) ExportUsers(ctx context.Context, withHashes bool, fn func(ExportedUser) error) error {
	var after int64
	for {
		var page []ExportedUser
		if withHashes {
			rows, err := read(ctx, s.q.ListUsersWithHashes, db.ListUsersWithHashesParams{AfterID: after, MaxRows: exportPageSize})
			if err != nil {
				return wrap("export users", err)
			}
			for _, r := range rows {
				page = append(page, ExportedUser{User: userFromDB(r.User), PasswordHash: r.PasswordHash.String})
			}
		} else {
			rows, err := read(ctx, s.q.ListUsers, db.ListUsersParams{AfterID: after, MaxRows: exportPageSize})
			if err != nil {
				return wrap("export users", err)
			}
			for _, r := range rows {
				page = append(page, ExportedUser{User: userFromDB(r)})
			}
		}
		for _, u := range page {
			if err := fn(u); err != nil {
				return err
			}
		}
		if len(page) < exportPageSize {
			return nil
		}
		after = page[len(page)-1].ID
	}
}
