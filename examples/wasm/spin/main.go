// Command spin never ends: a busy loop that never calls the host, so that
// only a runtime that can interrupt guest code (timeout, kill) stops it.
package main

import "fmt"

var sink uint64

func main() {
	fmt.Println("spinning")
	for i := uint64(0); ; i++ {
		sink += i * i
	}
}
