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

// findLeader asks the masters for the leading master's actor, the way
// framework drivers do (sdk.ResolveMaster).
func findLeader(ctx context.Context, urls []string) (*actor.PID, error) {
	pid, _, err := sdk.ResolveMaster(ctx, http.DefaultClient, strings.Join(urls, ","))
	if err != nil {
		return nil, fmt.Errorf("no leading master at %s: %w", strings.Join(urls, ", "), err)
	}
	return pid, nil
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
