package main

import (
	"net/url"
	"strings"
)

// redactDB drops the parameters and any password from a database DSN or URL
// before it is logged.
func redactDB(dsn string) string {
	name, _, _ := strings.Cut(dsn, "?")
	if u, err := url.Parse(name); err == nil && u.User != nil {
		u.User = url.User(u.User.Username())
		return u.String()
	}
	return name
}
