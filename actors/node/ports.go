package node

import (
	"fmt"
	"log/slog"
	"os"
	"strconv"
	"strings"

	"github.com/pandodc/pando/kernel/resources"
)

// The host's ephemeral port range, from which the kernel picks the local
// port of every outgoing connection, and the ports it keeps out of it.
const (
	ephemeralRangeFile = "/proc/sys/net/ipv4/ip_local_port_range"
	reservedPortsFile  = "/proc/sys/net/ipv4/ip_local_reserved_ports"
)

// warnEphemeralPorts warns when the agent offers ports inside the host's
// ephemeral range that are not reserved: any outgoing connection on the
// host (a health check, the master's, a client's) may take one as its
// local port, and a task given that port then fails to bind it, at every
// launch for as long as the connection lives. Mesos's default, 31000-32000,
// lies below Linux's default range (32768-60999).
func warnEphemeralPorts(res resources.Resources, logger *slog.Logger) {
	ephemeral, err := os.ReadFile(ephemeralRangeFile)
	if err != nil {
		return // not Linux, or no /proc: nothing to say
	}
	reserved, _ := os.ReadFile(reservedPortsFile)
	clash, err := ephemeralClash(res, string(ephemeral), string(reserved))
	if err != nil {
		logger.Warn("could not check the agent's ports against the host's ephemeral range", "error", err)
		return
	}
	if clash != "" {
		logger.Warn("the agent offers ports that outgoing connections may take: a task given one fails to bind it while a connection holds it; offer ports below the range (the default is 31000-32000) or reserve them with sysctl net.ipv4.ip_local_reserved_ports="+clash,
			"ports", clash, "ephemeral_range", strings.Join(strings.Fields(string(ephemeral)), "-"))
	}
}

// ephemeralClash returns the offered ports that lie in the ephemeral range
// (the text of ip_local_port_range, "32768\t60999") and not among the
// reserved ports (ip_local_reserved_ports, "33000-33099,40000"), in the
// form sysctl takes; "" when there are none.
func ephemeralClash(res resources.Resources, ephemeral, reserved string) (string, error) {
	var lo, hi int
	if _, err := fmt.Sscan(ephemeral, &lo, &hi); err != nil {
		return "", fmt.Errorf("reading %s %q: %w", ephemeralRangeFile, ephemeral, err)
	}
	var held []resources.Range
	if r := strings.TrimSpace(reserved); r != "" {
		rs, err := resources.Parse("ports:[" + r + "]")
		if err != nil {
			return "", fmt.Errorf("reading %s %q: %w", reservedPortsFile, reserved, err)
		}
		held = portRanges(rs)
	}
	in := func(p int, rs []resources.Range) bool {
		for _, r := range rs {
			if uint64(p) >= r.Begin && uint64(p) <= r.End {
				return true
			}
		}
		return false
	}
	var out []string
	begin := -1
	flush := func(end int) {
		if begin < 0 {
			return
		}
		if end == begin {
			out = append(out, strconv.Itoa(begin))
		} else {
			out = append(out, fmt.Sprintf("%d-%d", begin, end))
		}
		begin = -1
	}
	offered := portRanges(res)
	for p := max(lo, 0); p <= min(hi, 65535); p++ {
		if in(p, offered) && !in(p, held) {
			if begin < 0 {
				begin = p
			}
			continue
		}
		flush(p - 1)
	}
	flush(min(hi, 65535))
	return strings.Join(out, ","), nil
}

// portRanges is the ports resource's ranges.
func portRanges(res resources.Resources) []resources.Range {
	var rs []resources.Range
	for _, it := range res.Items() {
		if it.Name == resources.Ports {
			rs = append(rs, it.Ranges...)
		}
	}
	return rs
}
