package database

import (
	"context"
	"fmt"

	"github.com/credstore/credstore/internal/identity"
)

// unusableEmailPrefix starts the email_canonical of a row whose address has
// no canonical form under the current rules, or whose canonical form another
// (older) account holds already. Every real canonical form contains '@' and
// this never does, so such a row collides with nothing and no address logs
// into it; an administrator gives the user a valid address to fix it.
const unusableEmailPrefix = "unusable+"

// backfillEmailCanonical fills users.email_canonical from users.email for
// the rows that existed before the column did (migration 0003). Rows are
// visited oldest first, so of two look-alike addresses the older account
// keeps its address as a login and the newer one, the likely impostor, is
// marked unusable.
func backfillEmailCanonical(ctx context.Context, ex Executor) error {
	rows, err := ex.QueryContext(ctx, "SELECT id, email FROM users ORDER BY id")
	if err != nil {
		return err
	}
	type row struct {
		id    int64
		email string
	}
	var all []row
	for rows.Next() {
		var r row
		if err := rows.Scan(&r.id, &r.email); err != nil {
			rows.Close()
			return err
		}
		all = append(all, r)
	}
	if err := rows.Close(); err != nil {
		return err
	}
	if err := rows.Err(); err != nil {
		return err
	}
	taken := make(map[string]bool, len(all))
	for _, r := range all {
		canonical, err := identity.Email(r.email)
		if err != nil || taken[canonical] {
			canonical = fmt.Sprintf("%s%d", unusableEmailPrefix, r.id)
		}
		taken[canonical] = true
		if _, err := ex.ExecContext(ctx, "UPDATE users SET email_canonical = ?1 WHERE id = ?2", canonical, r.id); err != nil {
			return fmt.Errorf("user %d: %w", r.id, err)
		}
	}
	return nil
}
