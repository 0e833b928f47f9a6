// Command writeout leaves files in /sandbox/out/, as a job leaves its
// results: out/result.txt names its instance, out/sub/part is in a
// subdirectory.
package main

import (
	"fmt"
	"os"
)

func main() {
	if err := os.MkdirAll("/sandbox/out/sub", 0o755); err != nil {
		fail(err)
	}
	if err := os.WriteFile("/sandbox/out/result.txt", []byte("result of instance "+os.Getenv("PANDO_INSTANCE")+"\n"), 0o644); err != nil {
		fail(err)
	}
	if err := os.WriteFile("/sandbox/out/sub/part", []byte("part"), 0o644); err != nil {
		fail(err)
	}
	fmt.Println("wrote /sandbox/out/")
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, "writeout:", err)
	os.Exit(1)
}
