package wasm

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sync"

	"github.com/tetratelabs/wazero"
	experimentalsys "github.com/tetratelabs/wazero/experimental/sys"
	"github.com/tetratelabs/wazero/experimental/sysfs"
	"github.com/tetratelabs/wazero/sys"
)

// sandbox is a task's directory, made the first time the task needs it: when
// it first touches its filesystem, or when its stdout or stderr outgrow the
// log store (see package tasklog). Most short tasks do neither, and making a directory per task costs more than running
// such a task (hundreds of microseconds on a busy ext4 disk, against tens
// for the instance): a task that needed no sandbox leaves none, and readers
// take a missing sandbox or log of a task that ran as an empty one.
type sandbox struct {
	dir  string
	once sync.Once
	err  error
}

// prepareSandbox checks dir before a launch. A directory already there is
// a task id run again: its old logs go, so that they do not pass for this
// run's when this run writes none.
func prepareSandbox(dir string) (*sandbox, error) {
	fi, err := os.Stat(dir)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return &sandbox{dir: dir}, nil
	case err != nil:
		return nil, fmt.Errorf("checking the sandbox: %w", err)
	case !fi.IsDir():
		return nil, fmt.Errorf("its sandbox %s is not a directory", dir)
	}
	for _, name := range []string{"stdout", "stderr"} {
		if err := os.Remove(filepath.Join(dir, name)); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("removing the old %s from the sandbox: %w", name, err)
		}
	}
	return &sandbox{dir: dir}, nil
}

// ensure makes the directory, once.
func (s *sandbox) ensure() error {
	s.once.Do(func() {
		// One mkdir is the common case; MkdirAll would stat first.
		err := os.Mkdir(s.dir, 0o755)
		if errors.Is(err, fs.ErrNotExist) { // the first sandbox of its parent
			err = os.MkdirAll(s.dir, 0o755)
		}
		if err != nil && !errors.Is(err, fs.ErrExist) {
			s.err = fmt.Errorf("creating the sandbox %s: %w", s.dir, err)
		}
	})
	return s.err
}

// fsConfig mounts the sandbox, and only it, at SandboxMount.
//
// wazero refuses paths that climb out of a mount ("..") and symbolic links
// to absolute paths, but it lets a guest make a link to a relative path
// such as "../../etc", and the host then follows it out of the sandbox (the
// conformance suite's SandboxEscape case shows it). So the guest may make
// no symbolic links at all. Links the host itself puts in a sandbox are
// followed: whoever fills a sandbox must not put any there.
func (s *sandbox) fsConfig() wazero.FSConfig {
	return wazero.NewFSConfig().(sysfs.FSConfig).WithSysFSMount(&sandboxFS{sb: s, fs: sysfs.DirFS(s.dir)}, SandboxMount)
}

// sandboxFS is the guest's view of its sandbox: the directory is made on the
// first call, and symbolic links cannot be made.
type sandboxFS struct {
	sb *sandbox
	fs experimentalsys.FS
}

var _ experimentalsys.FS = (*sandboxFS)(nil)

func (f *sandboxFS) ready() experimentalsys.Errno {
	return experimentalsys.UnwrapOSError(f.sb.ensure())
}

func (f *sandboxFS) OpenFile(path string, flag experimentalsys.Oflag, perm fs.FileMode) (experimentalsys.File, experimentalsys.Errno) {
	if errno := f.ready(); errno != 0 {
		return nil, errno
	}
	return f.fs.OpenFile(path, flag, perm)
}

func (f *sandboxFS) Lstat(path string) (sys.Stat_t, experimentalsys.Errno) {
	if errno := f.ready(); errno != 0 {
		return sys.Stat_t{}, errno
	}
	return f.fs.Lstat(path)
}

func (f *sandboxFS) Stat(path string) (sys.Stat_t, experimentalsys.Errno) {
	if errno := f.ready(); errno != 0 {
		return sys.Stat_t{}, errno
	}
	return f.fs.Stat(path)
}

func (f *sandboxFS) Mkdir(path string, perm fs.FileMode) experimentalsys.Errno {
	return f.then(func() experimentalsys.Errno { return f.fs.Mkdir(path, perm) })
}

func (f *sandboxFS) Chmod(path string, perm fs.FileMode) experimentalsys.Errno {
	return f.then(func() experimentalsys.Errno { return f.fs.Chmod(path, perm) })
}

func (f *sandboxFS) Rename(from, to string) experimentalsys.Errno {
	return f.then(func() experimentalsys.Errno { return f.fs.Rename(from, to) })
}

func (f *sandboxFS) Rmdir(path string) experimentalsys.Errno {
	return f.then(func() experimentalsys.Errno { return f.fs.Rmdir(path) })
}

func (f *sandboxFS) Unlink(path string) experimentalsys.Errno {
	return f.then(func() experimentalsys.Errno { return f.fs.Unlink(path) })
}

func (f *sandboxFS) Link(oldPath, newPath string) experimentalsys.Errno {
	return f.then(func() experimentalsys.Errno { return f.fs.Link(oldPath, newPath) })
}

// Symlink is refused: see fsConfig.
func (f *sandboxFS) Symlink(oldPath, linkName string) experimentalsys.Errno {
	return experimentalsys.EPERM
}

func (f *sandboxFS) Readlink(path string) (string, experimentalsys.Errno) {
	if errno := f.ready(); errno != 0 {
		return "", errno
	}
	return f.fs.Readlink(path)
}

func (f *sandboxFS) Utimens(path string, atim, mtim int64) experimentalsys.Errno {
	return f.then(func() experimentalsys.Errno { return f.fs.Utimens(path, atim, mtim) })
}

// then runs op once the directory exists.
func (f *sandboxFS) then(op func() experimentalsys.Errno) experimentalsys.Errno {
	if errno := f.ready(); errno != 0 {
		return errno
	}
	return op()
}
