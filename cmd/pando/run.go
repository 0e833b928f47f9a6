package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"golang.org/x/term"

	"github.com/pandodc/pando/frameworks/batch/batchapi"
	"github.com/pandodc/pando/kernel/resources"
	"github.com/pandodc/pando/sdk/client"
)

type runFlags struct {
	instances int
	cpus      string
	mem       string
	timeout   time.Duration
	retries   int
	env       []string
	name      string
	detach    bool
	image     string
	killGrace time.Duration
	output    string
	inputs    inputFlags
	// nSet: -n was given (with --each, it must match the inputs).
	nSet bool
}

func newRunCmd(g *globals) *cobra.Command {
	f := &runFlags{}
	cmd := &cobra.Command{
		Use:   "run FILE.wasm [flags] [-- ARGS...] | run --image REF [flags] -- CMD [ARGS...]",
		Short: "Run a WebAssembly module or a container image as a batch job of N instances",
		Long: `Uploads the module to the master (or finds the image REF among the master's
images: a name like busybox:latest or the tarball's sha256 digest), submits a
job to the batch framework, shows its progress and prints a summary. Container
instances run only on agents with a container runtime; CMD ARGS replace the
image's command. Exits 0 only if every instance finished.`,
		Example: `  pando run hello.wasm -n 1000
  pando run pi.wasm -n 10 --cpus 0.5 --mem 128MiB -- 5000000
  pando run --image busybox:latest -n 3 -- sh -c 'echo hello from $PANDO_INSTANCE'
  pando run hello.wasm -n 5 --output results   # results/0/stdout ... results/4/stderr
  pando run wc.wasm --file data.csv -n 100 -- /input/data.csv
  pando run grep.wasm --dir corpus --each 'queries/*.txt'   # /input/corpus/..., /input/item`,
		Args: func(cmd *cobra.Command, args []string) error {
			if f.image == "" && len(args) == 0 {
				return usageError("give a FILE.wasm to run, or --image REF -- CMD ARGS...")
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			f.nSet = cmd.Flags().Changed("instances")
			if f.image != "" {
				return runImage(cmd.Context(), g, f, args, cmd.OutOrStdout(), cmd.ErrOrStderr())
			}
			return runJob(cmd.Context(), g, f, args[0], args[1:], cmd.OutOrStdout(), cmd.ErrOrStderr())
		},
	}
	fl := cmd.Flags()
	fl.IntVarP(&f.instances, "instances", "n", 1, "number of instances")
	fl.StringVar(&f.cpus, "cpus", "0.1", "CPUs per instance")
	fl.StringVar(&f.mem, "mem", "64MiB", "memory per instance (e.g. 64MiB, 1GiB)")
	fl.DurationVar(&f.timeout, "timeout", 0, "kill an instance that runs longer than this (e.g. 30s); 0 means no limit")
	fl.IntVar(&f.retries, "retries", 0, "how many times to retry a failed instance")
	fl.StringArrayVar(&f.env, "env", nil, "environment variable K=V for every instance (repeatable)")
	fl.StringVar(&f.name, "name", "", "job name (default: the file name)")
	fl.BoolVarP(&f.detach, "detach", "d", false, "submit and return without waiting")
	fl.StringVar(&f.image, "image", "", "run this container image (a name like busybox:latest, or the tarball's sha256:<hex>) instead of a module")
	fl.StringVar(&f.output, "output", "", "once the job ends, write each instance's stdout and stderr into DIR/<instance>/ (as pando fetch does)")
	fl.StringArrayVar(&f.inputs.files, "file", nil, "upload this file once; every instance sees it read-only at /input/<its name> (repeatable)")
	fl.StringArrayVar(&f.inputs.dirs, "dir", nil, "upload this directory tree once (as one archive); every instance sees it read-only at /input/<its name> (repeatable)")
	fl.StringVar(&f.inputs.each, "each", "", "run one instance per file matching this pattern (quote it: 'inputs/*.txt'); each sees its own at "+batchapi.EachPath+", its name in $"+batchapi.EnvInputName)
	fl.DurationVar(&f.killGrace, "kill-grace", 0, "how long a kill waits after SIGTERM before SIGKILL (e.g. 10s); 0 means the agent's default")
	return cmd
}

// usageError is bad input from the command line: exit code 2.
func usageError(format string, args ...any) error {
	return &exitError{code: 2, err: fmt.Errorf(format, args...)}
}

// jobSpec checks the flags and makes the spec they describe; the caller
// fills in the module or container.
func (f *runFlags) jobSpec(name string, args []string) (batchapi.JobSpec, error) {
	if f.instances < 1 {
		return batchapi.JobSpec{}, usageError("-n must be at least 1, got %d", f.instances)
	}
	if f.retries < 0 {
		return batchapi.JobSpec{}, usageError("--retries must not be negative, got %d", f.retries)
	}
	if f.timeout < 0 {
		return batchapi.JobSpec{}, usageError("--timeout must not be negative, got %s", f.timeout)
	}
	if f.output != "" && f.detach {
		return batchapi.JobSpec{}, usageError("--output waits for the job to end: drop --detach, or pando fetch JOB DIR later")
	}
	if f.killGrace < 0 {
		return batchapi.JobSpec{}, usageError("--kill-grace must not be negative, got %s", f.killGrace)
	}
	res, err := resources.Parse("cpus:" + f.cpus + ";mem:" + f.mem)
	if err != nil {
		return batchapi.JobSpec{}, usageError("--cpus %q / --mem %q: %v", f.cpus, f.mem, err)
	}
	if res.Get(resources.CPUs) <= 0 && res.Get(resources.Mem) <= 0 {
		return batchapi.JobSpec{}, usageError("an instance needs some --cpus or --mem")
	}
	env := map[string]string{}
	for _, kv := range f.env {
		k, v, ok := strings.Cut(kv, "=")
		if !ok || k == "" {
			return batchapi.JobSpec{}, usageError("--env %q is not of the form KEY=VALUE", kv)
		}
		env[k] = v
	}
	if f.name != "" {
		name = f.name
	}
	return batchapi.JobSpec{
		Name: name, Args: args, Env: env, Instances: f.instances,
		Resources: res.String(), TimeoutMS: f.timeout.Milliseconds(), Retries: f.retries,
		KillGraceMS: f.killGrace.Milliseconds(),
	}, nil
}

// checkInputs finds the local inputs; with --each, one instance runs per
// matching file.
func (f *runFlags) checkInputs(spec *batchapi.JobSpec) (shared, each []localInput, err error) {
	if shared, each, err = f.inputs.check(); err != nil {
		return nil, nil, err
	}
	if len(each) > 0 {
		if f.nSet && f.instances != len(each) {
			return nil, nil, usageError("--each %q matches %d files but -n is %d: drop -n (one instance runs per file)", f.inputs.each, len(each), f.instances)
		}
		spec.Instances = len(each)
	}
	return shared, each, nil
}

func readModule(file string) ([]byte, error) {
	data, err := os.ReadFile(file)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, usageError("%s: no such file", file)
	}
	if err != nil {
		return nil, usageError("reading %s: %v", file, err)
	}
	if len(data) < 8 || string(data[:4]) != "\x00asm" {
		return nil, usageError("%s is not a WebAssembly module (build Go programs with GOOS=wasip1 GOARCH=wasm go build)", file)
	}
	return data, nil
}

