package trace

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

var rewrite = flag.Bool("rewrite", false, "rewrite the expected output of testdata/*.txt scenario files with what the code produces")

// Command is one command of a scenario file:
//
//	# a comment
//	name arg1 key=value
//	optional input lines
//	----
//	expected output lines
//
// Commands are separated by blank lines; the output has none.
type Command struct {
	Pos   string // file:line, for messages
	Name  string
	Args  []string          // positional arguments
	Flags map[string]string // key=value arguments
	Input []string
	want  string
	line  int // of the "----"
}

// Arg returns the i-th positional argument or fails the test.
func (c *Command) Arg(t testing.TB, i int) string {
	t.Helper()
	if i >= len(c.Args) {
		t.Fatalf("%s: %s needs at least %d arguments", c.Pos, c.Name, i+1)
	}
	return c.Args[i]
}

// RunFiles runs every file matching glob (e.g. "testdata/*.txt") as a
// subtest: run executes one command and returns its output. Each output is
// compared with the file's; with -rewrite the file is written back with
// the outputs instead.
func RunFiles(t *testing.T, glob string, newRun func(t *testing.T) func(c *Command) string) {
	files, err := filepath.Glob(glob)
	if err != nil || len(files) == 0 {
		t.Fatalf("no scenario files match %s (%v)", glob, err)
	}
	for _, path := range files {
		t.Run(strings.TrimSuffix(filepath.Base(path), ".txt"), func(t *testing.T) {
			runFile(t, path, newRun(t))
		})
	}
}

func runFile(t *testing.T, path string, run func(c *Command) string) {
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(string(data), "\n")
	cmds, err := parse(path, lines)
	if err != nil {
		t.Fatal(err)
	}
	var out strings.Builder
	done := 0 // lines of the file copied to out
	for _, c := range cmds {
		got := strings.TrimRight(run(c), "\n")
		if *rewrite {
			for _, l := range lines[done : c.line+1] {
				out.WriteString(l + "\n")
			}
			if got != "" {
				out.WriteString(got + "\n")
			}
			done = c.line + 1
			for done < len(lines) && lines[done] != "" {
				done++ // skip the old output
			}
			continue
		}
		if got != c.want {
			t.Errorf("%s: %s %s: output differs (go test -rewrite records the new one)\n--- got:\n%s\n--- want:\n%s",
				c.Pos, c.Name, strings.Join(c.Args, " "), got, c.want)
		}
	}
	if *rewrite {
		for _, l := range lines[done:] {
			out.WriteString(l + "\n")
		}
		text := strings.TrimRight(out.String(), "\n") + "\n"
		if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

func parse(path string, lines []string) ([]*Command, error) {
	var cmds []*Command
	for i := 0; i < len(lines); i++ {
		l := strings.TrimSpace(lines[i])
		if l == "" || strings.HasPrefix(l, "#") {
			continue
		}
		c := &Command{Pos: fmt.Sprintf("%s:%d", path, i+1), Flags: map[string]string{}}
		fields := strings.Fields(l)
		c.Name = fields[0]
		for _, f := range fields[1:] {
			if k, v, ok := strings.Cut(f, "="); ok {
				c.Flags[k] = v
			} else {
				c.Args = append(c.Args, f)
			}
		}
		i++
		for ; i < len(lines) && lines[i] != "----"; i++ {
			if strings.TrimSpace(lines[i]) == "" {
				return nil, fmt.Errorf("%s: command %s has no ---- line before the blank line %d", c.Pos, c.Name, i+1)
			}
			c.Input = append(c.Input, lines[i])
		}
		if i == len(lines) {
			return nil, fmt.Errorf("%s: command %s has no ---- line", c.Pos, c.Name)
		}
		c.line = i
		var want []string
		for i++; i < len(lines) && lines[i] != ""; i++ {
			want = append(want, lines[i])
		}
		c.want = strings.Join(want, "\n")
		cmds = append(cmds, c)
	}
	return cmds, nil
}
