package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/spf13/cobra"

	"github.com/pandodc/pando/frameworks/batch/batchapi"
	"github.com/pandodc/pando/sdk/client"
)

// A batch job's outputs: `pando logs JOB` prints every instance's log in
// instance order, `pando fetch JOB DIR` (and `pando run --output DIR`)
// writes them into DIR/<instance>/{stdout,stderr}.

type logsFlags struct {
	stderr   bool
	follow   bool
	prefix   bool
	instance int // -1: every instance
}

func (f logsFlags) stream() string {
	if f.stderr {
		return "stderr"
	}
	return "stdout"
}

// jobTasks returns the job's instances, or ok=false when id names no job.
func jobTasks(ctx context.Context, c *client.Client, id string) (tasks []batchapi.TaskStatusView, ok bool, err error) {
	tasks, err = batchapi.NewClient(c).Tasks(ctx, id)
	if client.IsStatus(err, http.StatusNotFound) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, fmt.Errorf("listing the instances of job %s: %w", id, err)
	}
	return tasks, true, nil
}

// pickInstance keeps only instance n of the job's tasks (all with n < 0).
func pickInstance(tasks []batchapi.TaskStatusView, job string, n int) ([]batchapi.TaskStatusView, error) {
	if n < 0 {
		return tasks, nil
	}
	if n >= len(tasks) {
		return nil, usageError("--instance %d: job %s has instances 0 to %d", n, job, len(tasks)-1)
	}
	return tasks[n : n+1], nil
}

// maxInstanceNotes is how many instances jobLogs names on stderr; it counts
// the rest.
const maxInstanceNotes = 20

// logsAhead is how many instances' logs jobLogs reads ahead of the one it
// prints, and logHead how much of each it holds in memory: one request at
// a time, 20,000 instances took 40 s; a log longer than logHead streams
// when its turn comes, so a big one is never held whole.
const (
	logsAhead = 16
	logHead   = 256 << 10
)

// fetchedLog is an instance's log read ahead: its head, and the rest still
// to stream (nil when the head is all of it).
type fetchedLog struct {
	head []byte
	rest io.ReadCloser
	err  error
}

// jobLogs prints the logs of a job's instances in instance order, each
// one's latest attempt. Instances whose logs cannot be had are named on
// errw and make the result an error, after the others are printed.
func jobLogs(ctx context.Context, c *client.Client, job string, tasks []batchapi.TaskStatusView, f logsFlags, w, errw io.Writer) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	agents, _ := agentClients(ctx, c) // none listed: every log through the master
	// The printer takes a slot back once it has printed an instance:
	// at most logsAhead logs are held, or open, at once.
	slots := make(chan struct{}, logsAhead)
	fetched := make([]chan fetchedLog, len(tasks))
	for i := range fetched {
		fetched[i] = make(chan fetchedLog, 1)
	}
	go func() {
		for i, t := range tasks {
			if !t.Started() {
				continue
			}
			select {
			case slots <- struct{}{}:
			case <-ctx.Done():
				return
			}
			go func() { fetched[i] <- readAhead(ctx, c, agents[t.AgentID], t, f.stream()) }()
		}
	}()

	missing, notes := 0, 0
	note := func(format string, args ...any) {
		// A job of 20,000 instances whose logs are gone would otherwise
		// bury the one line that matters under 20,000.
		if notes++; notes <= maxInstanceNotes {
			fmt.Fprintf(errw, format, args...)
		}
	}
	for i, t := range tasks {
		if !t.Started() {
			note("instance %d has not run (%s)\n", t.Instance, t.State)
			continue
		}
		var got fetchedLog
		select {
		case got = <-fetched[i]:
		case <-ctx.Done():
			return ctx.Err()
		}
		err := got.err
		if err == nil {
			err = printLog(got, t, f, w)
		}
		<-slots
		if err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			note("instance %d (%s): %v\n", t.Instance, t.TaskID, logError(err))
			missing++
		}
	}
	if notes > maxInstanceNotes {
		fmt.Fprintf(errw, "... and %d more instances that have not run or whose logs could not be read\n", notes-maxInstanceNotes)
	}
	if missing > 0 {
		return &exitError{code: 1, err: fmt.Errorf("job %s: the logs of %d instance(s) could not be read", job, missing)}
	}
	return nil
}

