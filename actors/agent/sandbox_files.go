package agent

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"os"
	"slices"
	"strings"
	"syscall"

	"golang.org/x/sys/unix"

	"github.com/pandodc/pando/internal/httpjson"
	kagent "github.com/pandodc/pando/kernel/agent"
	"github.com/pandodc/pando/sdk/client"
)

// outDir is the part of a sandbox whose files are served: what a task
// leaves in /sandbox/out/ is its output.
const outDir = "out"

// serveFile serves GET .../sandbox/{framework}/{task}/files/out/{path...}:
// a regular file's content, or a directory's entries as JSON
// ([]client.SandboxEntry). No symbolic link is followed, at any step: the
// sandbox is the task's to write, and a link could point at a host file.
func (s *Sandboxes) serveFile(w http.ResponseWriter, r *http.Request) {
	taskID := kagent.TaskRef{FrameworkID: r.PathValue("framework"), TaskID: r.PathValue("task")}
	dir, err := sandboxDir(s.root, taskID)
	if err != nil {
		httpjson.Error(w, http.StatusBadRequest, "%v", err)
		return
	}
	parts, err := outPath(r.PathValue("path"))
	if err != nil {
		httpjson.Error(w, http.StatusBadRequest, "%v", err)
		return
	}
	f, err := openBeneath(dir, parts)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		if _, dirErr := os.Stat(dir); dirErr != nil && !s.known(taskID) {
			httpjson.Error(w, http.StatusNotFound, "task %s has no sandbox on this agent (not started yet, or its sandbox was removed)", taskID.TaskID)
			return
		}
		httpjson.Error(w, http.StatusNotFound, "task %s left no %s in its sandbox", taskID.TaskID, strings.Join(parts, "/"))
		return
	case errors.Is(err, errNotServed):
		httpjson.Error(w, http.StatusForbidden, "%s of task %s: %v", strings.Join(parts, "/"), taskID.TaskID, err)
		return
	case err != nil:
		httpjson.Error(w, http.StatusInternalServerError, "opening %s of task %s: %v", strings.Join(parts, "/"), taskID.TaskID, err)
		return
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		httpjson.Error(w, http.StatusInternalServerError, "%v", err)
		return
	}
	if fi.IsDir() {
		entries, err := listDir(f)
		if err != nil {
			httpjson.Error(w, http.StatusInternalServerError, "listing %s of task %s: %v", strings.Join(parts, "/"), taskID.TaskID, err)
			return
		}
		httpjson.Write(w, http.StatusOK, entries)
		return
	}
	w.Header().Set("Content-Type", "application/octet-stream")
	_, _ = io.Copy(w, f)
}

// outPath splits a requested path into its components, which must start
// with out and hold no "." or "..".
func outPath(p string) ([]string, error) {
	var parts []string
	for _, part := range strings.Split(p, "/") {
		switch part {
		case "":
			continue
		case ".", "..":
			return nil, fmt.Errorf("path %q: . and .. are not allowed", p)
		}
		parts = append(parts, part)
	}
	if len(parts) == 0 || parts[0] != outDir {
		return nil, fmt.Errorf("path %q: only the files under %s/ are served", p, outDir)
	}
	return parts, nil
}

// errNotServed refuses a symbolic link, a FIFO, a device...
var errNotServed = errors.New("not a regular file or directory (a symbolic link?); refusing to serve it")

// openBeneath opens dir/parts[0]/.../parts[n-1] one component at a time,
// following no symbolic link, and returns it only if it is a regular file
// or a directory.
func openBeneath(dir string, parts []string) (*os.File, error) {
	fd, err := syscall.Open(dir, syscall.O_RDONLY|syscall.O_DIRECTORY|syscall.O_CLOEXEC, 0)
	if err != nil {
		return nil, &os.PathError{Op: "open", Path: dir, Err: err}
	}
	for i, part := range parts {
		flags := syscall.O_RDONLY | syscall.O_NOFOLLOW | syscall.O_NONBLOCK | syscall.O_CLOEXEC
		if i < len(parts)-1 {
			flags |= syscall.O_DIRECTORY
		}
		next, err := syscall.Openat(fd, part, flags, 0)
		syscall.Close(fd)
		switch {
		case errors.Is(err, syscall.ELOOP), errors.Is(err, syscall.ENOTDIR):
			return nil, errNotServed
		case err != nil:
			return nil, &os.PathError{Op: "open", Path: strings.Join(parts[:i+1], "/"), Err: err}
		}
		fd = next
	}
	f := os.NewFile(uintptr(fd), strings.Join(parts, "/"))
	fi, err := f.Stat()
	if err != nil || !(fi.Mode().IsRegular() || fi.IsDir()) {
		f.Close()
		return nil, errNotServed
	}
	return f, nil
}

// listDir lists an open directory, without following links.
func listDir(f *os.File) ([]client.SandboxEntry, error) {
	entries, err := f.ReadDir(-1)
	if err != nil {
		return nil, err
	}
	out := make([]client.SandboxEntry, 0, len(entries))
	for _, e := range entries {
		entry := client.SandboxEntry{Name: e.Name(), Type: "other"}
		switch {
		case e.Type().IsRegular():
			entry.Type = "file"
			// Relative to the open directory: f's name is not a path.
			var st unix.Stat_t
			if unix.Fstatat(int(f.Fd()), e.Name(), &st, unix.AT_SYMLINK_NOFOLLOW) == nil {
				entry.Size = st.Size
			}
		case e.IsDir():
			entry.Type = "dir"
		}
		out = append(out, entry)
	}
	slices.SortFunc(out, func(a, b client.SandboxEntry) int { return strings.Compare(a.Name, b.Name) })
	return out, nil
}
