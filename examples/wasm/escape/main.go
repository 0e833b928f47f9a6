// Command escape tries to break out of its sandbox. For each argument:
//
//   - "symlink:<target>=<link>" creates a symbolic link <link> -> <target>
//     and prints "<arg>: made" or "<arg>: denied: <error>";
//   - any other argument is a path to read, and it prints
//     "<path>: read: <content>" or "<path>: denied: <error>".
//
// Tests use it to check that a task sees nothing of the host but its sandbox.
package main

import (
	"fmt"
	"os"
	"strings"
)

func main() {
	for _, a := range os.Args[1:] {
		if spec, ok := strings.CutPrefix(a, "symlink:"); ok {
			target, link, _ := strings.Cut(spec, "=")
			if err := os.Symlink(target, link); err != nil {
				fmt.Printf("%s: denied: %v\n", a, err)
			} else {
				fmt.Printf("%s: made\n", a)
			}
			continue
		}
		b, err := os.ReadFile(a)
		if err != nil {
			fmt.Printf("%s: denied: %v\n", a, err)
			continue
		}
		fmt.Printf("%s: read: %s\n", a, strings.TrimSpace(string(b)))
	}
}
