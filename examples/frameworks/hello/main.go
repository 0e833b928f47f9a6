package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"strconv"

	"github.com/pandodc/pando/sdk"
)

func main() {
	module := flag.String("module", "", "content address of the WASM module (sha256:<hex>), as `pando upload` prints")
	n := flag.Int("n", 3, "number of copies to run")
	res := flag.String("resources", "cpus:0.1;mem:64MiB", "resources per copy")
	master := flag.String("master", "", "master HTTP address (default $PANDO_MASTER or http://127.0.0.1:5050)")
	flag.Parse()
	need, err := sdk.ParseResources(*res)
	task := sdk.WasmTask(*module, flag.Args()...).Resources(need) // args after "--"
	if err = errors.Join(err, task.Check()); err != nil || *n < 1 {
		fmt.Fprintf(os.Stderr, "usage: hello --module sha256:<hex> [-n N] [--resources R] [-- ARGS...] (%v)\n", err)
		os.Exit(2)
	}
	h := &hello{task: task, todo: *n}
	err = sdk.Run(context.Background(), sdk.Config{Framework: &sdk.FrameworkInfo{Name: "hello"}, MasterURL: *master}, h)
	fmt.Printf("%d finished, %d failed: %v\n", h.finished, h.failed, err)
	os.Exit(sdk.ExitCode(err))
}

// hello runs todo copies of a task; callbacks run one at a time (no locks).
type hello struct {
	sdk.NopScheduler
	task                                  sdk.TaskBuilder
	todo, launched, finished, failed, ids int
}

func (h *hello) Offers(d *sdk.Driver, offers []*sdk.Offer) {
	fit, _ := (&sdk.Packer{}).Fit(offers, h.task.Shape("hello"), h.todo-h.launched)
	fit.Answer(d, offers, func(o *sdk.Offer) *sdk.TaskInfo {
		h.launched, h.ids = h.launched+1, h.ids+1
		return h.task.On(o, "hello-"+strconv.Itoa(h.ids))
	}, nil, nil)
}

func (h *hello) Update(d *sdk.Driver, st *sdk.TaskStatus) {
	fmt.Println(st.GetTaskId(), st.GetState(), st.GetMessage())
	switch {
	case sdk.IsDroppedLaunch(st): // never ran: launch it again
		h.launched--
	case st.GetState() == sdk.TaskFinished:
		h.finished++
	case sdk.IsTerminal(st.GetState()):
		h.failed++
	}
	if h.finished+h.failed == h.todo {
		d.Finish(sdk.FailedTasks(h.failed, h.todo))
	}
}