// readAhead reads the head of an instance's log, leaving the rest open.
func readAhead(ctx context.Context, c, agent *client.Client, t batchapi.TaskStatusView, stream string) fetchedLog {
	body, err := instanceLog(ctx, c, agent, t, stream)
	if err != nil {
		return fetchedLog{err: err}
	}
	head, err := io.ReadAll(io.LimitReader(body, logHead))
	if err != nil {
		body.Close()
		return fetchedLog{err: err}
	}
	if len(head) < logHead {
		body.Close()
		return fetchedLog{head: head}
	}
	return fetchedLog{head: head, rest: body}
}

// printLog writes a log read ahead to w, each line after "[N] " with
// --prefix, and closes what was left open.
func printLog(l fetchedLog, t batchapi.TaskStatusView, f logsFlags, w io.Writer) error {
	var r io.Reader = bytes.NewReader(l.head)
	if l.rest != nil {
		defer l.rest.Close()
		r = io.MultiReader(r, l.rest)
	}
	return writeLog(r, t, f, w)
}

// followJob prints the logs of a job's instances in instance order while
// the job runs: it waits for each instance to start, follows its log until
// it ends, then goes on to the next. An instance retried while it is
// followed prints its new attempt after the failed one. Instances that end
// while an earlier one runs are printed whole (their latest attempt) when
// their turn comes.
//
// The job's instance list is asked for again only when the instance at
// hand has not finished in the last answer: following a big job that
// runs ahead of the reader costs one listing, not one per instance.
func followJob(ctx context.Context, c *client.Client, job string, f logsFlags, w, errw io.Writer) error {
	jobs := batchapi.NewClient(c)
	missing := 0
	i := max(f.instance, 0)
	var tasks []batchapi.TaskStatusView
	stale := true
	for {
		fresh := false
		if stale {
			var err error
			if tasks, err = jobs.Tasks(ctx, job); err != nil {
				if ctx.Err() != nil {
					return nil // interrupted while following
				}
				return fmt.Errorf("following job %s: %w", job, err)
			}
			stale, fresh = false, true
		}
		if i >= len(tasks) || (f.instance >= 0 && i > f.instance) {
			break
		}
		t := tasks[i]
		if t.State != "finished" && !fresh {
			stale = true // it may have moved on since that answer
			continue
		}
		switch {
		case t.Ended() && !t.Started(): // killed before it started
			fmt.Fprintf(errw, "instance %d did not run (%s)\n", t.Instance, t.State)
			i++
			continue
		case t.State != "running" && !t.Ended(): // pending or staging
			if sleepCtx(ctx, 100*time.Millisecond) != nil {
				return nil // interrupted while following
			}
			stale = true
			continue
		}
		if err := copyLog(ctx, c, t, f, !t.Ended(), w); err != nil {
			if ctx.Err() != nil {
				return nil
			}
			fmt.Fprintf(errw, "instance %d (%s): %v\n", t.Instance, t.TaskID, logError(err))
			missing++
		}
		if t.Ended() {
			// Ended in a fresh answer (or finished): the framework
			// relaunches a failed instance as it learns of the failure,
			// so no retry of it is to come.
			i++
			continue
		}
		// The attempt ran; a failed one may come back as a retry.
		retried, err := nextAttempt(ctx, jobs, job, t)
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return fmt.Errorf("following job %s: %w", job, err)
		}
		stale = true
		if !retried {
			i++
		}
	}
	if missing > 0 {
		return &exitError{code: 1, err: fmt.Errorf("job %s: the logs of %d instance(s) could not be read", job, missing)}
	}
	return nil
}

// nextAttempt waits until the framework has seen attempt t end, and
// reports whether it relaunched the instance as a new attempt.
func nextAttempt(ctx context.Context, jobs batchapi.Client, job string, t batchapi.TaskStatusView) (bool, error) {
	for {
		tasks, err := jobs.Tasks(ctx, job)
		if err != nil {
			return false, err
		}
		now := tasks[t.Instance]
		if now.Attempt != t.Attempt {
			return true, nil
		}
		if now.Ended() {
			return false, nil
		}
		if err := sleepCtx(ctx, 50*time.Millisecond); err != nil {
			return false, err
		}
	}
}

func sleepCtx(ctx context.Context, d time.Duration) error {
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-time.After(d):
		return nil
	}
}

// copyLog copies one attempt's log to w, each line after "[N] " with
// --prefix.
func copyLog(ctx context.Context, c *client.Client, t batchapi.TaskStatusView, f logsFlags, follow bool, w io.Writer) error {
	body, err := c.LogsOf(ctx, taskRef(t), f.stream(), follow)
	if err != nil {
		return err
	}
	defer body.Close()
	return writeLog(body, t, f, w)
}

