package main

import (
	"fmt"
	"io"
	"strconv"
	"strings"

	"github.com/spf13/cobra"

	"github.com/pandodc/pando/sdk/client"
)

// newRolesCmd is `pando roles`: the roles, their weights and shares.
func newRolesCmd(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "roles",
		Short: "List roles with their weights, frameworks and dominant shares",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := g.client()
			if err != nil {
				return err
			}
			roles, err := c.Roles(cmd.Context())
			if err != nil {
				return err
			}
			return g.print(cmd.OutOrStdout(), roles, "ROLE\tWEIGHT\tFRAMEWORKS\tSHARE", func(w io.Writer) {
				for _, r := range roles {
					fmt.Fprintf(w, "%s\t%g\t%d\t%.1f%%\n", r.Name, r.Weight, r.Frameworks, 100*r.Share)
				}
			})
		},
	}
}

// newWeightsCmd is `pando weights [ROLE=WEIGHT ...]`.
func newWeightsCmd(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "weights [ROLE=WEIGHT ...]",
		Short: "List the roles' weights, or set some",
		Long: `Without arguments, lists the weights operators set (every other role has
weight 1). With ROLE=WEIGHT arguments, sets those roles' weights; the others
keep theirs. A role of weight 2 is entitled to twice the share of a role of
weight 1 in DRF. The master keeps the weights in its registry: they survive
its restart and, with Consul, a failover.`,
		Example: `  pando weights eng=2 batch=0.5
  pando weights`,
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := g.client()
			if err != nil {
				return err
			}
			if len(args) > 0 {
				set, err := parseWeights(args)
				if err != nil {
					return err
				}
				if err := c.SetWeights(cmd.Context(), set); err != nil {
					return err
				}
			}
			weights, err := c.Weights(cmd.Context())
			if err != nil {
				return err
			}
			return g.print(cmd.OutOrStdout(), weights, "ROLE\tWEIGHT", func(w io.Writer) {
				for _, e := range weights {
					fmt.Fprintf(w, "%s\t%g\n", e.Role, e.Weight)
				}
			})
		},
	}
}

// parseWeights reads ROLE=WEIGHT arguments; the master checks the role
// names and that each weight is positive.
func parseWeights(args []string) ([]client.Weight, error) {
	out := make([]client.Weight, 0, len(args))
	for _, a := range args {
		role, value, ok := strings.Cut(a, "=")
		if !ok || role == "" {
			return nil, fmt.Errorf("%q is not ROLE=WEIGHT (e.g. eng=2)", a)
		}
		w, err := strconv.ParseFloat(value, 64)
		if err != nil {
			return nil, fmt.Errorf("weight of %q: %q is not a number (e.g. eng=2)", role, value)
		}
		out = append(out, client.Weight{Role: role, Weight: w})
	}
	return out, nil
}
