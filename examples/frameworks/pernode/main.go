// Command pernode runs a container once on each of N distinct hosts that
// have a container runtime and a given attribute, e.g. a disk check on
// every machine of rack r1:
//
//	pernode --image sha256:<tarball> --image-name busybox:latest --where rack=r1 -n 3 -- sh -c 'df -h /'
//
// It shows constraints (one per host, an attribute, the container runtime)
// and the per-reason counts of the offers it turned down.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"strings"

	"github.com/pandodc/pando/sdk"
)

func main() {
	image := flag.String("image", "", "content address of the image tarball (sha256:<hex>)")
	name := flag.String("image-name", "", "image in the tarball (e.g. busybox:latest)")
	where := flag.String("where", "", "run only on agents with this attribute, KEY=VALUE")
	n := flag.Int("n", 1, "number of hosts to run on")
	flag.Parse()
	task := sdk.ContainerTask(sdk.Image{Digest: *image, Name: *name}).Args(flag.Args()...).
		Resources(sdk.MustParseResources("cpus:0.1;mem:32MiB"))
	p, err := newPerNode(task, *where, *n)
	if err = errors.Join(err, task.Check()); err != nil {
		fmt.Fprintln(os.Stderr, "pernode:", err)
		os.Exit(2)
	}
	err = sdk.Run(context.Background(), sdk.Config{Framework: &sdk.FrameworkInfo{Name: "pernode"}}, p)
	fmt.Printf("%d hosts done, %d failed: %v\n", p.finished, p.failed, err)
	os.Exit(sdk.ExitCode(err))
}

// perNode launches one task per host (UNIQUE hostname) until n have run.
type perNode struct {
	sdk.NopScheduler
	task                              sdk.TaskBuilder
	shape                             sdk.Shape
	packer                            sdk.Packer
	hosts                             map[string]string // task id -> host it runs on
	n, launched, finished, failed, id int
	why                               sdk.Why // offers turned down, and why
}

func newPerNode(task sdk.TaskBuilder, where string, n int) (*perNode, error) {
	p := &perNode{task: task, n: n, hosts: map[string]string{}}
	cs := []sdk.Constraint{{Attribute: "hostname", Op: sdk.OpUnique}}
	if k, v, ok := strings.Cut(where, "="); ok {
		cs = append(cs, sdk.Constraint{Attribute: k, Op: sdk.OpEqual, Value: v})
	} else if where != "" {
		return nil, fmt.Errorf("--where %q is not KEY=VALUE", where)
	}
	p.shape = task.Shape("pernode", cs...)
	// UNIQUE holds across rounds: a host with a live or finished task is taken.
	p.packer.Taken = func(_, _, host string) bool {
		for _, h := range p.hosts {
			if h == host {
				return true
			}
		}
		return false
	}
	return p, nil
}

func (p *perNode) Offers(d *sdk.Driver, offers []*sdk.Offer) {
	fit, _ := p.packer.Fit(offers, p.shape, p.n-p.launched)
	if fit.Placed < p.n-p.launched {
		p.why.Add(fit.Why)
		fmt.Printf("waiting for %d hosts: %s\n", p.n-p.launched-fit.Placed, p.why)
	}
	fit.Answer(d, offers, func(o *sdk.Offer) *sdk.TaskInfo {
		p.launched, p.id = p.launched+1, p.id+1
		t := p.task.On(o, fmt.Sprintf("pernode-%d", p.id))
		p.hosts[t.GetTaskId()] = o.GetHostname()
		return t
	}, nil, &sdk.Filters{RefuseSeconds: 30}) // unsuitable hosts stay unsuitable
}

func (p *perNode) Update(d *sdk.Driver, st *sdk.TaskStatus) {
	fmt.Println(p.hosts[st.GetTaskId()], st.GetTaskId(), st.GetState(), st.GetMessage())
	switch {
	case sdk.IsDroppedLaunch(st) || st.GetState() == sdk.TaskLost:
		delete(p.hosts, st.GetTaskId()) // try again, maybe on another host
		p.launched--
	case st.GetState() == sdk.TaskFinished:
		p.finished++
	case sdk.IsTerminal(st.GetState()):
		p.failed++
	}
	if p.finished+p.failed == p.n {
		d.Finish(sdk.FailedTasks(p.failed, p.n))
	}
}
