package client

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strings"
	"time"
)

// DefaultMaster is where the CLI looks when neither --master nor
// PANDO_MASTER says otherwise.
const DefaultMaster = "http://127.0.0.1:5050"

// MasterFromEnv returns flag if set, else $PANDO_MASTER, else DefaultMaster.
// It is the one place Pando's CLI, SDK and frameworks look the master up.
func MasterFromEnv(flag string) string {
	if flag != "" {
		return flag
	}
	if env := os.Getenv("PANDO_MASTER"); env != "" {
		return env
	}
	return DefaultMaster
}

// SplitMasters splits a master address that lists several masters,
// comma-separated (masters elected through Consul), into their URLs.
func SplitMasters(flag string) []string {
	var urls []string
	for _, u := range strings.Split(flag, ",") {
		if u = strings.TrimSpace(u); u != "" {
			urls = append(urls, strings.TrimRight(u, "/"))
		}
	}
	return urls
}

// Client talks to one master.
type Client struct {
	base string
	http *http.Client
}

// New makes a client for the master at base (e.g. http://127.0.0.1:5050).
func New(base string) (*Client, error) { return NewWithHTTP(base, nil) }

// NewWithHTTP is New with the HTTP client to use (nil: a default one).
func NewWithHTTP(base string, httpClient *http.Client) (*Client, error) {
	if httpClient == nil {
		httpClient = &http.Client{}
	}
	if !strings.Contains(base, "://") {
		base = "http://" + base
	}
	u, err := url.Parse(base)
	if err != nil || u.Host == "" {
		return nil, fmt.Errorf("master address %q is not a URL like http://127.0.0.1:5050", base)
	}
	return &Client{base: strings.TrimRight(base, "/"), http: httpClient}, nil
}

// Base returns the master's base URL.
func (c *Client) Base() string { return c.base }

// APIError is an error the master answered with.
type APIError struct {
	Status  int
	Message string
}

func (e *APIError) Error() string { return e.Message }

// IsStatus reports whether err is an APIError with the given HTTP status.
func IsStatus(err error, status int) bool {
	var apiErr *APIError
	return errors.As(err, &apiErr) && apiErr.Status == status
}

// Do sends a request and decodes a JSON answer into out (if non-nil).
func (c *Client) Do(ctx context.Context, method, path string, body io.Reader, out any) error {
	resp, err := c.send(ctx, method, path, body, "")
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if out == nil {
		return nil
	}
	if err := json.NewDecoder(resp.Body).Decode(out); err != nil {
		return fmt.Errorf("%s %s: reading the answer: %w", method, path, err)
	}
	return nil
}

// Stream sends a GET and returns the body for the caller to read and close.
func (c *Client) Stream(ctx context.Context, path string) (io.ReadCloser, error) {
	resp, err := c.send(ctx, http.MethodGet, path, nil, "")
	if err != nil {
		return nil, err
	}
	return resp.Body, nil
}

func (c *Client) send(ctx context.Context, method, path string, body io.Reader, contentType string) (*http.Response, error) {
	req, err := http.NewRequestWithContext(ctx, method, c.base+path, body)
	if err != nil {
		return nil, fmt.Errorf("%s %s: %w", method, path, err)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	} else if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := c.http.Do(req)
	if err != nil {
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		return nil, fmt.Errorf("cannot reach the master at %s (%v); is it running? Start one with `pando dev`, or point --master / PANDO_MASTER at it", c.base, unwrapURLError(err))
	}
	if resp.StatusCode >= 300 {
		defer resp.Body.Close()
		data, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
		var eb ErrorBody
		msg := strings.TrimSpace(string(data))
		if json.Unmarshal(data, &eb) == nil && eb.Error != "" {
			msg = eb.Error
		}
		if msg == "" {
			msg = resp.Status
		}
		return nil, &APIError{Status: resp.StatusCode, Message: msg}
	}
	return resp, nil
}

func unwrapURLError(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Err
	}
	return err
}

// Master returns the master's identity and actor address.
func (c *Client) Master(ctx context.Context) (MasterInfo, error) {
	var mi MasterInfo
	return mi, c.Do(ctx, http.MethodGet, "/api/v1/master", nil, &mi)
}

// Agents lists the registered agents.
func (c *Client) Agents(ctx context.Context) ([]Agent, error) {
	var out []Agent
	return out, c.Do(ctx, http.MethodGet, "/api/v1/agents", nil, &out)
}

// Frameworks lists the subscribed frameworks.
func (c *Client) Frameworks(ctx context.Context) ([]Framework, error) {
	var out []Framework
	return out, c.Do(ctx, http.MethodGet, "/api/v1/frameworks", nil, &out)
}

// ErrArtifactNotFound is wrapped by CheckArtifact's error when the master
// has no artifact of that digest.
var ErrArtifactNotFound = errors.New("the master has no such artifact")

// CheckArtifact says whether the master stores digest (a module, a
// tarball, an input), for a framework to refuse a request naming one it
// lacks: nil when it does, an error wrapping ErrArtifactNotFound when it
// does not, another error when the master could not say.
func (c *Client) CheckArtifact(ctx context.Context, digest string) error {
	err := c.Do(ctx, http.MethodHead, "/api/v1/artifacts/"+url.PathEscape(digest), nil, nil)
	if IsStatus(err, http.StatusNotFound) {
		return fmt.Errorf("%w: %s (upload it first: pando upload FILE)", ErrArtifactNotFound, digest)
	}
	return err
}