// writeLog copies a log to w, each line after "[N] " with --prefix.
func writeLog(r io.Reader, t batchapi.TaskStatusView, f logsFlags, w io.Writer) error {
	if !f.prefix {
		_, err := io.Copy(w, r)
		return err
	}
	pw := &prefixWriter{w: w, prefix: []byte("[" + strconv.Itoa(t.Instance) + "] "), atStart: true}
	_, err := io.Copy(pw, r)
	if err == nil {
		err = pw.endLine()
	}
	return err
}

// instanceLog opens an ended instance's log: from its agent (nil if the
// master does not list it) when this machine can reach it, as Mesos' CLI
// reads sandboxes, so that the master relays none of a big job's logs; else
// through the master.
func instanceLog(ctx context.Context, c, agent *client.Client, t batchapi.TaskStatusView, stream string) (io.ReadCloser, error) {
	if agent != nil && t.FrameworkID != "" {
		body, err := agent.Stream(ctx, "/api/v1/sandbox/"+url.PathEscape(t.FrameworkID)+"/"+url.PathEscape(t.TaskID)+"/"+url.PathEscape(stream))
		if err == nil || client.IsStatus(err, http.StatusNotFound) {
			return body, err
		}
		// Not reachable from here, or not answering: the master may be.
	}
	return c.LogsOf(ctx, taskRef(t), stream, false)
}

// taskRef is where an instance's attempt ran, as the batch framework
// knows: its logs are had from its agent even once the master has
// forgotten the task (it keeps only the most recent ended ones).
func taskRef(t batchapi.TaskStatusView) client.TaskRef {
	return client.TaskRef{ID: t.TaskID, FrameworkID: t.FrameworkID, AgentID: t.AgentID}
}

// logError says why an instance's log is not to be had: a 404 means the
// task, or its sandbox, is gone.
func logError(err error) error {
	if client.IsStatus(err, http.StatusNotFound) {
		return fmt.Errorf("its logs are gone (the sandbox was removed after the agent's retention time, or the master forgot the task): %w", err)
	}
	return err
}

// prefixWriter starts every line with prefix.
type prefixWriter struct {
	w       io.Writer
	prefix  []byte
	atStart bool
}

func (p *prefixWriter) Write(b []byte) (int, error) {
	written := 0
	for len(b) > 0 {
		if p.atStart {
			if _, err := p.w.Write(p.prefix); err != nil {
				return written, err
			}
			p.atStart = false
		}
		line := b
		if i := bytes.IndexByte(b, '\n'); i >= 0 {
			line = b[:i+1]
			p.atStart = true
		}
		n, err := p.w.Write(line)
		written += n
		if err != nil {
			return written, err
		}
		b = b[len(line):]
	}
	return written, nil
}

// endLine ends a last line that lacks its newline, so that the next
// instance's prefix starts a line.
func (p *prefixWriter) endLine() error {
	if p.atStart {
		return nil
	}
	p.atStart = true
	_, err := p.w.Write([]byte("\n"))
	return err
}

// outputDir is a directory being filled: a hidden temporary directory
// beside the destination, renamed to it once complete, so that a failure
// leaves nothing half-written behind.
type outputDir struct {
	dest, tmp string
}

// newOutputDir checks that dest can be made (it must not exist, or be an
// empty directory) and makes the temporary directory beside it.
func newOutputDir(dest string) (*outputDir, error) {
	if dest == "" {
		return nil, usageError("give an output directory")
	}
	dest = filepath.Clean(dest)
	if fi, err := os.Lstat(dest); err == nil {
		if !fi.IsDir() {
			return nil, usageError("output directory %s: a file of that name exists; give a new directory", dest)
		}
		if entries, err := os.ReadDir(dest); err != nil || len(entries) > 0 {
			return nil, usageError("output directory %s exists and is not empty; give a new or empty directory", dest)
		}
	}
	parent := filepath.Dir(dest)
	tmp, err := os.MkdirTemp(parent, "."+filepath.Base(dest)+".partial-")
	if err != nil {
		return nil, usageError("output directory %s cannot be written: %v", dest, unwrapPathError(err))
	}
	return &outputDir{dest: dest, tmp: tmp}, nil
}

