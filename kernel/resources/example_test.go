package resources_test

import (
	"fmt"

	"github.com/pandodc/pando/kernel/resources"
)

func Example() {
	agent := resources.MustParse("cpus:8;mem:16GiB;ports:[31000-32000]")
	task, err := resources.Parse("cpus:0.5; mem:1.5GiB; ports:[31000-31001]")
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(agent.Contains(task))
	left, _ := agent.Subtract(task)
	fmt.Println(left)
	fmt.Println(left.Shortfall(resources.MustParse("mem:64GiB;gpus:1")))
	// Output:
	// true
	// cpus:7.5;mem:14848;ports:[31002-32000]
	// gpus 1 (has 0), mem 64GiB (has 14.5GiB)
}

func ExampleFormatSize() {
	fmt.Println(resources.FormatSize(64*resources.One), resources.FormatSize(1536*resources.One), resources.FormatSize(500))
	// Output: 64MiB 1.5GiB 512KiB
}
