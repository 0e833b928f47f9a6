package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"

	"github.com/spf13/cobra"

	"github.com/pandodc/pando/actors/artifacts"
	"github.com/pandodc/pando/frameworks/batch/batchapi"
	"github.com/pandodc/pando/kernel/kernelpb"
	"github.com/pandodc/pando/sdk/client"
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

// inputFlags are `pando run`'s inputs: files and directories every
// instance reads, and the files of which each instance reads one.
type inputFlags struct {
	files []string
	dirs  []string
	each  string
}

// localInput is one input on this machine, checked before anything is
// uploaded so that a typo costs no upload.
type localInput struct {
	local string // the file or directory here
	name  string // what instances and summaries call it
	dir   bool
}

// check finds every input and says clearly what is wrong with the first
// bad one; nothing is uploaded yet.
func (f *inputFlags) check() (shared, each []localInput, err error) {
	seen := map[string]string{}
	add := func(local string, dir bool) error {
		fi, err := os.Stat(local)
		switch {
		case errors.Is(err, fs.ErrNotExist):
			return usageError("input %s: no such file or directory", local)
		case err != nil:
			return usageError("input %s: %v", local, err)
		case dir && !fi.IsDir():
			return usageError("--dir %s is not a directory (give files with --file)", local)
		case !dir && !fi.Mode().IsRegular():
			return usageError("--file %s is not a regular file (give directories with --dir)", local)
		}
		if err := readable(local, dir); err != nil {
			return err
		}
		name := filepath.Base(filepath.Clean(local))
		if other, ok := seen[name]; ok {
			return usageError("inputs %s and %s would both be %s/%s: rename one", other, local, kernelpb.InputRoot, name)
		}
		seen[name] = local
		shared = append(shared, localInput{local: local, name: name, dir: dir})
		return nil
	}
	for _, p := range f.files {
		if err := add(p, false); err != nil {
			return nil, nil, err
		}
	}
	for _, p := range f.dirs {
		if err := add(p, true); err != nil {
			return nil, nil, err
		}
	}
	var mounts []*kernelpb.Input
	for _, in := range shared {
		mounts = append(mounts, &kernelpb.Input{Path: kernelpb.InputRoot + "/" + in.name, Archive: in.dir})
	}
	if len(f.dirs) > 0 && f.each != "" {
		mounts = append(mounts, &kernelpb.Input{Path: batchapi.EachPath})
	}
	if err := artifacts.CheckMountPrefixes(mounts); err != nil {
		return nil, nil, usageError("%v", err)
	}
	if f.each == "" {
		return shared, nil, nil
	}
	if _, ok := seen[filepath.Base(batchapi.EachPath)]; ok {
		return nil, nil, usageError("an input named %s would hide each instance's own input at %s: rename it", filepath.Base(batchapi.EachPath), batchapi.EachPath)
	}
	matches, err := filepath.Glob(f.each)
	if err != nil {
		return nil, nil, usageError("--each %q is not a valid pattern: %v", f.each, err)
	}
	for _, m := range matches {
		fi, err := os.Stat(m)
		if err != nil {
			return nil, nil, usageError("--each input %s: %v", m, err)
		}
		if !fi.Mode().IsRegular() {
			continue // a directory the pattern happens to match
		}
		if err := readable(m, false); err != nil {
			return nil, nil, err
		}
		each = append(each, localInput{local: m, name: m})
	}
	if len(each) == 0 {
		return nil, nil, usageError("--each %q matches no file: check the pattern (quote it, so that the shell does not expand it)", f.each)
	}
	return shared, each, nil
}

// readable opens the file (or walks the directory) to find unreadable
// files before the job is submitted.
func readable(local string, dir bool) error {
	if !dir {
		fh, err := os.Open(local)
		if err != nil {
			return usageError("input %s cannot be read: %v", local, err)
		}
		return fh.Close()
	}
	return filepath.WalkDir(local, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return usageError("--dir %s: %v", local, err)
		}
		switch {
		case d.IsDir():
			return nil
		case !d.Type().IsRegular():
			return usageError("--dir %s holds %s, which is not a regular file or directory: inputs hold only those", local, p)
		}
		fh, err := os.Open(p)
		if err != nil {
			return usageError("--dir %s: %s cannot be read: %v", local, p, err)
		}
		return fh.Close()
	})
}

// upload sends every input to the master, streamed, and adds them to spec.
func uploadInputs(ctx context.Context, c *client.Client, spec *batchapi.JobSpec, shared, each []localInput) error {
	for _, in := range shared {
		digest, err := uploadInput(ctx, c, in)
		if err != nil {
			return err
		}
		spec.Inputs = append(spec.Inputs, batchapi.Input{Digest: digest, Path: kernelpb.InputRoot + "/" + in.name, Archive: in.dir, Name: in.local})
	}
	for _, in := range each {
		digest, err := uploadInput(ctx, c, in)
		if err != nil {
			return err
		}
		spec.Each = append(spec.Each, batchapi.Input{Digest: digest, Name: in.name})
	}
	return nil
}

// uploadInput streams one file, or a directory as a tar archive.
func uploadInput(ctx context.Context, c *client.Client, in localInput) (string, error) {
	var body io.Reader
	if in.dir {
		pr, pw := io.Pipe()
		go func() { pw.CloseWithError(artifacts.TarDir(pw, in.local)) }()
		defer pr.Close()
		body = pr
	} else {
		fh, err := os.Open(in.local)
		if err != nil {
			return "", usageError("input %s cannot be read: %v", in.local, err)
		}
		defer fh.Close()
		body = fh
	}
	art, err := c.UploadStream(ctx, body, "")
	if client.IsStatus(err, http.StatusRequestEntityTooLarge) {
		return "", usageError("input %s: %v", in.local, err)
	}
	if err != nil {
		return "", fmt.Errorf("uploading input %s: %w", in.local, err)
	}
	return art.Digest, nil
}
