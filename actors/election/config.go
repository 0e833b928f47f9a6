package election

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"regexp"
	"strconv"
	"time"
)

// Names Pando gives its things in Consul.
const (
	// DefaultServiceName is the Consul service every master registers as;
	// the leader's registration carries LeaderTag.
	DefaultServiceName = "pando-master"
	// LeaderTag marks the leading master's service instance.
	LeaderTag = "leader"
	// DefaultHealthPath is the master's health endpoint, probed by Consul.
	DefaultHealthPath = "/api/v1/health"
	// serfHealthCheck is the node's own liveness check in Consul.
	serfHealthCheck = "serfHealth"
)

// Config configures an Elector. Only ID and HTTPURL are required; the
// zero durations take the defaults listed beside them.
type Config struct {
	// ID names this master among the masters (letters, digits, '.', '_',
	// '-'); it appears in the service id, the check id and the session name.
	ID string
	// HTTPURL is where this master's HTTP API listens, as clients reach it.
	HTTPURL string
	// RemotingAddr is this master's actor remoting address.
	RemotingAddr string
	// HealthURL is what Consul probes to know this master is alive
	// (default HTTPURL + DefaultHealthPath). It must answer 2xx while the
	// master works; a failing probe ends the session, and the leadership.
	HealthURL string
	// Prefix is the KV prefix (default DefaultPrefix).
	Prefix string
	// ServiceName is the Consul service name (default DefaultServiceName).
	ServiceName string

	// SessionTTL is the session's TTL (default 10s, Consul's minimum
	// unless its session_ttl_min is lowered). Consul ends a session that
	// is not renewed for between TTL and twice the TTL.
	SessionTTL time.Duration
	// RenewInterval is how often the session is renewed (default 1s).
	RenewInterval time.Duration
	// StepDownAfter is how long a leader keeps leading without a
	// successful renew (default SessionTTL/2); it must be below SessionTTL.
	StepDownAfter time.Duration
	// LockDelay is how long Consul keeps the lock from others after the
	// session ends (default 1s).
	LockDelay time.Duration
	// CheckInterval paces Consul's health probe (default 1s); a probe
	// that gets no answer within CheckTimeout (default 2s) fails, and with
	// it the session: a master stalled that long is as good as dead, and
	// a shorter timeout deposes leaders on a busy machine.
	CheckInterval time.Duration
	CheckTimeout  time.Duration
	// DeregisterAfter removes a master whose check stays critical this
	// long from the catalog (default 1m, Consul's minimum).
	DeregisterAfter time.Duration
	// RetryInterval is the pause after a failed request to Consul and
	// between attempts while the lock is in its lock-delay (default 250ms).
	RetryInterval time.Duration
	// WatchWait bounds one blocking query on the lock key (default 5s); a
	// standby renews its session after each, so it must be below the TTL.
	WatchWait time.Duration

	Logger *slog.Logger
}

var idPattern = regexp.MustCompile(`^[A-Za-z0-9._-]+$`)

// withDefaults validates cfg and fills in the defaults.
func (cfg Config) withDefaults() (Config, error) {
	if !idPattern.MatchString(cfg.ID) {
		return cfg, fmt.Errorf("election: master id %q must be non-empty letters, digits, '.', '_' or '-'", cfg.ID)
	}
	u, err := url.Parse(cfg.HTTPURL)
	if err != nil || u.Host == "" || (u.Scheme != "http" && u.Scheme != "https") {
		return cfg, fmt.Errorf("election: master HTTP URL %q must be http(s)://host:port", cfg.HTTPURL)
	}
	if _, _, err := hostPort(u); err != nil {
		return cfg, fmt.Errorf("election: master HTTP URL %q: %w", cfg.HTTPURL, err)
	}
	if cfg.HealthURL == "" {
		cfg.HealthURL = u.JoinPath(DefaultHealthPath).String()
	}
	if cfg.Prefix == "" {
		cfg.Prefix = DefaultPrefix
	}
	if cfg.ServiceName == "" {
		cfg.ServiceName = DefaultServiceName
	}
	def := func(d *time.Duration, v time.Duration) {
		if *d == 0 {
			*d = v
		}
	}
	def(&cfg.SessionTTL, 10*time.Second)
	def(&cfg.RenewInterval, time.Second)
	def(&cfg.StepDownAfter, cfg.SessionTTL/2)
	def(&cfg.LockDelay, time.Second)
	def(&cfg.CheckInterval, time.Second)
	def(&cfg.CheckTimeout, 2*time.Second)
	def(&cfg.DeregisterAfter, time.Minute)
	def(&cfg.RetryInterval, 250*time.Millisecond)
	def(&cfg.WatchWait, 5*time.Second)
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	switch {
	case cfg.StepDownAfter >= cfg.SessionTTL:
		return cfg, fmt.Errorf("election: StepDownAfter %s must be below SessionTTL %s, or a leader could act after Consul gave its lock away", cfg.StepDownAfter, cfg.SessionTTL)
	case cfg.RenewInterval >= cfg.StepDownAfter:
		return cfg, fmt.Errorf("election: RenewInterval %s must be below StepDownAfter %s, or one late renew steps the leader down", cfg.RenewInterval, cfg.StepDownAfter)
	case cfg.WatchWait >= cfg.SessionTTL:
		return cfg, fmt.Errorf("election: WatchWait %s must be below SessionTTL %s, or a standby's session expires while it watches", cfg.WatchWait, cfg.SessionTTL)
	case cfg.LockDelay < 0 || cfg.RetryInterval < 0:
		return cfg, errors.New("election: LockDelay and RetryInterval must not be negative")
	}
	return cfg, nil
}

// hostPort splits a URL's host into the address and port Consul's service
// registration wants, defaulting the port from the scheme.
func hostPort(u *url.URL) (string, int, error) {
	host, portText := u.Hostname(), u.Port()
	if portText == "" {
		portText = map[string]string{"http": "80", "https": "443"}[u.Scheme]
	}
	port, err := strconv.Atoi(portText)
	if err != nil || port <= 0 || port > 65535 {
		return "", 0, fmt.Errorf("bad port %q", portText)
	}
	if ip := net.ParseIP(host); ip == nil && host == "" {
		return "", 0, errors.New("no host")
	}
	return host, port, nil
}
