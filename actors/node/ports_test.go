package node

import (
	"testing"

	"github.com/pandodc/pando/kernel/resources"
)

func TestEphemeralClash(t *testing.T) {
	for _, c := range []struct{ offered, ephemeral, reserved, want string }{
		{"cpus:1;ports:[31000-32000]", "32768\t60999\n", "\n", ""},
		{"cpus:1;ports:[31000-32000,33000-33099]", "32768\t60999\n", "", "33000-33099"},
		{"cpus:1;ports:[32000-32800]", "32768\t60999\n", "", "32768-32800"},
		{"cpus:1;ports:[33000-33099,40000]", "32768\t60999\n", "33010-33019\n", "33000-33009,33020-33099,40000"},
		{"cpus:1;ports:[33000-33099]", "32768\t60999\n", "33000-33099\n", ""},
		{"cpus:1;ports:[60999-61005]", "32768\t60999\n", "", "60999"},
		{"cpus:1", "32768\t60999\n", "", ""},
	} {
		got, err := ephemeralClash(resources.MustParse(c.offered), c.ephemeral, c.reserved)
		if err != nil || got != c.want {
			t.Errorf("ephemeralClash(%s, %q, %q) = %q, %v; want %q", c.offered, c.ephemeral, c.reserved, got, err, c.want)
		}
	}
	if _, err := ephemeralClash(resources.MustParse("ports:[1-2]"), "garbage", ""); err == nil {
		t.Error("an unreadable ephemeral range gave no error")
	}
}
