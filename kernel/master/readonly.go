package master

import (
	"github.com/pandodc/pando/kernel/kernelpb"
	"github.com/pandodc/pando/kernel/resources"
)

// Views is what a query may ask of the master: its read-only face. The
// shell hands queries a Views, never the *Master, so a query cannot step
// the state machine or run a round; every change goes through Step, Tick
// and Allocate.
type Views interface {
	Config() Config
	Agents() []AgentView
	UnreachableAgents() []AgentView
	Agent(id string) (AgentView, bool)
	Frameworks() []FrameworkView
	Framework(id string) (FrameworkView, bool)
	Tasks(f TaskFilter) []TaskView
	Task(frameworkID, taskID string) (TaskView, bool)
	Offers() []OfferView
	Counters() Counters
	ActiveTasksByState() map[kernelpb.TaskState]int
	Available(agentID string) resources.Resources
	RegistryAgents() []KnownAgent
	RegistryFrameworks() []KnownFramework
	Roles() []RoleView
	RegistryWeights() map[string]float64
}

// ReadOnly returns the master's Views. The value behind it holds the
// master unexported, so a type assertion cannot get the *Master back.
func (m *Master) ReadOnly() Views { return readOnly{m} }

type readOnly struct{ m *Master }

func (r readOnly) Config() Config                            { return r.m.Config() }
func (r readOnly) Agents() []AgentView                       { return r.m.Agents() }
func (r readOnly) UnreachableAgents() []AgentView            { return r.m.UnreachableAgents() }
func (r readOnly) Agent(id string) (AgentView, bool)         { return r.m.Agent(id) }
func (r readOnly) Frameworks() []FrameworkView               { return r.m.Frameworks() }
func (r readOnly) Framework(id string) (FrameworkView, bool) { return r.m.Framework(id) }
func (r readOnly) Tasks(f TaskFilter) []TaskView             { return r.m.Tasks(f) }
func (r readOnly) Task(frameworkID, taskID string) (TaskView, bool) {
	return r.m.Task(frameworkID, taskID)
}
func (r readOnly) Offers() []OfferView                            { return r.m.Offers() }
func (r readOnly) Counters() Counters                             { return r.m.Counters() }
func (r readOnly) ActiveTasksByState() map[kernelpb.TaskState]int { return r.m.ActiveTasksByState() }
func (r readOnly) Available(agentID string) resources.Resources   { return r.m.Available(agentID) }
func (r readOnly) RegistryAgents() []KnownAgent                   { return r.m.RegistryAgents() }
func (r readOnly) RegistryFrameworks() []KnownFramework           { return r.m.RegistryFrameworks() }
func (r readOnly) Roles() []RoleView                              { return r.m.Roles() }
func (r readOnly) RegistryWeights() map[string]float64            { return r.m.RegistryWeights() }
