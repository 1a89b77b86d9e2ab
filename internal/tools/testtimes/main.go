// Command testtimes reads the output of go test -json and prints the
// slowest tests and packages, to find where a suite spends its time:
//
//	go test -race -count=1 -json ./... | go run ./internal/tools/testtimes -n 15
//
// A test's time is its own elapsed time as go test reports it, which for a
// parallel test includes the time it waited for a turn; -top counts only
// top-level tests (the default), -sub also their subtests.
package main

import (
	"bufio"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"
)

type event struct {
	Action  string
	Package string
	Test    string
	Elapsed float64
}

type timing struct {
	name    string
	elapsed float64
	failed  bool
}

func main() {
	n := flag.Int("n", 15, "how many tests to print")
	sub := flag.Bool("sub", false, "count subtests as well as top-level tests")
	flag.Parse()
	if err := run(os.Stdin, os.Stdout, *n, *sub); err != nil {
		fmt.Fprintln(os.Stderr, "testtimes:", err)
		os.Exit(1)
	}
}

func run(in io.Reader, out io.Writer, n int, sub bool) error {
	var tests, packages []timing
	sc := bufio.NewScanner(in)
	sc.Buffer(make([]byte, 1<<20), 1<<26)
	for sc.Scan() {
		var e event
		if json.Unmarshal(sc.Bytes(), &e) != nil {
			continue // a line go test printed that is not an event (a build error)
		}
		if e.Action != "pass" && e.Action != "fail" {
			continue
		}
		pkg := strings.TrimPrefix(e.Package, "github.com/credstore/credstore")
		if pkg == "" {
			pkg = "."
		}
		t := timing{elapsed: e.Elapsed, failed: e.Action == "fail"}
		switch {
		case e.Test == "":
			t.name = pkg
			packages = append(packages, t)
		case sub || !strings.Contains(e.Test, "/"):
			t.name = pkg + " " + e.Test
			tests = append(tests, t)
		}
	}
	if err := sc.Err(); err != nil {
		return err
	}
	print := func(title string, ts []timing, limit int) {
		sort.Slice(ts, func(i, j int) bool { return ts[i].elapsed > ts[j].elapsed })
		fmt.Fprintln(out, title)
		for i, t := range ts {
			if i == limit {
				break
			}
			mark := ""
			if t.failed {
				mark = "  FAIL"
			}
			fmt.Fprintf(out, "%8.2fs  %s%s\n", t.elapsed, t.name, mark)
		}
	}
	print("packages:", packages, len(packages))
	print(fmt.Sprintf("slowest %d tests:", n), tests, n)
	return nil
}
