package main

import (
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/spf13/cobra"

	"github.com/pandodc/pando/sdk/client"
)

// newImageCmd manages the OCI images container tasks run. No registry is
// needed: images come as OCI image tarballs, uploaded to the master as
// content-addressed artifacts that agents fetch on first use.
func newImageCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "image",
		Short: "Import and list the container images tasks can run",
	}
	cmd.AddCommand(&cobra.Command{
		Use:   "import FILE.tar",
		Short: "Upload an OCI image tarball to the master",
		Long: `Uploads an OCI image-layout tarball (index.json, oci-layout, blobs/) and
lists the images it holds. Run them with pando run --image NAME -- CMD ARGS.
Make one without a registry with: go run ./examples/images/busybox -o busybox.tar`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			f, err := os.Open(args[0])
			if err != nil {
				return usageError("cannot read the image tarball: %v", err)
			}
			defer f.Close()
			c, err := g.client()
			if err != nil {
				return err
			}
			images, err := c.ImportImage(cmd.Context(), f)
			if err != nil {
				return fmt.Errorf("importing %s: %w", args[0], err)
			}
			return printImages(g, cmd.OutOrStdout(), images)
		},
	})
	cmd.AddCommand(&cobra.Command{
		Use:   "ls",
		Short: "List the images the master holds",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := g.client()
			if err != nil {
				return err
			}
			images, err := c.Images(cmd.Context())
			if err != nil {
				return err
			}
			return printImages(g, cmd.OutOrStdout(), images)
		},
	})
	return cmd
}

func printImages(g *globals, w io.Writer, images []client.Image) error {
	return g.print(w, images, "NAME\tPLATFORMS\tSIZE\tTARBALL", func(tw io.Writer) {
		for _, img := range images {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", img.Name, strings.Join(img.Platforms, ","), humanBytes(img.Size), shortDigest(img.Digest))
		}
	})
}

// shortDigest keeps a digest's first 12 hex digits, as docker does.
func shortDigest(d string) string {
	if len(d) > len("sha256:")+12 {
		return d[:len("sha256:")+12]
	}
	return d
}

// humanBytes writes n in the largest binary unit that keeps it >= 1.
func humanBytes(n int64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%dB", n)
	}
	div, exp := int64(unit), 0
	for m := n / unit; m >= unit; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f%ciB", float64(n)/float64(div), "KMGTPE"[exp])
}
