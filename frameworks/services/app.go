package services

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"github.com/pandodc/pando/sdk"
)

// Errors of the API; test with errors.Is.
var (
	ErrInvalid    = errors.New("invalid app")                    // 400
	ErrImpossible = errors.New("app cannot run on this cluster") // 422
	ErrNotFound   = errors.New("not found")                      // 404
	ErrConflict   = errors.New("conflict")                       // 409
)

// App is an application in Marathon's JSON shape. Pando adds Image (an
// image name or tarball digest, short for container.docker.image) and
// Module (a WASM module digest).
type App struct {
	ID              string            `json:"id"`
	Cmd             string            `json:"cmd,omitempty"`
	Args            []string          `json:"args,omitempty"`
	Image           string            `json:"image,omitempty"`
	Module          string            `json:"module,omitempty"`
	Container       *Container        `json:"container,omitempty"`
	CPUs            float64           `json:"cpus"`
	Mem             float64           `json:"mem"`
	Disk            float64           `json:"disk"`
	Instances       *int              `json:"instances,omitempty"`
	Env             map[string]string `json:"env,omitempty"`
	Labels          map[string]string `json:"labels,omitempty"`
	Constraints     [][]string        `json:"constraints,omitempty"`
	PortDefinitions []PortDefinition  `json:"portDefinitions,omitempty"`
	HealthChecks    []HealthCheck     `json:"healthChecks,omitempty"`
	UpgradeStrategy *UpgradeStrategy  `json:"upgradeStrategy,omitempty"`
	BackoffSeconds  float64           `json:"backoffSeconds,omitempty"`
	BackoffFactor   float64           `json:"backoffFactor,omitempty"`
	MaxLaunchDelay  float64           `json:"maxLaunchDelaySeconds,omitempty"`
	Dependencies    []string          `json:"dependencies,omitempty"`
	// Version and VersionInfo are set by the framework: when this version
	// was made, and when the app's task last changed (a change of
	// instances alone is a scaling, which restarts nothing).
	Version     string       `json:"version,omitempty"`
	VersionInfo *VersionInfo `json:"versionInfo,omitempty"`
	// ResolvedImage is the image tarball Image names, found at deploy.
	ResolvedImage *ResolvedImage `json:"resolvedImage,omitempty"`
}

// ResolvedImage is an image tarball's content address and the image in it.
type ResolvedImage struct {
	Digest string `json:"digest"`
	Name   string `json:"name,omitempty"`
}

func (a App) resolved() sdk.Image {
	if r := a.ResolvedImage; r != nil {
		return sdk.Image{Digest: r.Digest, Name: r.Name}
	}
	return sdk.Image{Digest: a.Image}
}

// Container is Marathon's container field; only the image is used.
type Container struct {
	Type   string  `json:"type,omitempty"`
	Docker *Docker `json:"docker,omitempty"`
}

// Docker names the image of a container.
type Docker struct {
	Image string `json:"image"`
}

// PortDefinition asks for one port from the offer; the task gets it as
// PORT<index> (and PORT_<NAME> when named).
type PortDefinition struct {
	Port     int    `json:"port"`
	Protocol string `json:"protocol,omitempty"`
	Name     string `json:"name,omitempty"`
}

// HealthCheck is checked by the agent beside each task.
type HealthCheck struct {
	Protocol               string   `json:"protocol"`
	Path                   string   `json:"path,omitempty"`
	PortIndex              int      `json:"portIndex"`
	Command                *Command `json:"command,omitempty"`
	GracePeriodSeconds     int      `json:"gracePeriodSeconds,omitempty"`
	IntervalSeconds        int      `json:"intervalSeconds,omitempty"`
	TimeoutSeconds         int      `json:"timeoutSeconds,omitempty"`
	MaxConsecutiveFailures *int     `json:"maxConsecutiveFailures,omitempty"`
	DelaySeconds           int      `json:"delaySeconds,omitempty"`
}

// Command is a COMMAND health check's shell command.
type Command struct {
	Value string `json:"value"`
}

// UpgradeStrategy bounds a rolling deploy: at least minimumHealthCapacity
// × instances stay healthy, at most (1 + maximumOverCapacity) × instances
// run.
type UpgradeStrategy struct {
	MinimumHealthCapacity *float64 `json:"minimumHealthCapacity,omitempty"`
	MaximumOverCapacity   *float64 `json:"maximumOverCapacity,omitempty"`
}

// VersionInfo is Marathon's: the last scaling and the last change of the
// task itself.
type VersionInfo struct {
	LastScalingAt      string `json:"lastScalingAt"`
	LastConfigChangeAt string `json:"lastConfigChangeAt"`
}

