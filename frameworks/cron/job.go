package cron

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"regexp"
	"strings"
	"time"

	"github.com/pandodc/pando/sdk"
)

// Errors of the API; test with errors.Is.
var (
	// ErrInvalid: the job is malformed (HTTP 400).
	ErrInvalid = errors.New("invalid job")
	// ErrImpossible: the cluster can never run the job (HTTP 422).
	ErrImpossible = errors.New("job cannot run on this cluster")
	// ErrNotFound: no job has that name (HTTP 404).
	ErrNotFound = errors.New("no such job")
	// ErrConflict: the change would break other jobs (HTTP 409).
	ErrConflict = errors.New("job conflict")
)

// Job is a job in Chronos's JSON shape. It runs a WASM module (Module) or
// a container (Container); Command, with Shell, is the container's shell
// command, Arguments the module's or the container's arguments. A job
// has either a Schedule or Parents.
type Job struct {
	Name                 string            `json:"name"`
	Description          string            `json:"description,omitempty"`
	Owner                string            `json:"owner,omitempty"`
	OwnerName            string            `json:"ownerName,omitempty"`
	Command              string            `json:"command,omitempty"`
	Shell                bool              `json:"shell"`
	Arguments            []string          `json:"arguments,omitempty"`
	Module               string            `json:"module,omitempty"`
	Container            *Container        `json:"container,omitempty"`
	Schedule             string            `json:"schedule,omitempty"`
	ScheduleTimeZone     string            `json:"scheduleTimeZone,omitempty"`
	Parents              []string          `json:"parents,omitempty"`
	Retries              int               `json:"retries"`
	Epsilon              string            `json:"epsilon"`
	Concurrent           bool              `json:"concurrent"`
	Disabled             bool              `json:"disabled"`
	CPUs                 float64           `json:"cpus"`
	Mem                  float64           `json:"mem"`
	Disk                 float64           `json:"disk"`
	Env                  map[string]string `json:"env,omitempty"`
	EnvironmentVariables []EnvVar          `json:"environmentVariables,omitempty"`
}

// Container is the image a container job runs: an image name the master
// holds ("busybox:latest") or an image tarball's digest.
type Container struct {
	Type  string `json:"type,omitempty"` // "DOCKER" or "MESOS", as Chronos; ignored
	Image string `json:"image"`
}

// EnvVar is Chronos's form of an environment variable.
type EnvVar struct {
	Name  string `json:"name"`
	Value string `json:"value"`
}

// Defaults, as Chronos's (mem and disk in MiB; disk 0 asks for none).
const (
	DefaultRetries = 2
	DefaultEpsilon = "PT60S"
	DefaultCPUs    = 0.1
	DefaultMem     = 128
)

// MaxRetries bounds Job.Retries.
const MaxRetries = 100

// DecodeJobs reads one job, or an array of jobs, from JSON. Unknown
// fields are errors naming the field; missing ones take the defaults.
func DecodeJobs(r io.Reader) ([]Job, error) {
	raw, err := io.ReadAll(io.LimitReader(r, 1<<20))
	if err != nil {
		return nil, fmt.Errorf("%w: reading the body: %v", ErrInvalid, err)
	}
	raw = bytes.TrimSpace(raw)
	var items []json.RawMessage
	if len(raw) > 0 && raw[0] == '[' {
		if err := json.Unmarshal(raw, &items); err != nil {
			return nil, fmt.Errorf("%w: not a JSON array of jobs: %v", ErrInvalid, err)
		}
	} else {
		items = []json.RawMessage{raw}
	}
	jobs := make([]Job, 0, len(items))
	for i, item := range items {
		j := Job{Shell: true, Retries: DefaultRetries, Epsilon: DefaultEpsilon, CPUs: DefaultCPUs, Mem: DefaultMem}
		dec := json.NewDecoder(bytes.NewReader(item))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&j); err != nil {
			return nil, fmt.Errorf("%w: job %d is not a job in Chronos's JSON shape: %v", ErrInvalid, i+1, strings.TrimPrefix(err.Error(), "json: "))
		}
		if dec.More() {
			return nil, fmt.Errorf("%w: job %d: unexpected data after the job's JSON object", ErrInvalid, i+1)
		}
		jobs = append(jobs, j)
	}
	return jobs, nil
}

