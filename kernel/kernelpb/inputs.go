package kernelpb

import (
	"fmt"
	"path"
	"strings"
)

// InputRoot is where a task sees its inputs (Input.path lies under it).
const InputRoot = "/input"

// CheckInputPath says why p cannot be an Input's path, or returns nil: it
// must be a clean absolute path strictly under /input/.
func CheckInputPath(p string) error {
	rest, ok := strings.CutPrefix(p, InputRoot+"/")
	if !ok || rest == "" || path.Clean(p) != p {
		return fmt.Errorf("input path %q: want a clean absolute path under %s/ (e.g. %s/data.csv)", p, InputRoot, InputRoot)
	}
	return nil
}
