package healthcheck

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strconv"

	"github.com/pandodc/pando/kernel/kernelpb"
)

// Host is where HTTP and TCP checks connect: a task's ports are on the
// agent's machine (a WASM task's listeners are bound there, containers share
// the host's network).
const Host = "127.0.0.1"

// Exec runs argv inside the task and returns its exit code and what it
// wrote; COMMAND checks use it. It is nil for tasks that cannot run one.
type Exec func(ctx context.Context, argv []string) (code int, output string, err error)

// client makes HTTP checks: no redirects followed (a 3xx is healthy), no
// connection kept between checks (each check is a new connection, as a
// client's would be).
var client = &http.Client{
	CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	Transport:     &http.Transport{DisableKeepAlives: true, Proxy: nil},
}

// Probe makes one check, within ctx (the caller sets the timeout), and
// returns why it failed, or nil.
func Probe(ctx context.Context, c *kernelpb.HealthCheck, exec Exec) error {
	addr := net.JoinHostPort(Host, strconv.Itoa(int(c.GetPort())))
	switch c.GetType() {
	case kernelpb.HealthCheck_HTTP:
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+addr+path(c), nil)
		if err != nil {
			return err
		}
		resp, err := client.Do(req)
		if err != nil {
			return cause(err)
		}
		resp.Body.Close()
		if resp.StatusCode < 200 || resp.StatusCode >= 400 {
			return fmt.Errorf("answered %s", resp.Status)
		}
		return nil
	case kernelpb.HealthCheck_TCP:
		var d net.Dialer
		conn, err := d.DialContext(ctx, "tcp", addr)
		if err != nil {
			return cause(err)
		}
		return conn.Close()
	case kernelpb.HealthCheck_COMMAND:
		if exec == nil {
			return errors.New("this task cannot run commands")
		}
		code, out, err := exec(ctx, c.GetCommand())
		if err != nil {
			return cause(err)
		}
		if code != 0 {
			if len(out) > 200 {
				out = out[:200] + "..."
			}
			return fmt.Errorf("exited with code %d: %q", code, out)
		}
		return nil
	}
	return fmt.Errorf("unknown health check type %d", c.GetType())
}

// cause keeps the end of a network error, the part that says what
// happened ("connection refused", "context deadline exceeded"), rather than
// Go's chain of operation and addresses, which Describe already names.
func cause(err error) error {
	for {
		next := errors.Unwrap(err)
		if next == nil {
			return err
		}
		err = next
	}
}
