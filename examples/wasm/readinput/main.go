// Command readinput reads a job's inputs, as a data job does: for each
// argument (a file, or a directory walked in name order) it prints the
// path, size and sha256 of every file. It then checks that /input is
// read-only (a write there must fail), and, in a job run with --each,
// prints its own input's name and content; an own input that starts with
// "fail" makes it exit 3, so tests can see which input a failure was.
// With -count first, it only reads the files and prints their sizes (the
// benchmark's read of an input, without the hashing).
package main

import (
	"crypto/sha256"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

var countOnly bool

func main() {
	args := os.Args[1:]
	if len(args) > 0 && args[0] == "-count" {
		countOnly, args = true, args[1:]
	}
	for _, arg := range args {
		err := filepath.WalkDir(arg, func(p string, d fs.DirEntry, err error) error {
			if err != nil || d.IsDir() {
				return err
			}
			return printFile(p)
		})
		if err != nil {
			fail(err)
		}
	}
	if err := os.WriteFile("/input/written-by-task", []byte("x"), 0o644); err == nil {
		fail(fmt.Errorf("writing under /input succeeded: inputs must be read-only"))
	}
	fmt.Println("/input is read-only")
	if name := os.Getenv("PANDO_INPUT_NAME"); name != "" {
		b, err := os.ReadFile(os.Getenv("PANDO_INPUT"))
		if err != nil {
			fail(err)
		}
		fmt.Printf("each %s: %s\n", name, strings.TrimSpace(string(b)))
		if strings.HasPrefix(string(b), "fail") {
			os.Exit(3)
		}
	}
}

func printFile(p string) error {
	f, err := os.Open(p)
	if err != nil {
		return err
	}
	defer f.Close()
	if countOnly {
		n, err := io.Copy(io.Discard, f)
		fmt.Printf("%s %d\n", p, n)
		return err
	}
	h := sha256.New()
	n, err := io.Copy(h, f)
	if err != nil {
		return err
	}
	fmt.Printf("%s %d sha256:%x\n", p, n, h.Sum(nil))
	return nil
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, "readinput:", err)
	os.Exit(1)
}