// DecodeApp reads one app from JSON, naming every unknown field.
func DecodeApp(data []byte) (App, error) {
	var app App
	var raw any
	if err := json.Unmarshal(data, &raw); err != nil {
		return app, fmt.Errorf("%w: malformed JSON: %v", ErrInvalid, err)
	}
	var unknown []string
	unknownFields(raw, reflect.TypeOf(app), "", &unknown)
	if len(unknown) > 0 {
		return app, fmt.Errorf("%w: unknown fields %s (Marathon's app fields: id, cmd, args, image, module, container, cpus, mem, disk, instances, env, labels, constraints, portDefinitions, healthChecks, upgradeStrategy, backoffSeconds, backoffFactor, maxLaunchDelaySeconds, dependencies)", ErrInvalid, strings.Join(unknown, ", "))
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	if err := dec.Decode(&app); err != nil {
		return app, fmt.Errorf("%w: %v", ErrInvalid, err)
	}
	return app, nil
}

// unknownFields lists the keys of v that t has no JSON field for.
func unknownFields(v any, t reflect.Type, path string, out *[]string) {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	switch v := v.(type) {
	case map[string]any:
		if t.Kind() != reflect.Struct {
			return
		}
		for key, val := range v {
			f, ok := fieldByJSON(t, key)
			if !ok {
				*out = append(*out, path+key)
				continue
			}
			unknownFields(val, f.Type, path+key+".", out)
		}
		slices.Sort(*out)
	case []any:
		if t.Kind() == reflect.Slice {
			for i, e := range v {
				unknownFields(e, t.Elem(), strings.TrimSuffix(path, ".")+"["+strconv.Itoa(i)+"].", out)
			}
		}
	}
}

func fieldByJSON(t reflect.Type, key string) (reflect.StructField, bool) {
	for i := range t.NumField() {
		f := t.Field(i)
		if name, _, _ := strings.Cut(f.Tag.Get("json"), ","); name == key {
			return f, true
		}
	}
	return reflect.StructField{}, false
}

var (
	idRE  = regexp.MustCompile(`^(/[a-z0-9]([a-z0-9-]*[a-z0-9])?)+$`)
	envRE = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)
)

// Normalize checks an app and fills in Marathon's defaults. Errors name
// the field.
func (a *App) Normalize() error {
	bad := func(format string, args ...any) error {
		return fmt.Errorf("%w: %s", ErrInvalid, fmt.Sprintf(format, args...))
	}
	if a.ID != "" && !strings.HasPrefix(a.ID, "/") {
		a.ID = "/" + a.ID
	}
	if !idRE.MatchString(a.ID) {
		return bad("id %q: use lowercase letters, digits and dashes, in /-separated segments (e.g. /web or /prod/db)", a.ID)
	}
	if a.Container != nil && a.Container.Docker != nil && a.Image == "" {
		a.Image = a.Container.Docker.Image
	}
	switch {
	case a.Image == "" && a.Module == "":
		return bad("give a container image (image or container.docker.image) or a WASM module (module)")
	case a.Image != "" && a.Module != "":
		return bad("give image or module, not both")
	case a.Module != "" && a.Cmd != "":
		return bad("cmd: a WASM module has no shell; give its arguments in args")
	case a.Cmd != "" && len(a.Args) > 0:
		return bad("give cmd or args, not both (as in Marathon)")
	}
	if a.Module != "" {
		if err := sdk.CheckDigest(a.Module); err != nil {
			return bad("module: %v", err)
		}
	}
	def := func(p *float64, v float64) {
		if *p == 0 {
			*p = v
		}
	}
	def(&a.CPUs, 1)
	def(&a.Mem, 128)
	def(&a.BackoffSeconds, 1)
	def(&a.BackoffFactor, 1.15)
	def(&a.MaxLaunchDelay, 300)
	if a.Instances == nil {
		one := 1
		a.Instances = &one
	}
	for name, v := range map[string]float64{"cpus": a.CPUs, "mem": a.Mem, "disk": a.Disk, "backoffSeconds": a.BackoffSeconds, "maxLaunchDelaySeconds": a.MaxLaunchDelay} {
		if v < 0 || math.IsNaN(v) || math.IsInf(v, 0) {
			return bad("%s is %v: want a positive number", name, v)
		}
	}
	if *a.Instances < 0 || *a.Instances > 10000 {
		return bad("instances is %d: want 0 to 10000", *a.Instances)
	}
	if !(a.BackoffFactor >= 1) || math.IsInf(a.BackoffFactor, 0) { // NaN too
		return bad("backoffFactor is %v: want 1 or more", a.BackoffFactor)
	}
	for k := range a.Env {
		if !envRE.MatchString(k) || k == "PORT" || strings.HasPrefix(k, "PORT_") || strings.HasPrefix(k, "PORT") && allDigits(k[4:]) {
			return bad("env %q: not a variable name, or one Pando sets (PORT, PORTn, PORT_NAME)", k)
		}
	}
	if a.UpgradeStrategy == nil {
		a.UpgradeStrategy = &UpgradeStrategy{}
	}
	us := a.UpgradeStrategy
	for name, p := range map[string]**float64{"minimumHealthCapacity": &us.MinimumHealthCapacity, "maximumOverCapacity": &us.MaximumOverCapacity} {
		if *p == nil {
			one := 1.0
			*p = &one
		}
		if v := **p; v < 0 || v > 1 || math.IsNaN(v) {
			return bad("upgradeStrategy.%s is %v: want 0 to 1", name, v)
		}
	}
	for i, c := range a.Constraints {
		if err := checkConstraint(c); err != nil {
			return bad("constraints[%d] %q: %v", i, c, err)
		}
	}
	for i, p := range a.PortDefinitions {
		if p.Protocol != "" && p.Protocol != "tcp" {
			return bad("portDefinitions[%d].protocol %q: only tcp", i, p.Protocol)
		}
		if p.Port < 0 || p.Port > 65535 {
			return bad("portDefinitions[%d].port %d: want 0 to 65535", i, p.Port)
		}
	}
	if len(a.HealthChecks) > 1 {
		return bad("healthChecks: the agent runs one health check per task; give one")
	}
	for i := range a.HealthChecks {
		if err := a.HealthChecks[i].normalize(len(a.PortDefinitions)); err != nil {
			return bad("healthChecks[%d].%v", i, err)
		}
	}
	for i, d := range a.Dependencies {
		if !strings.HasPrefix(d, "/") {
			a.Dependencies[i] = "/" + d
		}
		if a.Dependencies[i] == a.ID {
			return bad("dependencies: the app depends on itself")
		}
	}
	return nil
}