func runJob(ctx context.Context, g *globals, f *runFlags, file string, args []string, stdout, stderr io.Writer) error {
	spec, err := f.jobSpec(strings.TrimSuffix(filepath.Base(file), filepath.Ext(file)), args)
	if err != nil {
		return err
	}
	shared, each, err := f.checkInputs(&spec)
	if err != nil {
		return err
	}
	module, err := readModule(file)
	if err != nil {
		return err
	}
	c, err := client.New(client.MasterFromEnv(g.master))
	if err != nil {
		return usageError("%v", err)
	}
	art, err := c.Upload(ctx, module, "wasm")
	if err != nil {
		return fmt.Errorf("uploading %s: %w", file, err)
	}
	spec.Module = art.Digest
	if err := uploadInputs(ctx, c, &spec, shared, each); err != nil {
		return err
	}
	return submitAndWatch(ctx, g, f, c, spec, stdout, stderr)
}

// runImage runs `pando run --image REF -- CMD ARGS...`.
func runImage(ctx context.Context, g *globals, f *runFlags, cmdArgs []string, stdout, stderr io.Writer) error {
	spec, err := f.jobSpec("", cmdArgs)
	if err != nil {
		return err
	}
	shared, each, err := f.checkInputs(&spec)
	if err != nil {
		return err
	}
	c, err := client.New(client.MasterFromEnv(g.master))
	if err != nil {
		return usageError("%v", err)
	}
	im, err := c.ResolveImage(ctx, f.image)
	if errors.Is(err, client.ErrImageNotFound) {
		return usageError("--image %s: %v", f.image, err)
	}
	if err != nil {
		return err
	}
	spec.Container = &batchapi.ContainerSpec{Image: im.Digest, ImageName: im.Name}
	if err := uploadInputs(ctx, c, &spec, shared, each); err != nil {
		return err
	}
	return submitAndWatch(ctx, g, f, c, spec, stdout, stderr)
}