var validName = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_.-]{0,99}$`)

// compiled is a job with its schedule and epsilon parsed.
type compiled struct {
	sched   Schedule // nil for a dependent job
	epsilon time.Duration
}

// compile checks everything that can be checked without the cluster and
// returns the parsed parts. Errors name the field.
func compile(j Job) (compiled, error) {
	var c compiled
	bad := func(format string, args ...any) (compiled, error) {
		return c, fmt.Errorf("%w %q: "+format, append([]any{ErrInvalid, j.Name}, args...)...)
	}
	if !validName.MatchString(j.Name) {
		return bad("name must be 1 to 100 letters, digits, '_', '.' or '-', starting with a letter or digit")
	}
	switch {
	case j.Schedule == "" && len(j.Parents) == 0:
		return bad("give a schedule (POST /v1/scheduler/iso8601) or parents (POST /v1/scheduler/dependency)")
	case j.Schedule != "" && len(j.Parents) > 0:
		return bad("schedule and parents exclude each other: a job runs on its schedule or after its parents")
	case j.Schedule != "":
		s, err := ParseSchedule(j.Schedule, j.ScheduleTimeZone)
		if err != nil {
			return bad("%v", err)
		}
		c.sched = s
	}
	for _, p := range j.Parents {
		if p == j.Name {
			return bad("parents: a job cannot be its own parent")
		}
	}
	p, err := ParsePeriod(j.Epsilon)
	if err != nil || p.Years != 0 || p.Months != 0 {
		return bad("epsilon %q must be a duration in days, hours, minutes or seconds (PT60S)", j.Epsilon)
	}
	c.epsilon = p.Approx()
	switch {
	case j.Retries < 0 || j.Retries > MaxRetries:
		return bad("retries %d must be from 0 to %d", j.Retries, MaxRetries)
	case j.CPUs <= 0 || j.Mem <= 0 || j.Disk < 0:
		return bad("cpus and mem must be positive, disk not negative (cpus %g, mem %g, disk %g)", j.CPUs, j.Mem, j.Disk)
	case (j.Module == "") == (j.Container == nil):
		return bad("give exactly one of module (a WASM module's sha256:<hex>, from `pando upload`) and container ({\"image\": \"busybox:latest\"})")
	case j.Module != "" && j.Command != "":
		return bad("command: a WASM job has no command; put the module's arguments in arguments")
	case j.Container != nil && j.Container.Image == "":
		return bad("container.image is empty")
	}
	if j.Module != "" {
		if err := sdk.CheckDigest(j.Module); err != nil {
			return bad("module: %v", err)
		}
	}
	for _, e := range j.EnvironmentVariables {
		if e.Name == "" {
			return bad("environmentVariables: a variable has no name")
		}
	}
	if _, err := j.need(); err != nil {
		return bad("%v", err)
	}
	return c, nil
}

// need is what each run asks for.
func (j Job) need() (sdk.Resources, error) {
	text := fmt.Sprintf("cpus:%g;mem:%dMiB", j.CPUs, int64(j.Mem+0.5))
	if j.Disk > 0 {
		text += fmt.Sprintf(";disk:%dMiB", int64(j.Disk+0.5))
	}
	return sdk.ParseResources(text)
}

// task is the job's task builder, with the image resolved to img.
func (j Job) task(img sdk.Image) sdk.TaskBuilder {
	need, _ := j.need()
	var tb sdk.TaskBuilder
	if j.Module != "" {
		tb = sdk.WasmTask(j.Module, j.Arguments...)
	} else {
		tb = sdk.ContainerTask(img)
		switch {
		case j.Command != "" && j.Shell:
			tb = tb.Command("/bin/sh", "-c", j.Command).Args(j.Arguments...)
		case j.Command != "":
			tb = tb.Command(j.Command).Args(j.Arguments...)
		case len(j.Arguments) > 0:
			tb = tb.Args(j.Arguments...)
		}
	}
	env := maps.Clone(j.Env)
	if env == nil {
		env = map[string]string{}
	}
	for _, e := range j.EnvironmentVariables {
		env[e.Name] = e.Value
	}
	env["CHRONOS_JOB_NAME"], env["PANDO_CRON_JOB"] = j.Name, j.Name
	return tb.Resources(need).Env(env).Labels(map[string]string{"cron.job": j.Name, "owner": j.Owner})
}
