package services

import (
	"fmt"
	"maps"
	"math"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/pandodc/pando/sdk"
)

// Placement: which offer takes an instance (constraints, resources, ports,
// spread), and the task it runs.

// Answer is what to do with a round of offers.
type Answer struct {
	Accept  map[string][]*sdk.TaskInfo // by offer id
	Decline []string
}

type offerRoom struct {
	o      *sdk.Offer
	remain sdk.Resources
}

// Offers places the instances the apps want on offers.
func (c *Core) Offers(now time.Time, offers []*sdk.Offer) Answer {
	ans := Answer{Accept: map[string][]*sdk.TaskInfo{}}
	rooms := make([]*offerRoom, 0, len(offers))
	for _, o := range offers {
		r, err := sdk.OfferResources(o)
		if err != nil {
			ans.Decline = append(ans.Decline, o.GetId())
			continue
		}
		rooms = append(rooms, &offerRoom{o: o, remain: r})
	}
	for _, id := range c.order {
		s := c.apps[id]
		if !c.mayLaunch(now, s) {
			continue
		}
		s.why = sdk.Why{}
		for range s.want {
			if !c.place(now, id, s, rooms, ans.Accept) {
				break
			}
			c.dirty(id)
		}
	}
	for _, r := range rooms {
		if len(ans.Accept[r.o.GetId()]) == 0 {
			ans.Decline = append(ans.Decline, r.o.GetId())
		}
	}
	c.plan(now)
	return ans
}

// place launches one instance of s on the best room, recording why
// others were turned down; false if none fits.
func (c *Core) place(now time.Time, id string, s *appState, rooms []*offerRoom, accept map[string][]*sdk.TaskInfo) bool {
	t := s.target()
	var best *offerRoom
	var bestNeed sdk.Resources
	var bestPorts []uint32
	bestLoad := 0
	var why sdk.Why
	for _, r := range rooms {
		why.Looked()
		if failed := c.violates(s, t.Constraints, r.o); failed != "" {
			why.Fails(failed)
			continue
		}
		if t.Image != "" && !sdk.HasRuntime("container").Holds(r.o) {
			why.Fails("runtimes has container")
			continue
		}
		ports, _, err := sdk.TakePorts(r.remain, len(t.PortDefinitions))
		if err != nil {
			why.Fails(fmt.Sprintf("%d free ports", len(t.PortDefinitions)))
			continue
		}
		need, err := taskResources(t)
		if need = need.Add(ports); err != nil || !r.remain.Contains(need) {
			why.Lacks(r.o.GetHostname(), r.remain, need)
			continue
		}
		// Spread: the host with the fewest of the app's instances.
		load := 0
		for _, in := range s.inst {
			if in.Host == r.o.GetHostname() {
				load++
			}
		}
		if best == nil || load < bestLoad {
			best, bestNeed, bestPorts, bestLoad = r, need, sdk.PortsOf(ports), load
		}
	}
	if best == nil {
		s.why = why
		return false
	}
	best.remain, _ = best.remain.Subtract(bestNeed)
	c.seq++
	taskID := strings.ReplaceAll(strings.TrimPrefix(id, "/"), "/", "_") + "." + strconv.Itoa(c.seq)
	attrs := map[string]string{"hostname": best.o.GetHostname()} // as sdk.OfferAttribute reads it
	maps.Copy(attrs, best.o.GetAttributes())
	in := &Instance{
		ID: taskID, AppID: id, AgentID: best.o.GetAgentId(), Host: best.o.GetHostname(), Ports: bestPorts,
		Version: t.Version, ConfigVersion: t.VersionInfo.LastConfigChangeAt, State: sdk.TaskStaging.String(),
		StagedAt: now, Attributes: attrs,
	}
	s.inst[taskID] = in
	c.tasks[taskID] = id
	s.want--
	accept[best.o.GetId()] = append(accept[best.o.GetId()], buildTask(t, in, best.o, bestNeed))
	return true
}

