package main

import (
	"fmt"

	"github.com/spf13/cobra"
)

// newUploadCmd uploads a module for frameworks other than batch: they name
// modules by the content address this prints.
func newUploadCmd(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "upload FILE.wasm",
		Short: "Upload a WASM module to the master and print its content address (sha256:...)",
		Long: `Uploads the module and prints the address frameworks use to launch it
(WasmTask.module in the protocol, --module in examples/frameworks/hello).
Uploading the same bytes again gives the same address.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			module, err := readModule(args[0])
			if err != nil {
				return err
			}
			c, err := g.client()
			if err != nil {
				return err
			}
			art, err := c.Upload(cmd.Context(), module, "wasm")
			if err != nil {
				return fmt.Errorf("uploading %s: %w", args[0], err)
			}
			if g.json {
				return g.print(cmd.OutOrStdout(), art, "", nil)
			}
			_, err = fmt.Fprintln(cmd.OutOrStdout(), art.Digest)
			return err
		},
	}
}
