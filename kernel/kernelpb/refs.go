package kernelpb

import (
	"cmp"
	"fmt"
	"strings"
)

// TaskRef names a task: task ids are unique per framework. The master and
// the agent key their tasks by it.
type TaskRef struct {
	FrameworkID string
	TaskID      string
}

// CompareTaskRefs orders refs by framework id, then task id (for the
// deterministic iteration the state machines need).
func CompareTaskRefs(a, b TaskRef) int {
	return cmp.Or(cmp.Compare(a.FrameworkID, b.FrameworkID), cmp.Compare(a.TaskID, b.TaskID))
}

// DigestPrefix starts every content address.
const DigestPrefix = "sha256:"

// ParseDigest checks that d is a content address, "sha256:" followed by 64
// lowercase hex digits, and returns the hex part (safe as a file name).
// Artifacts, WASM modules and container images are all named so.
func ParseDigest(d string) (string, error) {
	hexPart, ok := strings.CutPrefix(d, DigestPrefix)
	valid := ok && len(hexPart) == 64
	for i := 0; valid && i < len(hexPart); i++ {
		c := hexPart[i]
		valid = c >= '0' && c <= '9' || c >= 'a' && c <= 'f'
	}
	if !valid {
		return "", fmt.Errorf("digest %q is not a content address of the form sha256:<64 lowercase hex digits>", d)
	}
	return hexPart, nil
}

// TaskDigests lists the artifacts a task names: its module or image, then
// its inputs. The master keeps them from its collection while the task is
// known, and an agent keeps them in its cache while the task lives.
func TaskDigests(t *TaskInfo) []string {
	var out []string
	for _, d := range []string{t.GetWasm().GetModule(), t.GetContainer().GetImage()} {
		if d != "" {
			out = append(out, d)
		}
	}
	for _, in := range t.GetInputs() {
		out = append(out, in.GetDigest())
	}
	return out
}
