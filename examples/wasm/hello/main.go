// Command hello is the smallest real Pando job: it greets from its instance.
//
// Build: GOOS=wasip1 GOARCH=wasm go build -o hello.wasm ./examples/wasm/hello
package main

import (
	"fmt"
	"os"
)

func main() {
	fmt.Printf("hello from instance %s of task %s\n", os.Getenv("PANDO_INSTANCE"), os.Getenv("PANDO_TASK_ID"))
}
