package config

import (
	"errors"
	"fmt"
	"io/fs"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
	_ "time/tzdata" // automation.timezone is checked against the embedded zone database

	"github.com/pelletier/go-toml/v2"

	"github.com/agh-dev/agh/internal/automation"
	"github.com/agh-dev/agh/internal/schedule"
)

// MinTokenLength is the minimum length of an API token (SPEC §14.1).
const MinTokenLength = 16

// Agent defaults and limits (SPEC §10.1).
const (
	DefaultAgentTimeout     = 30 * time.Minute
	DefaultAgentTimeoutText = "30m"
	DefaultMaxOutputBytes   = 1048576
	MinMaxOutputBytes       = 1024
	MaxMaxOutputBytes       = 67108864
)

// Presets maps an agent preset to its command (SPEC §10.1).
var Presets = map[string][]string{
	"claude-code": {"npx", "-y", "@zed-industries/claude-code-acp"},
	"codex":       {"npx", "-y", "@zed-industries/codex-acp"},
	"gemini":      {"gemini", "--experimental-acp"},
	"opencode":    {"opencode", "acp"},
}

var (
	nodeIDRE = regexp.MustCompile(`^[A-Za-z0-9._-]{1,64}$`)
	nameRE   = regexp.MustCompile(`^[a-z0-9][a-z0-9_-]{0,63}$`)
)

// Load reads and validates the file at path. explicit says the path came from --config (a
// missing explicit file is an error; a missing default file means all defaults). getenv
// resolves env: references and AGH_API_TOKEN (nil means an empty environment). now is used for
// job validation ("never fires" checks). Every error is an invalid configuration (exit 2).
func Load(path string, explicit bool, getenv func(string) string, now time.Time) (*Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) && !explicit {
			return Parse(nil, getenv, now)
		}
		if errors.Is(err, fs.ErrNotExist) {
			return nil, errorf("configuration file %s does not exist", path)
		}
		return nil, errorf("cannot read configuration file: %v", err)
	}
	return Parse(data, getenv, now)
}

// Parse validates TOML bytes (Load calls it). It is pure apart from reading the host name
// (default node_id) and checking workspace directories.
func Parse(data []byte, getenv func(string) string, now time.Time) (*Config, error) {
	if getenv == nil {
		getenv = func(string) string { return "" }
	}
	root := map[string]any{}
	if err := toml.Unmarshal(data, &root); err != nil {
		var de *toml.DecodeError
		if errors.As(err, &de) {
			row, col := de.Position()
			return nil, errorf("line %d, column %d: %s", row, col, strings.TrimPrefix(de.Error(), "toml: "))
		}
		return nil, errorf("%s", strings.TrimPrefix(err.Error(), "toml: "))
	}
	p := &parser{cfg: Default(), getenv: getenv, now: now, secretEnv: map[string]bool{}}
	if err := p.parse(table{m: root}); err != nil {
		return nil, err
	}
	return p.cfg, nil
}

type parser struct {
	cfg       *Config
	getenv    func(string) string
	now       time.Time
	secretEnv map[string]bool
}

func (p *parser) parse(root table) error {
	if err := root.checkKeys("node_id", "http", "api", "store", "log", "automation", "agents", "workspaces", "channels"); err != nil {
		return err
	}
	if err := p.nodeID(root); err != nil {
		return err
	}
	if err := p.http(root); err != nil {
		return err
	}
	if err := p.api(root); err != nil {
		return err
	}
	if err := p.store(root); err != nil {
		return err
	}
	if err := p.log(root); err != nil {
		return err
	}
	auto, _, err := root.sub("automation")
	if err != nil {
		return err
	}
	if err := p.automation(auto); err != nil {
		return err
	}
	if err := p.agents(root); err != nil {
		return err
	}
	if err := p.workspaces(root); err != nil {
		return err
	}
	if err := p.channels(root); err != nil {
		return err
	}
	if err := p.jobs(auto); err != nil {
		return err
	}
	if err := p.triggers(auto); err != nil {
		return err
	}
	if len(p.secretEnv) > 0 {
		p.cfg.SecretEnvNames = sortedKeys(p.secretEnv)
	}
	return nil
}

