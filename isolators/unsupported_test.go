package isolators

import (
	"context"
	"errors"
	"testing"

	"github.com/pandodc/pando/runtime"
)

func TestUnsupportedSaysWhyAndMeasuresNothing(t *testing.T) {
	iso := Unsupported(&NotSupportedError{What: "net", Reason: "eBPF unavailable: no permission", Err: errors.New("EPERM")})
	if got := iso.Unavailable(); len(got) != 1 || got[0] != "net: eBPF unavailable: no permission" {
		t.Fatalf("Unavailable() = %q", got)
	}
	h, err := iso.Attach(context.Background(), Target{TaskID: "t"})
	if err != nil {
		t.Fatal(err)
	}
	st := runtime.Stats{NetTxBytes: 7}
	if err := h.Usage(context.Background(), &st); err != nil || st.NetTxBytes != 7 {
		t.Errorf("Usage changed the stats or failed: %+v, %v", st, err)
	}
	if err := errors.Join(h.Detach(), h.Detach(), iso.Close()); err != nil {
		t.Error(err)
	}
	if got := Unsupported(errors.New("plain")).Unavailable(); got[0] != "plain" {
		t.Errorf("a plain error: %q", got)
	}
}
