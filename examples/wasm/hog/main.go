// Command hog allocates memory in a loop past any limit, writing to every
// page so that the memory is really used, to test memory limits.
package main

import "fmt"

const chunk = 4 << 20 // 4MiB

var kept [][]byte // kept reachable so the collector frees nothing

func main() {
	for i := 1; ; i++ {
		b := make([]byte, chunk)
		for j := 0; j < len(b); j += 4096 {
			b[j] = byte(i)
		}
		kept = append(kept, b)
		if i%16 == 0 {
			fmt.Printf("hog: holding %d MiB\n", i*chunk>>20)
		}
	}
}