func (p *parser) nodeID(root table) error {
	id, ok, err := root.str("node_id")
	if err != nil {
		return err
	}
	if ok {
		if !nodeIDRE.MatchString(id) {
			return errorf("node_id is invalid: %q (must match ^[A-Za-z0-9._-]{1,64}$)", id)
		}
		p.cfg.NodeID = id
		return nil
	}
	host, err := os.Hostname()
	if err != nil {
		return errorf("node_id is not set and the host name is unavailable: %v", err)
	}
	if !nodeIDRE.MatchString(host) {
		return errorf("node_id is not set and the host name %q is not a valid node id; set node_id", host)
	}
	p.cfg.NodeID = host
	return nil
}

func (p *parser) http(root table) error {
	t, ok, err := root.sub("http")
	if err != nil || !ok {
		return err
	}
	if err := t.checkKeys("addr", "socket", "read_header_timeout", "read_timeout", "write_timeout", "idle_timeout"); err != nil {
		return err
	}
	h := &p.cfg.HTTP
	if addr, ok, err := t.str("addr"); err != nil {
		return err
	} else if ok {
		if err := checkAddr(addr); err != nil {
			return errorf("http.addr is invalid: %q (%s)", addr, err)
		}
		h.Addr = addr
	}
	if s, ok, err := t.str("socket"); err != nil {
		return err
	} else if ok {
		h.Socket = s
	}
	for _, d := range []struct {
		key string
		dst *time.Duration
	}{
		{"read_header_timeout", &h.ReadHeaderTimeout},
		{"read_timeout", &h.ReadTimeout},
		{"write_timeout", &h.WriteTimeout},
		{"idle_timeout", &h.IdleTimeout},
	} {
		if _, err := t.duration(d.key, time.Millisecond, maxDuration, "1ms", "", d.dst); err != nil {
			return err
		}
	}
	return nil
}

// checkAddr accepts host:port with a numeric port (the host may be empty: all interfaces).
func checkAddr(addr string) error {
	_, port, err := net.SplitHostPort(addr)
	if err != nil {
		return errors.New("must be host:port")
	}
	n, err := strconv.Atoi(port)
	if err != nil || n < 0 || n > 65535 || port == "" || strings.HasPrefix(port, "+") {
		return errors.New("port must be a number between 0 and 65535")
	}
	return nil
}

func (p *parser) api(root table) error {
	t, ok, err := root.sub("api")
	if err != nil {
		return err
	}
	var tokens []string
	if ok {
		if err := t.checkKeys("tokens"); err != nil {
			return err
		}
		arr, _, err := t.array("tokens")
		if err != nil {
			return err
		}
		for i, v := range arr {
			path := fmt.Sprintf("api.tokens[%d]", i)
			s, isStr := v.(string)
			if !isStr {
				return errorf("%s must be a string", path)
			}
			val, name, err := resolve(path, s, p.getenv)
			if err != nil {
				return err
			}
			if name != "" {
				p.secretEnv[name] = true
			}
			if len([]rune(val)) < MinTokenLength {
				return errorf("%s must be at least %d characters", path, MinTokenLength)
			}
			tokens = append(tokens, val)
		}
	}
	if v := p.getenv("AGH_API_TOKEN"); v != "" {
		if len([]rune(v)) < MinTokenLength {
			return errorf("AGH_API_TOKEN must be at least %d characters", MinTokenLength)
		}
		tokens = append(tokens, v)
	}
	p.cfg.API.Tokens = tokens
	return nil
}

