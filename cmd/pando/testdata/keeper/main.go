// Command keeper is a framework for failover tests: it launches N copies of
// a module once (its state remembers that it did, and its framework id), and
// then only watches them. Killed and started again with the same --state, it
// resubscribes as the same framework and launches nothing new.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"strconv"
	"time"

	"github.com/pandodc/pando/sdk"
)

func main() {
	module := flag.String("module", "", "content address of the module")
	n := flag.Int("n", 2, "copies to launch")
	statePath := flag.String("state", "", "state file")
	failover := flag.Duration("failover", time.Minute, "failover timeout")
	master := flag.String("master", "", "master URL")
	flag.Parse()
	state, err := sdk.OpenState(*statePath, "keeper")
	if err != nil {
		fmt.Fprintln(os.Stderr, "keeper:", err)
		os.Exit(2)
	}
	defer state.Close()
	k := &keeper{task: sdk.WasmTask(*module, "1h").Resources(sdk.MustParseResources("cpus:0.1;mem:32")), n: *n, launched: sdk.ValueOf[bool](state, "launched")}
	err = sdk.Run(context.Background(), sdk.Config{
		Framework: &sdk.FrameworkInfo{Name: "keeper", FailoverTimeoutMs: failover.Milliseconds()},
		MasterURL: *master, State: state, StopWithFailover: true,
	}, k)
	os.Exit(sdk.ExitCode(err))
}

type keeper struct {
	sdk.NopScheduler
	task     sdk.TaskBuilder
	n        int
	launched sdk.Value[bool]
}

func (k *keeper) Subscribed(_ *sdk.Driver, id string, reconnected bool) {
	fmt.Println("subscribed as", id)
}

func (k *keeper) Offers(d *sdk.Driver, offers []*sdk.Offer) {
	done, _, err := k.launched.Get(context.Background())
	if err != nil || done {
		d.Decline(offerIDs(offers), nil)
		return
	}
	fit, _ := (&sdk.Packer{}).Fit(offers, k.task.Shape("keeper"), k.n)
	seq := 0
	fit.Answer(d, offers, func(o *sdk.Offer) *sdk.TaskInfo {
		seq++
		return k.task.On(o, "keep-"+strconv.Itoa(seq))
	}, nil, nil)
	if seq == k.n {
		_ = k.launched.Put(context.Background(), true)
	}
}

func offerIDs(offers []*sdk.Offer) []string {
	ids := make([]string, len(offers))
	for i, o := range offers {
		ids[i] = o.GetId()
	}
	return ids
}
