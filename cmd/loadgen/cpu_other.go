//go:build !linux

package main

import (
	"errors"
	"time"
)

func processCPU(int) (time.Duration, error) {
	return 0, errors.New("a process's CPU time is only read on Linux")
}

func selfCPU() time.Duration { return 0 }