func (p *parser) store(root table) error {
	t, ok, err := root.sub("store")
	if err != nil || !ok {
		return err
	}
	if err := t.checkKeys("url"); err != nil {
		return err
	}
	if u, ok, err := t.str("url"); err != nil {
		return err
	} else if ok {
		p.cfg.Store.URL = u
	}
	return nil
}

func (p *parser) log(root table) error {
	t, ok, err := root.sub("log")
	if err != nil || !ok {
		return err
	}
	if err := t.checkKeys("level", "format", "file"); err != nil {
		return err
	}
	l := &p.cfg.Log
	if v, ok, err := t.str("level"); err != nil {
		return err
	} else if ok {
		switch v {
		case "debug", "info", "warn", "error":
		default:
			return errorf("log.level must be one of \"debug\", \"info\", \"warn\", or \"error\": %q", v)
		}
		l.Level = v
	}
	if v, ok, err := t.str("format"); err != nil {
		return err
	} else if ok {
		if v != "json" && v != "text" {
			return errorf("log.format must be one of \"json\" or \"text\": %q", v)
		}
		l.Format = v
	}
	if v, ok, err := t.str("file"); err != nil {
		return err
	} else if ok {
		l.File = v
	}
	return nil
}

func (p *parser) automation(t table) error {
	if t.m == nil {
		return nil
	}
	if err := t.checkKeys("enabled", "paused", "timezone", "max_concurrent_runs", "max_concurrent_jobs",
		"default_fire_limit", "shutdown_grace", "webhooks", "history", "jobs", "triggers"); err != nil {
		return err
	}
	a := &p.cfg.Automation
	if b, ok, err := t.boolean("enabled"); err != nil {
		return err
	} else if ok {
		a.Enabled = b
	}
	if b, ok, err := t.boolean("paused"); err != nil {
		return err
	} else if ok {
		a.Paused = b
	}
	if tz, ok, err := t.str("timezone"); err != nil {
		return err
	} else if ok {
		if err := checkZone(tz); err != nil {
			return errorf("automation.timezone is invalid: unknown time zone %q", tz)
		}
		a.Timezone = tz
	}
	if t.has("max_concurrent_runs") && t.has("max_concurrent_jobs") {
		return errorf("automation.max_concurrent_jobs is an alias of automation.max_concurrent_runs; set only one")
	}
	for _, k := range []string{"max_concurrent_runs", "max_concurrent_jobs"} {
		if err := t.intRange(k, 1, 1000, &a.MaxConcurrentRuns); err != nil {
			return err
		}
	}
	if fl, ok, err := t.sub("default_fire_limit"); err != nil {
		return err
	} else if ok {
		if err := fl.checkKeys("max", "window"); err != nil {
			return err
		}
		var f automation.FireLimit
		n, _, err := fl.integer("max")
		if err != nil {
			return err
		}
		if n > 1<<31-1 || n < -1<<31 {
			return errorf("automation.default_fire_limit.max must be at most %d: %d", 1<<31-1, n)
		}
		f.Max = int(n)
		if f.Window, _, err = fl.str("window"); err != nil {
			return err
		}
		if err := automation.ValidateFireLimit("automation.default_fire_limit", &f); err != nil {
			return wrapValidation(err)
		}
		a.DefaultFireLimit = f
	}
	if _, err := t.duration("shutdown_grace", 0, 10*time.Minute, "0s", "10m", &a.ShutdownGrace); err != nil {
		return err
	}
	if w, ok, err := t.sub("webhooks"); err != nil {
		return err
	} else if ok {
		if err := w.checkKeys("replay_retention", "rate_limit"); err != nil {
			return err
		}
		if _, err := w.duration("replay_retention", 10*time.Minute, 720*time.Hour, "10m", "720h", &a.ReplayRetention); err != nil {
			return err
		}
		if err := w.intRange("rate_limit", 0, 1000000, &a.WebhookRateLimit); err != nil {
			return err
		}
	}
	if h, ok, err := t.sub("history"); err != nil {
		return err
	} else if ok {
		if err := h.checkKeys("slots_per_job", "deliveries_per_trigger"); err != nil {
			return err
		}
		if err := h.intRange("slots_per_job", 10, 100000, &a.SlotsPerJob); err != nil {
			return err
		}
		if err := h.intRange("deliveries_per_trigger", 10, 100000, &a.DeliveriesPerTrigger); err != nil {
			return err
		}
	}
	return nil
}

