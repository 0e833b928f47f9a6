package cron

import (
	"fmt"
	"strings"
)

// Graph is the jobs' DAG as JSON: a node per job, an edge per parent.
type Graph struct {
	Nodes []GraphNode `json:"nodes"`
	Edges []GraphEdge `json:"edges"`
}

// GraphNode is a job and how its last run ended.
type GraphNode struct {
	Name     string `json:"name"`
	Schedule string `json:"schedule,omitempty"`
	// Last is "succeeded", "failed", "skipped" or "" (never ran).
	Last string `json:"last"`
}

// GraphEdge says To runs after From.
type GraphEdge struct {
	From string `json:"from"`
	To   string `json:"to"`
}

// Graph returns the DAG of the jobs.
func (c *Core) Graph() Graph {
	g := Graph{Nodes: []GraphNode{}, Edges: []GraphEdge{}}
	for _, n := range c.names() {
		e := c.jobs[n]
		node := GraphNode{Name: n, Schedule: e.job.Schedule}
		if h := e.st.History; len(h) > 0 {
			node.Last = h[len(h)-1].State
		}
		g.Nodes = append(g.Nodes, node)
		for _, p := range e.job.Parents {
			g.Edges = append(g.Edges, GraphEdge{From: p, To: n})
		}
	}
	return g
}

// DOT is the graph in Graphviz's language, failed jobs in red.
func (g Graph) DOT() string {
	var b strings.Builder
	b.WriteString("digraph cron {\n")
	colors := map[string]string{RunSucceeded: "green", RunFailed: "red", RunSkipped: "gray"}
	for _, n := range g.Nodes {
		if col, ok := colors[n.Last]; ok {
			fmt.Fprintf(&b, "  %q [color=%s];\n", n.Name, col)
		} else {
			fmt.Fprintf(&b, "  %q;\n", n.Name)
		}
	}
	for _, e := range g.Edges {
		fmt.Fprintf(&b, "  %q -> %q;\n", e.From, e.To)
	}
	b.WriteString("}\n")
	return b.String()
}
