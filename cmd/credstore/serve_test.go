package main

import (
	"io"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestParseServe(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name    string
		args    []string
		env     map[string]string
		want    serveConfig
		wantErr bool
	}{
		{
			name: "defaults: a fresh clone serves credstore.db on 127.0.0.1:5000",
			want: serveConfig{Addr: "127.0.0.1:5000", DB: "credstore.db", BcryptCost: 12},
		},
		{
			name: "environment twins",
			env: map[string]string{
				"CREDSTORE_ADDR": "127.0.0.1:8080", "CREDSTORE_DB": "/var/lib/credstore.db",
				"CREDSTORE_BCRYPT_COST": "13", "CREDSTORE_SECURE_COOKIES": "true", "CREDSTORE_EXPOSE_RESET_TOKEN": "1",
			},
			want: serveConfig{Addr: "127.0.0.1:8080", DB: "/var/lib/credstore.db", BcryptCost: 13, SecureCookies: true, ExposeResetToken: true},
		},
		{
			name: "flags win over the environment",
			args: []string{"-addr", ":9000", "-db", "x.db", "-bcrypt-cost", "14", "-secure-cookies=false", "-expose-reset-token"},
			env:  map[string]string{"CREDSTORE_ADDR": "127.0.0.1:8080", "CREDSTORE_SECURE_COOKIES": "true"},
			want: serveConfig{Addr: ":9000", DB: "x.db", BcryptCost: 14, ExposeResetToken: true},
		},
		{
			name: "SMTP password from the environment only",
			args: []string{"-smtp-addr", "mail.example.com:587", "-smtp-from", "noreply@example.com", "-smtp-user", "u"},
			env:  map[string]string{"CREDSTORE_SMTP_PASSWORD": "s3cret"},
			want: serveConfig{Addr: "127.0.0.1:5000", DB: "credstore.db", BcryptCost: 12,
				SMTPAddr: "mail.example.com:587", SMTPFrom: "noreply@example.com", SMTPUser: "u", SMTPPassword: "s3cret"},
		},
		{
			name: "trusted origins from the environment",
			env:  map[string]string{"CREDSTORE_TRUSTED_ORIGINS": "https://app.example.com, https://admin.example.com:8443,"},
			want: serveConfig{Addr: "127.0.0.1:5000", DB: "credstore.db", BcryptCost: 12,
				TrustedOrigins: []string{"https://app.example.com", "https://admin.example.com:8443"}},
		},
		{
			name: "trusted origins: the flag wins",
			args: []string{"-trusted-origins", "https://app.example.com"},
			env:  map[string]string{"CREDSTORE_TRUSTED_ORIGINS": "https://old.example.com"},
			want: serveConfig{Addr: "127.0.0.1:5000", DB: "credstore.db", BcryptCost: 12, TrustedOrigins: []string{"https://app.example.com"}},
		},
		{name: "trusted origin with a path", args: []string{"-trusted-origins", "https://app.example.com/login"}, wantErr: true},
		{name: "trusted origin without a scheme", env: map[string]string{"CREDSTORE_TRUSTED_ORIGINS": "app.example.com"}, wantErr: true},
		{name: "bad boolean in the environment", env: map[string]string{"CREDSTORE_SECURE_COOKIES": "maybe"}, wantErr: true},
		{name: "bad integer in the environment", env: map[string]string{"CREDSTORE_BCRYPT_COST": "twelve"}, wantErr: true},
		{name: "unknown flag", args: []string{"-port", "5000"}, wantErr: true},
		{name: "stray argument", args: []string{"now"}, wantErr: true},
		{name: "SMTP without a sender address", args: []string{"-smtp-addr", "mail.example.com:587"}, wantErr: true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			got, err := parseServe(tc.args, func(k string) string { return tc.env[k] }, io.Discard)
			if tc.wantErr {
				assert.Error(t, err)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tc.want, got)
		})
	}
}

func TestRunUsage(t *testing.T) {
	t.Parallel()
	assert.Equal(t, 2, run(t.Context(), nil, func(string) string { return "" }, io.Discard, io.Discard))
	assert.Equal(t, 2, run(t.Context(), []string{"frobnicate"}, func(string) string { return "" }, io.Discard, io.Discard))
	assert.Equal(t, 0, run(t.Context(), []string{"serve", "-h"}, func(string) string { return "" }, io.Discard, io.Discard))
}