// checkZone accepts an IANA zone name of the embedded database; "Local" and "" are refused.
func checkZone(name string) error {
	if name == "" || name == "Local" {
		return errors.New("unknown time zone")
	}
	_, err := schedule.LoadLocation(name)
	return err
}

// wrapValidation turns an automation validation error into a config error.
func wrapValidation(err error) error {
	var ve *automation.ValidationError
	if errors.As(err, &ve) {
		return errorf("%s", ve.Detail)
	}
	return errorf("%s", err.Error())
}

func (p *parser) agents(root table) error {
	t, ok, err := root.sub("agents")
	if err != nil || !ok {
		return err
	}
	for _, name := range sortedKeys(t.m) {
		at, _, err := t.sub(name)
		if err != nil {
			return err
		}
		if !nameRE.MatchString(name) {
			return errorf("agents.%s: agent name %q is invalid (must match ^[a-z0-9][a-z0-9_-]{0,63}$)", name, name)
		}
		a, err := p.agent(name, at)
		if err != nil {
			return err
		}
		p.cfg.Agents[name] = a
	}
	return nil
}

func (p *parser) agent(name string, t table) (*Agent, error) {
	if err := t.checkKeys("driver", "preset", "command", "env", "permissions", "timeout", "max_output_bytes"); err != nil {
		return nil, err
	}
	a := &Agent{
		Name:           name,
		Timeout:        DefaultAgentTimeout,
		TimeoutText:    DefaultAgentTimeoutText,
		MaxOutputBytes: DefaultMaxOutputBytes,
	}
	driver, hasDriver, err := t.str("driver")
	if err != nil {
		return nil, err
	}
	preset, hasPreset, err := t.str("preset")
	if err != nil {
		return nil, err
	}
	if hasDriver && driver != "acp" && driver != "exec" {
		return nil, errorf("%s must be one of \"acp\" or \"exec\": %q", t.key("driver"), driver)
	}
	if hasPreset {
		if _, known := Presets[preset]; !known {
			return nil, errorf("%s must be one of \"claude-code\", \"codex\", \"gemini\", or \"opencode\": %q", t.key("preset"), preset)
		}
		if hasDriver && driver != "acp" {
			return nil, errorf("%s must be \"acp\" when %s is set: %q", t.key("driver"), t.key("preset"), driver)
		}
		driver = "acp"
		a.Preset = preset
		a.Command = slices.Clone(Presets[preset])
	} else if !hasDriver {
		return nil, errorf("%s is required", t.key("driver"))
	}
	a.Driver = driver
	cmd, hasCmd, err := t.array("command")
	if err != nil {
		return nil, err
	}
	if hasCmd {
		if len(cmd) == 0 {
			return nil, errorf("%s must not be empty", t.key("command"))
		}
		a.Command = make([]string, len(cmd))
		for i, v := range cmd {
			s, isStr := v.(string)
			if !isStr {
				return nil, errorf("%s[%d] must be a string", t.key("command"), i)
			}
			a.Command[i] = s
		}
		if strings.TrimSpace(a.Command[0]) == "" {
			return nil, errorf("%s[0] must not be empty", t.key("command"))
		}
	} else if !hasPreset {
		return nil, errorf("%s is required", t.key("command"))
	}
	if et, ok, err := t.sub("env"); err != nil {
		return nil, err
	} else if ok {
		a.Env = make(map[string]string, len(et.m))
		for _, k := range sortedKeys(et.m) {
			if k == "" || strings.ContainsAny(k, "=\x00") {
				return nil, errorf("%s has an invalid variable name: %q", t.key("env"), k)
			}
			v, _, err := et.str(k)
			if err != nil {
				return nil, err
			}
			val, _, err := resolve(et.key(k), v, p.getenv)
			if err != nil {
				return nil, err
			}
			a.Env[k] = val
		}
	}
	perm, hasPerm, err := t.str("permissions")
	if err != nil {
		return nil, err
	}
	switch {
	case driver == "exec" && hasPerm:
		return nil, errorf("%s is not allowed for exec agents", t.key("permissions"))
	case driver == "acp" && !hasPerm:
		return nil, errorf("%s is required for acp agents", t.key("permissions"))
	case hasPerm && perm != "allow" && perm != "deny":
		return nil, errorf("%s must be one of \"allow\" or \"deny\": %q", t.key("permissions"), perm)
	}
	a.Permissions = perm
	if text, err := t.duration("timeout", time.Second, 24*time.Hour, "1s", "24h", &a.Timeout); err != nil {
		return nil, err
	} else if text != "" {
		a.TimeoutText = text
	}
	if err := t.intRange("max_output_bytes", MinMaxOutputBytes, MaxMaxOutputBytes, &a.MaxOutputBytes); err != nil {
		return nil, err
	}
	return a, nil
}

