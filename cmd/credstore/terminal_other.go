//go:build !linux

package main

import "errors"

// echoOff is terminal_linux.go's where the termios requests are not
// defined here: the caller falls back to term.ReadPassword.
func echoOff(int) (func(), error) { return nil, errors.ErrUnsupported }