// Roles lists the roles with their weights, frameworks and shares.
func (c *Client) Roles(ctx context.Context) ([]Role, error) {
	var out []Role
	return out, c.Do(ctx, http.MethodGet, "/api/v1/roles", nil, &out)
}

// Weights lists the weights operators set, by role.
func (c *Client) Weights(ctx context.Context) ([]Weight, error) {
	var out []Weight
	return out, c.Do(ctx, http.MethodGet, "/api/v1/weights", nil, &out)
}

// SetWeights sets the weights of the roles named (the others keep
// theirs); the master keeps them in its registry.
func (c *Client) SetWeights(ctx context.Context, weights []Weight) error {
	body, err := json.Marshal(weights)
	if err != nil {
		return err
	}
	return c.Do(ctx, http.MethodPut, "/api/v1/weights", bytes.NewReader(body), nil)
}

// Tasks lists tasks; query holds filters such as state=TASK_RUNNING.
func (c *Client) Tasks(ctx context.Context, query url.Values) ([]Task, error) {
	var out []Task
	path := "/api/v1/tasks"
	if len(query) > 0 {
		path += "?" + query.Encode()
	}
	return out, c.Do(ctx, http.MethodGet, path, nil, &out)
}

// Task returns one task.
func (c *Client) Task(ctx context.Context, id string) (Task, error) {
	var t Task
	return t, c.Do(ctx, http.MethodGet, "/api/v1/tasks/"+url.PathEscape(id), nil, &t)
}

// KillTask asks the master to kill a task.
func (c *Client) KillTask(ctx context.Context, id string) error {
	return c.Do(ctx, http.MethodPost, "/api/v1/tasks/"+url.PathEscape(id)+"/kill", nil, nil)
}

// Logs streams a task's stdout or stderr; with follow, until the task ends.
func (c *Client) Logs(ctx context.Context, id, stream string, follow bool) (io.ReadCloser, error) {
	return c.LogsOf(ctx, TaskRef{ID: id}, stream, follow)
}

// TaskRef names a task for LogsOf: its id, and where it ran if the caller
// knows (the master forgets ended tasks past its most recent ones, while
// their agents keep their logs for the sandbox retention).
type TaskRef struct {
	ID, FrameworkID, AgentID string
}

// LogsOf is Logs of a task the master may no longer remember: with its
// framework and agent, the master asks that agent for it.
func (c *Client) LogsOf(ctx context.Context, t TaskRef, stream string, follow bool) (io.ReadCloser, error) {
	q := url.Values{"stream": {stream}}
	if follow {
		q.Set("follow", "1")
	}
	if t.FrameworkID != "" && t.AgentID != "" {
		q.Set("framework", t.FrameworkID)
		q.Set("agent", t.AgentID)
	}
	return c.Stream(ctx, "/api/v1/tasks/"+url.PathEscape(t.ID)+"/logs?"+q.Encode())
}

// Upload stores an artifact on the master and returns its digest.
func (c *Client) Upload(ctx context.Context, data []byte, kind string) (Artifact, error) {
	return c.UploadStream(ctx, bytes.NewReader(data), kind)
}

// UploadStream stores what body yields as an artifact, streamed: a large
// file is never held in memory, here or on the master. kind "wasm" makes
// the master check that it is a module; "" stores any bytes.
func (c *Client) UploadStream(ctx context.Context, body io.Reader, kind string) (Artifact, error) {
	resp, err := c.send(ctx, http.MethodPost, "/api/v1/artifacts?kind="+url.QueryEscape(kind), body, "application/octet-stream")
	if err != nil {
		return Artifact{}, err
	}
	defer resp.Body.Close()
	var a Artifact
	if err := json.NewDecoder(resp.Body).Decode(&a); err != nil {
		return Artifact{}, fmt.Errorf("uploading: reading the answer: %w", err)
	}
	return a, nil
}

// LeaseArtifacts keeps digests from the master's artifact collection for
// ttl (see ArtifactLease); an unknown digest is an error (404).
func (c *Client) LeaseArtifacts(ctx context.Context, holder string, digests []string, ttl time.Duration) error {
	body, err := json.Marshal(ArtifactLease{Holder: holder, Digests: digests, TTLSeconds: int64(ttl / time.Second)})
	if err != nil {
		return err
	}
	return c.Do(ctx, http.MethodPost, "/api/v1/artifacts/leases", bytes.NewReader(body), nil)
}

// ReleaseArtifacts ends holder's lease.
func (c *Client) ReleaseArtifacts(ctx context.Context, holder string) error {
	return c.Do(ctx, http.MethodDelete, "/api/v1/artifacts/leases?holder="+url.QueryEscape(holder), nil, nil)
}

// WaitReady polls the master until it answers or ctx ends.
func (c *Client) WaitReady(ctx context.Context) error {
	for {
		if _, err := c.Master(ctx); err == nil {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("master at %s did not come up: %w", c.base, ctx.Err())
		case <-time.After(50 * time.Millisecond):
		}
	}
}