func (p *parser) workspaces(root table) error {
	list, err := root.tables("workspaces")
	if err != nil {
		return err
	}
	ids := map[string]int{}
	paths := map[string]int{}
	for i, t := range list {
		if err := t.checkKeys("id", "path"); err != nil {
			return err
		}
		id, _, err := t.str("id")
		if err != nil {
			return err
		}
		path, _, err := t.str("path")
		if err != nil {
			return err
		}
		if id == "" {
			return errorf("%s is required", t.key("id"))
		}
		if !nameRE.MatchString(id) {
			return errorf("%s is invalid: %q", t.key("id"), id)
		}
		if path == "" {
			return errorf("%s is required", t.key("path"))
		}
		if !filepath.IsAbs(path) {
			return errorf("%s must be absolute: %q", t.key("path"), path)
		}
		resolved, err := filepath.EvalSymlinks(filepath.Clean(path))
		if err != nil {
			return errorf("%s is not a directory: %q", t.key("path"), path)
		}
		if st, err := os.Stat(resolved); err != nil || !st.IsDir() {
			return errorf("%s is not a directory: %q", t.key("path"), path)
		}
		resolved = filepath.Clean(resolved)
		if j, dup := ids[id]; dup {
			return errorf("%s %q is duplicated (also workspaces[%d].id)", t.key("id"), id, j)
		}
		if j, dup := paths[resolved]; dup {
			return errorf("%s %q is duplicated (workspaces[%d] has the same directory)", t.key("path"), path, j)
		}
		ids[id], paths[resolved] = i, i
		p.cfg.Workspaces = append(p.cfg.Workspaces, Workspace{ID: id, Path: resolved})
	}
	return nil
}

func (p *parser) channels(root table) error {
	t, ok, err := root.sub("channels")
	if err != nil || !ok {
		return err
	}
	for _, name := range sortedKeys(t.m) {
		ct, _, err := t.sub(name)
		if err != nil {
			return err
		}
		if !nameRE.MatchString(name) {
			return errorf("channels.%s: channel name %q is invalid (must match ^[a-z0-9][a-z0-9_-]{0,63}$)", name, name)
		}
		if err := ct.checkKeys("kind", "url", "secret"); err != nil {
			return err
		}
		c := &Channel{Name: name}
		kind, ok, err := ct.str("kind")
		if err != nil {
			return err
		}
		if !ok {
			return errorf("%s is required", ct.key("kind"))
		}
		if kind != "webhook" {
			return errorf("%s must be \"webhook\": %q", ct.key("kind"), kind)
		}
		c.Kind = kind
		raw, ok, err := ct.str("url")
		if err != nil {
			return err
		}
		if !ok || raw == "" {
			return errorf("%s is required", ct.key("url"))
		}
		u, err := url.Parse(raw)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.Opaque != "" {
			return errorf("%s must be an absolute http or https URL: %q", ct.key("url"), raw)
		}
		c.URL = raw
		sec, _, err := ct.str("secret")
		if err != nil {
			return err
		}
		if sec == "" {
			return errorf("%s is required", ct.key("secret"))
		}
		val, envName, err := resolve(ct.key("secret"), sec, p.getenv)
		if err != nil {
			return err
		}
		if envName != "" {
			p.secretEnv[envName] = true
		}
		c.Secret = val
		p.cfg.Channels[name] = c
	}
	return nil
}

