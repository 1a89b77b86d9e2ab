package main

import "golang.org/x/sys/unix"

// echoOff turns the echo of the terminal fd off, as term.ReadPassword does
// (lines still edited by the terminal, Ctrl-C and Ctrl-\ still signals), and
// returns what turns it back on. Unlike term.ReadPassword it does so
// before the read begins, from the caller's goroutine, so that a prompt
// interrupted at any moment leaves the terminal as it found it.
func echoOff(fd int) (restore func(), err error) {
	old, err := unix.IoctlGetTermios(fd, unix.TCGETS)
	if err != nil {
		return nil, err
	}
	hidden := *old
	hidden.Lflag &^= unix.ECHO
	hidden.Lflag |= unix.ICANON | unix.ISIG
	hidden.Iflag |= unix.ICRNL
	if err := unix.IoctlSetTermios(fd, unix.TCSETS, &hidden); err != nil {
		return nil, err
	}
	return func() { _ = unix.IoctlSetTermios(fd, unix.TCSETS, old) }, nil
}