// unwrapPathError drops the temporary name from an error about it.
func unwrapPathError(err error) error {
	var pe *os.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}

// commit renames the complete directory to its destination.
func (d *outputDir) commit() error {
	if err := os.Chmod(d.tmp, 0o755); err != nil {
		d.abort()
		return fmt.Errorf("output directory %s: %w", d.dest, err)
	}
	if err := os.Rename(d.tmp, d.dest); err != nil {
		d.abort()
		return fmt.Errorf("output directory %s: moving the fetched outputs in place: %w", d.dest, err)
	}
	return nil
}

// abort removes what was written.
func (d *outputDir) abort() { _ = os.RemoveAll(d.tmp) }

// fetchParallel is how many logs are fetched at once.
const fetchParallel = 8

// fetchOutputs writes each started instance's stdout and stderr into
// dir/<instance>/. It names on errw each instance whose logs are gone and
// returns an error if any is, or if a file cannot be written; then dir is
// left without the outputs (the caller aborts it).
func fetchOutputs(ctx context.Context, c *client.Client, job string, tasks []batchapi.TaskStatusView, dir *outputDir, errw io.Writer) (int, error) {
	agents, err := agentClients(ctx, c)
	if err != nil {
		return 0, err
	}
	var (
		mu      sync.Mutex
		missing int
		written int
		failure error
		wg      sync.WaitGroup
	)
	work := make(chan batchapi.TaskStatusView)
	for range fetchParallel {
		wg.Go(func() {
			for t := range work {
				err := fetchInstance(ctx, c, agents[t.AgentID], t, filepath.Join(dir.tmp, strconv.Itoa(t.Instance)), errw, &mu)
				mu.Lock()
				switch {
				case err == nil:
					written++
				case errors.Is(err, errWrite):
					if failure == nil {
						failure = err
					}
				default:
					fmt.Fprintf(errw, "instance %d (%s): %v\n", t.Instance, t.TaskID, logError(err))
					missing++
				}
				mu.Unlock()
			}
		})
	}
	for _, t := range tasks {
		if !t.Started() {
			fmt.Fprintf(errw, "instance %d has not run (%s): nothing to fetch\n", t.Instance, t.State)
			continue
		}
		mu.Lock()
		stop := failure != nil
		mu.Unlock()
		if stop || ctx.Err() != nil {
			break
		}
		work <- t
	}
	close(work)
	wg.Wait()
	switch {
	case failure != nil:
		return 0, failure
	case ctx.Err() != nil:
		return 0, ctx.Err()
	case missing > 0:
		return 0, &exitError{code: 1, err: fmt.Errorf("job %s: the outputs of %d instance(s) are gone; nothing written to %s", job, missing, dir.dest)}
	}
	return written, nil
}

// errWrite marks a failure to write a fetched output locally.
var errWrite = errors.New("writing the outputs")

// fetchInstance writes one attempt's stdout and stderr into dir, and the
// files it left in /sandbox/out/ into dir/out/ (asked of its agent, which
// may be nil when the master no longer lists it). errw, under mu, hears
// of files that are not copied.
func fetchInstance(ctx context.Context, c, agent *client.Client, t batchapi.TaskStatusView, dir string, errw io.Writer, mu *sync.Mutex) error {
	if err := os.Mkdir(dir, 0o755); err != nil {
		return fmt.Errorf("%w: %w", errWrite, err)
	}
	for _, stream := range []string{"stdout", "stderr"} {
		body, err := instanceLog(ctx, c, agent, t, stream)
		if err != nil {
			return err
		}
		err = writeFile(filepath.Join(dir, stream), body)
		body.Close()
		if err != nil {
			return err
		}
	}
	if agent == nil {
		return fmt.Errorf("agent %s is gone: the files the task left in /sandbox/out/ with it", t.AgentID)
	}
	sandbox := "/api/v1/sandbox/" + url.PathEscape(t.FrameworkID) + "/" + url.PathEscape(t.TaskID) + "/files/"
	err := fetchOutTree(ctx, agent, sandbox, "out", filepath.Join(dir, "out"), func(skipped string) {
		mu.Lock()
		defer mu.Unlock()
		fmt.Fprintf(errw, "instance %d: skipped /sandbox/%s: not a regular file or directory\n", t.Instance, skipped)
	})
	if client.IsStatus(err, http.StatusNotFound) {
		return nil // the task left no out/
	}
	return err
}

