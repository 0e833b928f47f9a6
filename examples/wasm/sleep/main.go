// Command sleep prints "sleeping", then sleeps for the duration given as its
// first argument (default 1h) inside the host (WASI poll_oneoff), so that a
// runtime can be tested on killing a task that is blocked in a host call.
package main

import (
	"fmt"
	"os"
	"time"
)

func main() {
	d := time.Hour
	if len(os.Args) > 1 {
		var err error
		if d, err = time.ParseDuration(os.Args[1]); err != nil {
			fmt.Fprintf(os.Stderr, "sleep: %v\n", err)
			os.Exit(2)
		}
	}
	fmt.Println("sleeping")
	time.Sleep(d)
	fmt.Println("awake")
}
