// Command fail reports a failure on stderr and exits with code 3, so that
// runtimes and frameworks can be tested on a job that fails.
package main

import (
	"fmt"
	"os"
)

func main() {
	fmt.Fprintln(os.Stderr, "fail: failing on purpose with exit code 3")
	os.Exit(3)
}
