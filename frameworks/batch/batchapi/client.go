package batchapi

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"

	"github.com/pandodc/pando/sdk/client"
)

// Prefix is where the master mounts the batch framework's API.
const Prefix = "/api/v1/batch"

// Client calls the batch framework's API through a master client.
type Client struct{ c *client.Client }

// NewClient wraps a master client.
func NewClient(c *client.Client) Client { return Client{c: c} }

// Submit submits a job and returns its status.
func (b Client) Submit(ctx context.Context, spec JobSpec) (JobStatus, error) {
	var st JobStatus
	body, err := json.Marshal(spec)
	if err != nil {
		return st, fmt.Errorf("encode the job spec: %w", err)
	}
	return st, b.c.Do(ctx, http.MethodPost, Prefix+"/jobs", bytes.NewReader(body), &st)
}

// Job returns one job's status.
func (b Client) Job(ctx context.Context, id string) (JobStatus, error) {
	var st JobStatus
	return st, b.c.Do(ctx, http.MethodGet, Prefix+"/jobs/"+url.PathEscape(id), nil, &st)
}

// Jobs returns every job's status, oldest first.
func (b Client) Jobs(ctx context.Context) ([]JobStatus, error) {
	var out []JobStatus
	return out, b.c.Do(ctx, http.MethodGet, Prefix+"/jobs", nil, &out)
}

// Kill kills a job's running instances and cancels the rest.
func (b Client) Kill(ctx context.Context, id string) error {
	return b.c.Do(ctx, http.MethodDelete, Prefix+"/jobs/"+url.PathEscape(id), nil, nil)
}

// Tasks returns the current attempt of each of a job's instances, in
// instance order.
func (b Client) Tasks(ctx context.Context, id string) ([]TaskStatusView, error) {
	var out []TaskStatusView
	return out, b.c.Do(ctx, http.MethodGet, Prefix+"/jobs/"+url.PathEscape(id)+"/tasks", nil, &out)
}
