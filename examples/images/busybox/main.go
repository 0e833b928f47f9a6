// Command busybox writes an OCI image tarball holding the host's static
// busybox, for container tasks without a registry:
//
//	go run ./examples/images/busybox -o bin/examples/busybox.tar [-name busybox:latest]
//
// It prints the tarball's content address (sha256:<hex>).
package main

import (
	"flag"
	"fmt"
	"os"

	"github.com/pandodc/pando/runtime/container/ocilayout"
)

func main() {
	out := flag.String("o", "busybox.tar", "the tarball to write")
	name := flag.String("name", "busybox:latest", "the image's name in the tarball")
	arch := flag.String("arch", "", "the architecture the image claims (default: the host's)")
	flag.Parse()
	img, err := ocilayout.Busybox(*name, *arch)
	if err != nil {
		fmt.Fprintln(os.Stderr, "busybox:", err)
		os.Exit(1)
	}
	digest, err := ocilayout.WriteFile(*out, img)
	if err != nil {
		fmt.Fprintln(os.Stderr, "busybox:", err)
		os.Exit(1)
	}
	fmt.Println(digest, *out)
}
