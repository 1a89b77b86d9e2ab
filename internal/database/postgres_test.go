package database

import (
	"testing"

	"github.com/stretchr/testify/assert"
)

func TestAddServerDefaults(t *testing.T) {
	t.Parallel()
	defaults := map[string]string{
		"lock_timeout": "10000", "statement_timeout": "30000", "idle_in_transaction_session_timeout": "60000",
	}
	with := func(over map[string]string) map[string]string {
		m := map[string]string{}
		for k, v := range defaults {
			m[k] = v
		}
		for k, v := range over {
			m[k] = v
		}
		return m
	}
	tests := []struct {
		name     string
		in, want map[string]string
	}{
		{"none set", map[string]string{}, defaults},
		{"others kept", map[string]string{"application_name": "app"}, with(map[string]string{"application_name": "app"})},
		{"URL sets one", map[string]string{"lock_timeout": "200ms"}, with(map[string]string{"lock_timeout": "200ms"})},
		{"URL turns one off", map[string]string{"statement_timeout": "0"}, with(map[string]string{"statement_timeout": "0"})},
		{"another case", map[string]string{"Lock_Timeout": "1s"}, func() map[string]string {
			m := with(map[string]string{"Lock_Timeout": "1s"})
			delete(m, "lock_timeout")
			return m
		}()},
		{"options -c", map[string]string{"options": "-c lock_timeout=1s -c statement-timeout=2s"}, func() map[string]string {
			return map[string]string{"options": "-c lock_timeout=1s -c statement-timeout=2s", "idle_in_transaction_session_timeout": "60000"}
		}()},
		{"options --", map[string]string{"options": "--idle_in_transaction_session_timeout=5s"}, func() map[string]string {
			return map[string]string{"options": "--idle_in_transaction_session_timeout=5s", "lock_timeout": "10000", "statement_timeout": "30000"}
		}()},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			addServerDefaults(tt.in)
			assert.Equal(t, tt.want, tt.in)
		})
	}
}