// fetchOutTree copies the sandbox directory rel (under the agent's
// sandbox path) into the new local directory local.
func fetchOutTree(ctx context.Context, agent *client.Client, sandbox, rel, local string, skip func(string)) error {
	var entries []client.SandboxEntry
	if err := agent.Do(ctx, http.MethodGet, sandbox+escapePath(rel)+"/", nil, &entries); err != nil {
		return err
	}
	if err := os.Mkdir(local, 0o755); err != nil {
		return fmt.Errorf("%w: %w", errWrite, err)
	}
	for _, e := range entries {
		if e.Name == "" || e.Name == "." || e.Name == ".." || strings.ContainsAny(e.Name, "/\x00") {
			skip(rel + "/" + e.Name)
			continue
		}
		child, childLocal := rel+"/"+e.Name, filepath.Join(local, e.Name)
		switch e.Type {
		case "dir":
			if err := fetchOutTree(ctx, agent, sandbox, child, childLocal, skip); err != nil {
				return err
			}
		case "file":
			body, err := agent.Stream(ctx, sandbox+escapePath(child))
			if err != nil {
				return err
			}
			err = writeFile(childLocal, body)
			body.Close()
			if err != nil {
				return err
			}
		default:
			skip(child)
		}
	}
	return nil
}

// escapePath escapes each component of a slash-separated path.
func escapePath(p string) string {
	parts := strings.Split(p, "/")
	for i, part := range parts {
		parts[i] = url.PathEscape(part)
	}
	return strings.Join(parts, "/")
}

// agentClients makes a client for each agent's HTTP API, by agent id.
func agentClients(ctx context.Context, c *client.Client) (map[string]*client.Client, error) {
	agents, err := c.Agents(ctx)
	if err != nil {
		return nil, fmt.Errorf("listing the agents: %w", err)
	}
	out := map[string]*client.Client{}
	for _, a := range agents {
		if a.HTTPAddress == "" {
			continue
		}
		ac, err := client.New(strings.TrimRight(a.HTTPAddress, "/"))
		if err != nil {
			return nil, fmt.Errorf("agent %s at %q: %w", a.ID, a.HTTPAddress, err)
		}
		out[a.ID] = ac
	}
	return out, nil
}

// writeFile streams r into a new file at path; a failure to read r is
// returned as it is, one to write marked errWrite.
func writeFile(path string, r io.Reader) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
	if err != nil {
		return fmt.Errorf("%w: %w", errWrite, err)
	}
	_, err = io.Copy(f, r)
	if cerr := f.Close(); err == nil && cerr != nil {
		return fmt.Errorf("%w: %w", errWrite, cerr)
	}
	if err != nil {
		var pe *os.PathError
		if errors.As(err, &pe) {
			return fmt.Errorf("%w: %w", errWrite, err)
		}
		return fmt.Errorf("reading %s: %w", filepath.Base(path), err)
	}
	return nil
}

// fetchJob fetches the outputs of job into dir, all or nothing.
func fetchJob(ctx context.Context, c *client.Client, job string, dir *outputDir, errw io.Writer) error {
	tasks, ok, err := jobTasks(ctx, c, job)
	if err == nil && !ok {
		err = &exitError{code: 1, err: fmt.Errorf("no job named %q (see pando jobs)", job)}
	}
	if err != nil {
		dir.abort()
		return err
	}
	n, err := fetchOutputs(ctx, c, job, tasks, dir, errw)
	if err != nil {
		dir.abort()
		return err
	}
	if err := dir.commit(); err != nil {
		return err
	}
	fmt.Fprintf(errw, "wrote the stdout, stderr and /sandbox/out/ files of %d instance(s) of job %s into %s\n", n, job, dir.dest)
	return nil
}

func newFetchCmd(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "fetch JOB DIR",
		Short: "Write each instance's stdout, stderr and /sandbox/out/ files into DIR/<instance>/",
		Long: `Writes the stdout and stderr of every instance of a batch job (its latest
attempt) into DIR/<instance>/stdout and DIR/<instance>/stderr, and the files
it left under /sandbox/out/ into DIR/<instance>/out/. DIR must not exist, or
be empty; it appears only once every output is fetched. Outputs stay
fetchable for the agents' sandbox retention time.`,
		Args: cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := g.client()
			if err != nil {
				return err
			}
			dir, err := newOutputDir(args[1])
			if err != nil {
				return err
			}
			return fetchJob(cmd.Context(), c, args[0], dir, cmd.ErrOrStderr())
		},
	}
}