// submitAndWatch submits the job and, unless detached, shows its progress
// and summary; the exit code says whether every instance finished.
func submitAndWatch(ctx context.Context, g *globals, f *runFlags, c *client.Client, spec batchapi.JobSpec, stdout, stderr io.Writer) error {
	// The output directory is checked before the job is submitted: a
	// job's outputs are not to be lost to a typo in DIR.
	var out *outputDir
	if f.output != "" {
		var err error
		if out, err = newOutputDir(f.output); err != nil {
			return err
		}
		defer out.abort() // a no-op once committed
	}
	jobs := batchapi.NewClient(c)
	job, err := jobs.Submit(ctx, spec)
	if err != nil {
		if client.IsStatus(err, http.StatusUnprocessableEntity) || client.IsStatus(err, http.StatusBadRequest) {
			return &exitError{code: 2, err: fmt.Errorf("job refused: %w", err)}
		}
		return fmt.Errorf("submitting the job: %w", err)
	}
	if f.detach {
		if g.json {
			return json.NewEncoder(stdout).Encode(jobSummary(job))
		}
		fmt.Fprintf(stdout, "%s\n", job.ID)
		return nil
	}
	progress := newProgress(stderr, !g.json && isTerminal(stderr))
	progress.quiet = g.json
	progress.update(job)
	job, err = waitJob(ctx, jobs, job.ID, progress.update)
	progress.done()
	if err != nil {
		if ctx.Err() != nil {
			fmt.Fprintf(stderr, "stopped watching; job %s goes on (pando kill %s to stop it)\n", job.ID, job.ID)
		}
		return err
	}
	if g.json {
		if err := json.NewEncoder(stdout).Encode(jobSummary(job)); err != nil {
			return err
		}
	} else {
		printJobSummary(stdout, job)
	}
	if out != nil {
		if err := fetchJob(ctx, c, job.ID, out, stderr); err != nil {
			return err
		}
	}
	if job.Finished != job.Instances {
		return &exitError{code: 1}
	}
	return nil
}

// waitJob polls the job until it ends.
func waitJob(ctx context.Context, c batchapi.Client, id string, onUpdate func(batchapi.JobStatus)) (batchapi.JobStatus, error) {
	var job batchapi.JobStatus
	delay := 20 * time.Millisecond
	for {
		var err error
		if job, err = c.Job(ctx, id); err != nil {
			return batchapi.JobStatus{ID: id}, fmt.Errorf("watching job %s: %w", id, err)
		}
		onUpdate(job)
		if job.Done() {
			return job, nil
		}
		select {
		case <-ctx.Done():
			return job, ctx.Err()
		case <-time.After(delay):
		}
		delay = min(delay*2, 250*time.Millisecond)
	}
}

