// Command pi estimates pi by Monte Carlo sampling: a CPU-bound job whose
// length is set by its first argument (the number of samples, default 1e6).
package main

import (
	"fmt"
	"math/rand/v2"
	"os"
	"strconv"
)

func main() {
	samples := 1_000_000
	if len(os.Args) > 1 {
		f, err := strconv.ParseFloat(os.Args[1], 64) // accepts "1e6" as well as "1000000"
		if err != nil || f < 1 {
			fmt.Fprintf(os.Stderr, "pi: the number of samples must be a positive number, not %q\n", os.Args[1])
			os.Exit(2)
		}
		samples = int(f)
	}
	inside := 0
	for range samples {
		x, y := rand.Float64(), rand.Float64()
		if x*x+y*y <= 1 {
			inside++
		}
	}
	fmt.Printf("%.6f\n", 4*float64(inside)/float64(samples))
}
