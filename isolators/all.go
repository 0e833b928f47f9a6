package isolators

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/pandodc/pando/runtime"
)

// All is one Isolator made of several: Attach attaches each in order (and, if
// one fails, detaches those already attached), Usage asks each, Detach
// detaches each in reverse order.
func All(isolators ...Isolator) Isolator { return all(isolators) }

type all []Isolator

func (a all) Name() string {
	names := make([]string, len(a))
	for i, iso := range a {
		names[i] = iso.Name()
	}
	return strings.Join(names, "+")
}

func (a all) Attach(ctx context.Context, t Target) (Handle, error) {
	hs := make(allHandles, 0, len(a))
	for _, iso := range a {
		h, err := iso.Attach(ctx, t)
		if err != nil {
			return nil, errors.Join(fmt.Errorf("attaching %s to %s: %w", iso.Name(), t, err), hs.Detach())
		}
		hs = append(hs, h)
	}
	return hs, nil
}

func (a all) Unavailable() []string {
	var u []string
	for _, iso := range a {
		u = append(u, iso.Unavailable()...)
	}
	return u
}

func (a all) Close() error {
	var errs []error
	for _, iso := range a {
		errs = append(errs, iso.Close())
	}
	return errors.Join(errs...)
}

type allHandles []Handle

func (hs allHandles) Usage(ctx context.Context, s *runtime.Stats) error {
	var errs []error
	for _, h := range hs {
		errs = append(errs, h.Usage(ctx, s))
	}
	return errors.Join(errs...)
}

func (hs allHandles) Detach() error {
	var errs []error
	for i := len(hs) - 1; i >= 0; i-- {
		errs = append(errs, hs[i].Detach())
	}
	return errors.Join(errs...)
}