// jobSummaryJSON is what --json prints for a job.
type jobSummaryJSON struct {
	Job       string                `json:"job"`
	Name      string                `json:"name,omitempty"`
	State     string                `json:"state"`
	Instances int                   `json:"instances"`
	Finished  int                   `json:"finished"`
	Failed    int                   `json:"failed"`
	Killed    int                   `json:"killed"`
	DurationS float64               `json:"duration_s"`
	Failures  []batchapi.JobFailure `json:"failures,omitempty"`
}

func jobSummary(j batchapi.JobStatus) jobSummaryJSON {
	return jobSummaryJSON{Job: j.ID, Name: j.Name, State: j.State, Instances: j.Instances,
		Finished: j.Finished, Failed: j.Failed, Killed: j.Killed, DurationS: j.DurationS, Failures: j.Failures}
}

func printJobSummary(w io.Writer, j batchapi.JobStatus) {
	rate := ""
	if j.DurationS > 0 {
		rate = fmt.Sprintf(" (%.0f instances/s)", float64(j.Finished+j.Failed+j.Killed)/j.DurationS)
	}
	fmt.Fprintf(w, "job %s %s: %d/%d finished, %d failed, %d killed in %.2fs%s\n",
		j.ID, j.State, j.Finished, j.Instances, j.Failed, j.Killed, j.DurationS, rate)
	for i, fail := range j.Failures {
		if i == 5 {
			fmt.Fprintf(w, "  ... and more: pando ps --job %s\n", j.ID)
			break
		}
		input := ""
		if fail.Input != "" {
			input = " input " + fail.Input
		}
		fmt.Fprintf(w, "  instance %d (%s)%s %s: %s  [pando logs %s --stderr]\n", fail.Instance, fail.TaskID, input, strings.TrimPrefix(fail.State, "TASK_"), fail.Message, fail.TaskID)
	}
}

func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}

// progress draws a one-line bar on a terminal and nothing elsewhere; it
// says (once per change, unless quiet) why instances wait while none runs.
type progress struct {
	w       io.Writer
	enabled bool
	quiet   bool
	drawn   bool
	start   time.Time
	why     string
}

// waitNoteAfter is how long a job waits for offers before `pando run` says why.
var waitNoteAfter = 2 * time.Second

func newProgress(w io.Writer, enabled bool) *progress {
	return &progress{w: w, enabled: enabled, start: time.Now()}
}

func (p *progress) update(j batchapi.JobStatus) {
	// The counts of declined offers change at every poll: say it again
	// only when the reason itself changes.
	// Only a job that has waited a while needs telling why: most start
	// within the first polls, before any offer came.
	why, _, _ := strings.Cut(j.Why, "; declined")
	if !p.quiet && j.Running+j.Staging == 0 && j.Pending > 0 && why != "" && why != p.why && time.Since(p.start) >= waitNoteAfter {
		p.why = why
		if p.drawn {
			fmt.Fprintln(p.w)
			p.drawn = false
		}
		fmt.Fprintf(p.w, "waiting: %s\n", j.Why)
	}
	if !p.enabled || j.Instances == 0 {
		return
	}
	const width = 30
	ended := j.Finished + j.Failed + j.Killed
	filled := width * ended / j.Instances
	bar := strings.Repeat("=", filled) + strings.Repeat(" ", width-filled)
	fmt.Fprintf(p.w, "\r[%s] %d/%d done  %d running  %d failed  %.1fs ", bar, ended, j.Instances, j.Running, j.Failed, time.Since(p.start).Seconds())
	p.drawn = true
}

func (p *progress) done() {
	if p.drawn {
		fmt.Fprintln(p.w)
	}
}
