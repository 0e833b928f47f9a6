package trace

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestRewriteRecordsEachCommandsOutput(t *testing.T) {
	path := filepath.Join(t.TempDir(), "x.txt")
	in := "# comment\n\nsay hello n=2\ninput line\n----\nstale output\nmore stale\n\nsay nothing\n----\n"
	if err := os.WriteFile(path, []byte(in), 0o644); err != nil {
		t.Fatal(err)
	}
	run := func(c *Command) string {
		if c.Name == "say" && len(c.Args) > 0 {
			return strings.Repeat(c.Args[0]+" ", len(c.Flags["n"])) + strings.Join(c.Input, ",")
		}
		return ""
	}
	*rewrite = true
	defer func() { *rewrite = false }()
	runFile(t, path, run)
	got, _ := os.ReadFile(path)
	want := "# comment\n\nsay hello n=2\ninput line\n----\nhello input line\n\nsay nothing\n----\n"
	if string(got) != want {
		t.Fatalf("rewritten file:\n%q\nwant:\n%q", got, want)
	}
	// The rewritten file passes as it is.
	*rewrite = false
	runFile(t, path, run)
}

func TestParseRefusesACommandWithoutItsSeparator(t *testing.T) {
	if _, err := parse("x.txt", strings.Split("cmd\n\nother\n----\n", "\n")); err == nil {
		t.Fatal("a command without ---- was accepted")
	}
	if _, err := parse("x.txt", strings.Split("cmd", "\n")); err == nil {
		t.Fatal("a command at the end of the file without ---- was accepted")
	}
}
