package freeport

import (
	"net"
	"strconv"
	"testing"
)

// Take's ports bind, lie below the ephemeral range and 31000, and are
// never handed out twice.
func TestTakeGivesDistinctBindablePortsBelowTheEphemeralRange(t *testing.T) {
	below := min(ephemeralStart(), mesosDefaultPorts)
	seen := map[uint16]bool{}
	for range 200 {
		p := Take(t)
		if int(p) < lowest || int(p) >= below {
			t.Fatalf("port %d outside %d-%d", p, lowest, below-1)
		}
		if seen[p] {
			t.Fatalf("port %d handed out twice", p)
		}
		seen[p] = true
	}
	for p := range seen {
		ln, err := net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(int(p)))
		if err != nil {
			t.Fatalf("port %d given as free: %v", p, err)
		}
		ln.Close()
		break
	}
}

// A port in use or given before is skipped; a range with none left is an
// error.
func TestTakeSkipsBusyAndGivenPortsAndSaysWhenNoneIsLeft(t *testing.T) {
	busy := Take(t)
	ln, err := net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(int(busy)))
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	mu.Lock()
	delete(given, busy) // only the listener keeps it from being given
	mu.Unlock()
	if p, err := take(int(busy), int(busy)+1); err == nil {
		t.Errorf("port %d is listened on, yet was given", p)
	}
	ln.Close()
	p, err := take(int(busy), int(busy)+1)
	if err != nil || p != busy {
		t.Fatalf("the freed port %d: got %d, %v", busy, p, err)
	}
	if p, err := take(int(busy), int(busy)+1); err == nil {
		t.Errorf("port %d given twice", p)
	}
	if _, err := take(lowest, lowest); err == nil {
		t.Error("an empty range gave a port")
	}
}