// triggerSecretKeys are the trigger keys whose env: references name secrets (SPEC §13.5).
var triggerSecretKeys = []string{"webhook_secret", "webhook_secret_ref", "webhook_secret_previous"}

func (p *parser) triggers(auto table) error {
	if auto.m == nil {
		return nil
	}
	list, err := auto.tables("triggers")
	if err != nil {
		return err
	}
	for _, t := range list {
		for _, k := range triggerSecretKeys {
			if s, ok := t.m[k].(string); ok {
				if n, isRef := envRef(s); isRef && envNameRE.MatchString(n) {
					p.secretEnv[n] = true
				}
			}
		}
		p.cfg.TriggerDefs = append(p.cfg.TriggerDefs, t.m)
	}
	return p.buildTriggers()
}

// IsLoopback reports whether the host of an http.addr ("host:port", or a bare host) is a
// loopback host: an IP in 127.0.0.0/8, ::1, or the name localhost. Unspecified addresses
// (0.0.0.0, ::, empty host) are not loopback (SPEC §14.1).
func IsLoopback(addr string) bool {
	host := addr
	if h, _, err := net.SplitHostPort(addr); err == nil {
		host = h
	} else if strings.HasPrefix(host, "[") && strings.HasSuffix(host, "]") {
		host = host[1 : len(host)-1]
	}
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// CheckAccess applies the non-loopback rule of SPEC §14.1 to the configuration as it will be
// served: call it after command-line overrides of HTTP.Addr (and on reload). A non-nil error
// means exit status 2 (or a rejected reload).
func (c *Config) CheckAccess() error {
	if len(c.API.Tokens) == 0 && !IsLoopback(c.HTTP.Addr) {
		return fmt.Errorf("http.addr %q is not a loopback address; configure api.tokens or AGH_API_TOKEN", c.HTTP.Addr)
	}
	return nil
}

// NonReloadableChanges lists the non-reloadable keys (SPEC §13.3) whose values differ between
// old and new, in key-reference order. The daemon logs "config: <key> changes require a
// restart" for each and keeps the old values.
func NonReloadableChanges(old, new *Config) []string {
	var out []string
	add := func(key string, changed bool) {
		if changed {
			out = append(out, key)
		}
	}
	add("node_id", old.NodeID != new.NodeID)
	add("http.addr", old.HTTP.Addr != new.HTTP.Addr)
	add("http.socket", old.HTTP.Socket != new.HTTP.Socket)
	add("http.read_header_timeout", old.HTTP.ReadHeaderTimeout != new.HTTP.ReadHeaderTimeout)
	add("http.read_timeout", old.HTTP.ReadTimeout != new.HTTP.ReadTimeout)
	add("http.write_timeout", old.HTTP.WriteTimeout != new.HTTP.WriteTimeout)
	add("http.idle_timeout", old.HTTP.IdleTimeout != new.HTTP.IdleTimeout)
	add("store.url", old.Store.URL != new.Store.URL)
	add("log.format", old.Log.Format != new.Log.Format)
	add("log.file", old.Log.File != new.Log.File)
	add("automation.enabled", old.Automation.Enabled != new.Automation.Enabled)
	return out
}
