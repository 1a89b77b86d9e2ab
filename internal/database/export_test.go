package database

// Exported for the black-box tests.
const MigrationLockKey = migrationLockKey

var (
	WithoutOptions  = withoutOptions
	TimeoutSettings = timeoutSettings
)
