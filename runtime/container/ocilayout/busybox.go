package ocilayout

import (
	"bytes"
	"debug/elf"
	"errors"
	"fmt"
	"os"
)

// BusyboxPath is where Debian's busybox-static puts its binary.
const BusyboxPath = "/bin/busybox"

// Applets are the busybox commands the image links in /bin.
var Applets = []string{
	"[", "awk", "base64", "basename", "cat", "chmod", "cp", "cut", "date", "dd",
	"df", "dirname", "du", "echo", "env", "expr", "false", "find", "free", "grep",
	"head", "hostname", "id", "kill", "ln", "ls", "md5sum", "mkdir", "mktemp",
	"mv", "nc", "nproc", "printf", "ps", "pwd", "readlink", "realpath", "rm",
	"rmdir", "sed", "seq", "sh", "sha256sum", "sleep", "sort", "stat", "tail",
	"tee", "test", "timeout", "top", "touch", "tr", "true", "uname", "uniq",
	"usleep", "wc", "wget", "which", "xargs", "yes",
}

// Busybox is an image named name holding the host's static busybox
// (busybox-static; install it with scripts/setup.sh), links to it for
// Applets, /tmp, /etc/passwd and /etc/group, and sh as its command.
// Architecture "" is the host's; another architecture makes an image that
// claims to be for it (with the host's binary), for tests of refusals.
func Busybox(name, architecture string) (Image, error) {
	bin, err := os.ReadFile(BusyboxPath)
	if err != nil {
		return Image{}, fmt.Errorf("building the busybox image: %w (install busybox-static: bash scripts/setup.sh)", err)
	}
	if err := checkStatic(bin); err != nil {
		return Image{}, fmt.Errorf("building the busybox image: %s %w (install busybox-static: bash scripts/setup.sh)", BusyboxPath, err)
	}
	files := []File{
		{Path: "bin/busybox", Mode: 0o755, Content: bin},
		{Path: "tmp", Mode: os.ModeDir | os.ModeSticky | 0o777},
		{Path: "etc/passwd", Mode: 0o644, Content: []byte("root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n")},
		{Path: "etc/group", Mode: 0o644, Content: []byte("root:x:0:\nnogroup:x:65534:\n")},
		{Path: "root", Mode: os.ModeDir | 0o700},
		{Path: "sandbox", Mode: os.ModeDir | 0o755},
	}
	for _, a := range Applets {
		files = append(files, File{Path: "bin/" + a, Linkname: "busybox"})
	}
	return Image{Name: name, Architecture: architecture, Files: files, Cmd: []string{"sh"}, Env: []string{"PATH=/bin"}}, nil
}

// checkStatic refuses a dynamically linked binary, which would not run in
// an image without its libraries.
func checkStatic(bin []byte) error {
	f, err := elf.NewFile(bytes.NewReader(bin))
	if err != nil {
		return fmt.Errorf("is not an ELF binary: %w", err)
	}
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP {
			return errors.New("is dynamically linked (Debian's busybox package, not busybox-static)")
		}
	}
	return nil
}
