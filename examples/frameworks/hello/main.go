package main

import (
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"strconv"
	"time"

	"github.com/pandodc/pando/kernel/kernelpb"
	"github.com/pandodc/pando/kernel/resources"
	"github.com/pandodc/pando/sdk"
)

func main() {
	master := flag.String("master", envOr("PANDO_MASTER", "http://127.0.0.1:5050"), "master HTTP address")
	module := flag.String("module", "", "content address of the WASM module (sha256:<hex>), as printed by the upload")
	n := flag.Int("n", 3, "number of copies to run")
	res := flag.String("resources", "cpus:0.1;mem:64MiB", "resources per copy")
	verbose := flag.Bool("v", false, "log what the driver does")
	flag.Usage = func() {
		fmt.Fprintln(flag.CommandLine.Output(), "usage: hello --module sha256:<hex> [-n 3] [--master http://127.0.0.1:5050] [-- ARGS...]")
		flag.PrintDefaults()
	}
	flag.Parse()
	if *module == "" || *n < 1 {
		flag.Usage()
		os.Exit(2)
	}
	need, err := resources.Parse(*res)
	if err != nil {
		fmt.Fprintf(os.Stderr, "hello: --resources %q: %v\n", *res, err)
		os.Exit(2)
	}

	var logger *slog.Logger
	if *verbose {
		logger = slog.New(slog.NewTextHandler(os.Stderr, nil))
	}
	// What follows the flags (after "--") is passed to every copy as its
	// arguments.
	h := &hello{module: *module, args: flag.Args(), need: need, total: *n, done: make(chan struct{})}
	d, err := sdk.NewDriver(sdk.Config{
		Framework: &kernelpb.FrameworkInfo{Name: "hello", Roles: []string{"*"}},
		MasterURL: *master,
		Logger:    logger,
	}, h)
	if err != nil {
		fmt.Fprintln(os.Stderr, "hello:", err)
		os.Exit(1)
	}
	if err := d.Start(); err != nil {
		fmt.Fprintln(os.Stderr, "hello:", err)
		os.Exit(1)
	}
	fmt.Printf("connecting to %s ...\n", *master)

	interrupt := make(chan os.Signal, 1)
	signal.Notify(interrupt, os.Interrupt)
	code := 0
	select {
	case <-h.done:
		if h.failed > 0 {
			code = 1
		}
	case <-interrupt:
		fmt.Println("interrupted")
		code = 130
	}
	// Not failing over: the framework is finished, so its tasks go too.
	d.Stop(false)
	fmt.Printf("%d finished, %d failed\n", h.finished, h.failed)
	os.Exit(code)
}

// hello is the Scheduler. Its callbacks run one at a time on the driver's
// goroutine, so its fields need no lock (main reads them only after done).
type hello struct {
	module   string
	args     []string
	need     resources.Resources
	total    int
	launched int
	finished int
	failed   int
	done     chan struct{}
}

func (h *hello) Subscribed(d *sdk.Driver, id string, reconnected bool) {
	fmt.Printf("subscribed as framework %s (reconnected: %v)\n", id, reconnected)
}

func (h *hello) Offers(d *sdk.Driver, offers []*kernelpb.Offer) {
	for _, o := range offers {
		avail, err := resources.FromProto(o.GetResources())
		fit := 0
		if err == nil {
			fit = sdk.BinPack(avail, h.need, h.total-h.launched)
		}
		if fit == 0 {
			d.Decline([]string{o.GetId()}, &kernelpb.Filters{RefuseSeconds: 5})
			continue
		}
		tasks := make([]*kernelpb.TaskInfo, 0, fit)
		for i := 0; i < fit; i++ {
			id := "hello-" + strconv.Itoa(h.launched)
			h.launched++
			tasks = append(tasks, &kernelpb.TaskInfo{
				TaskId:    id,
				Name:      id,
				AgentId:   o.GetAgentId(),
				Resources: h.need.ToProto(),
				Runtime:   &kernelpb.TaskInfo_Wasm{Wasm: &kernelpb.WasmTask{Module: h.module, Args: h.args}},
			})
		}
		fmt.Printf("launching %d on %s\n", fit, o.GetHostname())
		d.Accept([]string{o.GetId()}, tasks, &kernelpb.Filters{RefuseSeconds: 1})
	}
	if h.launched == h.total {
		// Nothing left to launch: stop the master from offering.
		d.Suppress()
	}
}

func (h *hello) Rescinded(*sdk.Driver, string) {}

func (h *hello) Update(d *sdk.Driver, st *kernelpb.TaskStatus) {
	line := fmt.Sprintf("%s %-14s %s", time.Now().Format("15:04:05.000"), st.GetTaskId(), st.GetState())
	if st.GetMessage() != "" {
		line += ": " + st.GetMessage()
	}
	fmt.Println(line)
	switch st.GetState() {
	case kernelpb.TaskState_TASK_FINISHED:
		h.finished++
	case kernelpb.TaskState_TASK_FAILED, kernelpb.TaskState_TASK_ERROR, kernelpb.TaskState_TASK_KILLED, kernelpb.TaskState_TASK_LOST:
		h.failed++
	default:
		return
	}
	if h.finished+h.failed == h.total {
		close(h.done)
	}
}

func (h *hello) Error(_ *sdk.Driver, msg string) { fmt.Println("master says:", msg) }

func (h *hello) Disconnected(_ *sdk.Driver, reason error) {
	fmt.Println("disconnected:", reason, "(reconnecting)")
}

func envOr(k, def string) string {
	if v := os.Getenv(k); v != "" {
		return v
	}
	return def
}
