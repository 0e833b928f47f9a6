package node

import (
	"context"
	"net/http"

	"github.com/asynkron/protoactor-go/actor"

	"github.com/pandodc/pando/sdk"
)

// sdkResolve finds the master actor through the master's HTTP API, the way
// framework drivers do.
func sdkResolve(ctx context.Context, masterURL string) (*actor.PID, sdk.MasterInfo, error) {
	return sdk.ResolveMaster(ctx, http.DefaultClient, masterURL)
}