// violates returns the first Marathon constraint offer o fails for app s,
// counting the app's instances (placed in this round too) per value.
func (c *Core) violates(s *appState, cs [][]string, o *sdk.Offer) string {
	for _, cn := range cs {
		field, op, value := cn[0], cn[1], ""
		if len(cn) == 3 {
			value = cn[2]
		}
		v, ok := sdk.OfferAttribute(o, field)
		count := map[string]int{}
		for _, in := range s.inst {
			if !in.Killing {
				if iv, has := in.Attributes[field]; has {
					count[iv]++
				}
			}
		}
		holds := ok
		switch op {
		case "UNIQUE":
			holds = ok && count[v] == 0
		case "CLUSTER":
			if value == "" {
				for iv := range count {
					value = iv
				}
			}
			holds = ok && (value == "" || v == value)
		case "LIKE", "UNLIKE":
			m := regexp.MustCompile("^(?:" + value + ")$").MatchString(v)
			holds = ok && m == (op == "LIKE") || !ok && op == "UNLIKE"
		case "MAX_PER":
			limit, _ := strconv.Atoi(value)
			holds = ok && count[v] < limit
		case "GROUP_BY":
			// Even spread: no value may get ahead of the least used one.
			groups, _ := strconv.Atoi(value)
			least := math.MaxInt
			if len(count) < groups || len(count) == 0 {
				least = 0
			}
			for _, k := range count {
				least = min(least, k)
			}
			holds = ok && (count[v] <= least || count[v] == 0)
		}
		if !holds {
			return strings.Join(cn, " ")
		}
	}
	return ""
}

func taskResources(t App) (sdk.Resources, error) {
	text := fmt.Sprintf("cpus:%g;mem:%gMiB", t.CPUs, t.Mem)
	if t.Disk > 0 {
		text += fmt.Sprintf(";disk:%gMiB", t.Disk)
	}
	return sdk.ParseResources(text)
}

// buildTask makes the TaskInfo of an instance: Marathon's environment
// (PORT0.., PORTS, HOST, MARATHON_APP_ID, ...) and the health check on
// the port the instance got.
func buildTask(t App, in *Instance, o *sdk.Offer, need sdk.Resources) *sdk.TaskInfo {
	var b sdk.TaskBuilder
	if t.Module != "" {
		b = sdk.WasmTask(t.Module, t.Args...)
	} else {
		b = sdk.ContainerTask(t.resolved())
		if t.Cmd != "" {
			b = b.Command("sh", "-c", t.Cmd)
		} else if len(t.Args) > 0 {
			b = b.Args(t.Args...)
		}
	}
	env := map[string]string{"HOST": in.Host, "MARATHON_APP_ID": t.ID, "MARATHON_APP_VERSION": t.Version, "MESOS_TASK_ID": in.ID}
	ports := make([]string, len(in.Ports))
	for i, p := range in.Ports {
		ports[i] = strconv.FormatUint(uint64(p), 10)
		env["PORT"+strconv.Itoa(i)] = ports[i]
		if name := t.PortDefinitions[i].Name; name != "" {
			env["PORT_"+strings.ToUpper(strings.ReplaceAll(name, "-", "_"))] = ports[i]
		}
	}
	if len(ports) > 0 {
		env["PORT"], env["PORTS"] = ports[0], strings.Join(ports, ",")
	}
	if len(t.HealthChecks) > 0 {
		h := t.HealthChecks[0]
		sec := func(n int) time.Duration { return time.Duration(n) * time.Second }
		every, timeout, grace, fails := sec(h.IntervalSeconds), sec(h.TimeoutSeconds), sec(h.GracePeriodSeconds), uint32(*h.MaxConsecutiveFailures)
		var hc *sdk.HealthCheck
		switch h.Protocol {
		case "HTTP":
			hc = sdk.HTTPCheck(h.Path, every, timeout, grace, fails)
		case "TCP":
			hc = sdk.TCPCheck(every, timeout, grace, fails)
		default:
			hc = sdk.CommandCheck([]string{"sh", "-c", h.Command.Value}, every, timeout, grace, fails)
		}
		if h.Protocol != "COMMAND" {
			hc.Port = in.Ports[h.PortIndex]
		}
		hc.DelayMs = sec(h.DelaySeconds).Milliseconds()
		b = b.HealthCheck(hc)
	}
	return b.Resources(need).Env(t.Env).Env(env).Labels(t.Labels).Labels(map[string]string{"pando.app": t.ID, "pando.version": t.Version}).
		Name(t.ID).On(o, in.ID)
}
