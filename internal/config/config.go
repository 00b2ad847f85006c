// Package config loads and validates agh's TOML configuration (SPEC §13): strict keys (unknown
// keys are errors naming the dotted path), defaults, env: references, agents, workspaces,
// channels and config-sourced definitions.
package config

import (
	"time"

	"github.com/agh-dev/agh/internal/automation"
)

// Config is a validated configuration with every default applied.
type Config struct {
	NodeID     string
	HTTP       HTTP
	API        API
	Store      Store
	Log        Log
	Automation Automation
	Agents     map[string]*Agent
	Workspaces []Workspace
	Channels   map[string]*Channel
	// Jobs are the config-sourced jobs ([[automation.jobs]]), validated, with deterministic
	// ids, Source "config", ConfigEnabled set and ConfigHash fingerprinting the file entry.
	Jobs []*automation.Job
	// TriggerDefs are the raw [[automation.triggers]] tables; Triggers the validated ones.
	TriggerDefs []map[string]any
	Triggers    []*Trigger
	// SecretEnvNames are the variables named by env: references in api.tokens, channel
	// secrets and webhook secrets; they are removed from agent environments (SPEC §10.2).
	SecretEnvNames []string
}

// HTTP is [http].
type HTTP struct {
	Addr              string
	Socket            string // "" = <data_dir>/agh.sock, "-" = disabled
	ReadHeaderTimeout time.Duration
	ReadTimeout       time.Duration
	WriteTimeout      time.Duration
	IdleTimeout       time.Duration
}

// API is [api]. Tokens are resolved values (env: references read), plus AGH_API_TOKEN.
type API struct{ Tokens []string }

// Store is [store].
type Store struct{ URL string }

// Log is [log].
type Log struct {
	Level  string
	Format string
	File   string
}

// Automation is [automation].
type Automation struct {
	Enabled              bool
	Paused               bool
	Timezone             string
	MaxConcurrentRuns    int
	DefaultFireLimit     automation.FireLimit
	ShutdownGrace        time.Duration
	ReplayRetention      time.Duration
	SlotsPerJob          int
	DeliveriesPerTrigger int
	// WebhookRateLimit is automation.webhooks.rate_limit: requests per second per webhook
	// endpoint on the TCP listener (burst twice that); 0 disables the limit.
	WebhookRateLimit int
}

// Agent is [agents.<name>] after preset resolution.
type Agent struct {
	Name           string
	Driver         string // "acp" | "exec"
	Preset         string
	Command        []string
	Env            map[string]string // resolved values
	Permissions    string
	Timeout        time.Duration
	TimeoutText    string // as written (echoed by GET /api/agents)
	MaxOutputBytes int
}

// Workspace is one [[workspaces]] entry (path cleaned and symlinks resolved).
type Workspace struct {
	ID   string
	Path string
}

// Channel is [channels.<name>].
type Channel struct {
	Name   string
	Kind   string
	URL    string
	Secret string // resolved value; never logged
}

// Default returns the configuration used when no file exists.
func Default() *Config {
	return &Config{
		HTTP: HTTP{
			Addr:              "127.0.0.1:2123",
			ReadHeaderTimeout: 10 * time.Second,
			ReadTimeout:       60 * time.Second,
			WriteTimeout:      60 * time.Second,
			IdleTimeout:       120 * time.Second,
		},
		Log: Log{Level: "info", Format: "json"},
		Automation: Automation{
			Enabled:              true,
			Timezone:             "UTC",
			MaxConcurrentRuns:    5,
			DefaultFireLimit:     automation.FireLimit{Max: 12, Window: "1h"},
			ShutdownGrace:        10 * time.Second,
			ReplayRetention:      24 * time.Hour,
			SlotsPerJob:          1000,
			DeliveriesPerTrigger: 1000,
			WebhookRateLimit:     200,
		},
		Agents:   map[string]*Agent{},
		Channels: map[string]*Channel{},
	}
}
