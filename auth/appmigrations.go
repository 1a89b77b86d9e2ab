package auth

import (
	"context"
	"errors"
)

// MigrateAppTo moves the application's own migrations (Config.AppMigrations)
// up or down to version target; 0 runs every down file. credstore's own
// tables are left as they are. Down steps destroy data: they are for
// rolling back a release of the application.
func (s *Store) MigrateAppTo(ctx context.Context, target int) error {
	if s.cfg.AppMigrations == nil {
		return errors.New("migrate application: Config.AppMigrations is not set")
	}
	return s.db.MigrateAppTo(ctx, s.cfg.AppMigrations, target)
}