func allDigits(s string) bool {
	_, err := strconv.Atoi(s)
	return s != "" && err == nil
}

func (h *HealthCheck) normalize(ports int) error {
	switch h.Protocol = strings.TrimPrefix(strings.ToUpper(h.Protocol), "MESOS_"); h.Protocol {
	case "HTTP", "TCP":
		if h.PortIndex < 0 || h.PortIndex >= ports {
			return fmt.Errorf("portIndex %d: the app has %d ports in portDefinitions", h.PortIndex, ports)
		}
	case "COMMAND":
		if h.Command == nil || strings.TrimSpace(h.Command.Value) == "" {
			return errors.New("command.value: a COMMAND check needs a command")
		}
	default:
		return fmt.Errorf("protocol %q: use HTTP, TCP or COMMAND", h.Protocol)
	}
	for _, f := range []struct {
		v   *int
		def int
	}{{&h.GracePeriodSeconds, 300}, {&h.IntervalSeconds, 60}, {&h.TimeoutSeconds, 20}} {
		if *f.v < 0 {
			return fmt.Errorf("seconds must not be negative")
		}
		if *f.v == 0 {
			*f.v = f.def
		}
	}
	if h.MaxConsecutiveFailures == nil {
		three := 3
		h.MaxConsecutiveFailures = &three
	}
	if *h.MaxConsecutiveFailures < 0 || h.DelaySeconds < 0 {
		return errors.New("maxConsecutiveFailures and delaySeconds must not be negative")
	}
	return nil
}

// Marathon's constraint operators.
var constraintOps = map[string]bool{"UNIQUE": false, "CLUSTER": false, "GROUP_BY": false, "LIKE": true, "UNLIKE": true, "MAX_PER": true}

func checkConstraint(c []string) error {
	if len(c) < 2 || len(c) > 3 {
		return errors.New(`want ["field", "OPERATOR"] or ["field", "OPERATOR", "value"]`)
	}
	needsValue, ok := constraintOps[c[1]]
	if !ok {
		return fmt.Errorf("unknown operator %q (use UNIQUE, CLUSTER, GROUP_BY, LIKE, UNLIKE or MAX_PER)", c[1])
	}
	if needsValue && len(c) < 3 {
		return fmt.Errorf("%s needs a value", c[1])
	}
	if len(c) == 3 {
		switch c[1] {
		case "LIKE", "UNLIKE":
			if _, err := regexp.Compile("^(?:" + c[2] + ")$"); err != nil {
				return fmt.Errorf("bad regular expression: %v", err)
			}
		case "MAX_PER", "GROUP_BY":
			if n, err := strconv.Atoi(c[2]); err != nil || n < 1 {
				return fmt.Errorf("%s value %q: want a whole number, 1 or more", c[1], c[2])
			}
		}
	}
	return nil
}

// sameTask reports whether two versions run the same task, so that going
// from one to the other is a scaling, not a restart.
func sameTask(a, b App) bool {
	a.Instances, b.Instances = nil, nil
	a.Version, b.Version, a.VersionInfo, b.VersionInfo = "", "", nil, nil
	x, _ := json.Marshal(a)
	y, _ := json.Marshal(b)
	return bytes.Equal(x, y)
}

func (a App) instances() int { return *a.Instances }

// clone deep-copies an app through JSON (apps are small).
func (a App) clone() App {
	data, _ := json.Marshal(a)
	var out App
	_ = json.Unmarshal(data, &out)
	return out
}
