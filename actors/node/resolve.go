package node

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"

	"github.com/asynkron/protoactor-go/actor"

	"github.com/pandodc/pando/actors/artifacts"
	"github.com/pandodc/pando/sdk"
)

// masterURLs splits a --master value: one master's URL, or several,
// comma-separated, when masters are elected (any of them leads the way to
// the leader, since stand-bys redirect there).
func masterURLs(flag string) []string {
	var urls []string
	for _, u := range strings.Split(flag, ",") {
		if u = strings.TrimSpace(u); u != "" {
			urls = append(urls, strings.TrimRight(u, "/"))
		}
	}
	return urls
}

// findLeader asks each master in turn for the leading master's actor, the
// way framework drivers do; the first answer wins.
func findLeader(ctx context.Context, urls []string) (*actor.PID, error) {
	var errs []error
	for _, u := range urls {
		pid, _, err := sdk.ResolveMaster(ctx, http.DefaultClient, u)
		if err == nil {
			return pid, nil
		}
		errs = append(errs, err)
	}
	return nil, fmt.Errorf("no leading master at %s: %w", strings.Join(urls, ", "), errors.Join(errs...))
}

// httpArtifacts fetches artifacts from the masters' API, from the first
// that has them.
func httpArtifacts(urls []string) artifacts.Source {
	return artifacts.SourceFunc(func(ctx context.Context, digest string) (io.ReadCloser, error) {
		var errs []error
		for _, base := range urls {
			req, err := http.NewRequestWithContext(ctx, http.MethodGet, base+"/api/v1/artifacts/"+digest, nil)
			if err != nil {
				return nil, err
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				errs = append(errs, err)
				continue
			}
			if resp.StatusCode != http.StatusOK {
				resp.Body.Close()
				errs = append(errs, fmt.Errorf("%s answered %s", base, resp.Status))
				continue
			}
			return resp.Body, nil
		}
		return nil, errors.Join(errs...)
	})
}
