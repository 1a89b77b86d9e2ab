package main

import (
	"os"

	"golang.org/x/term"
)

// isTerminal reports whether f, an input or output stream, is a terminal:
// an *os.File open on one, or a test's stand-in that says it is one.
func isTerminal(f any) bool {
	switch f := f.(type) {
	case interface{ IsTerminal() bool }:
		return f.IsTerminal()
	case *os.File:
		return term.IsTerminal(int(f.Fd()))
	}
	return false
}
