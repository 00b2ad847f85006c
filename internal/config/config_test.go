package config

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/agh-dev/agh/internal/automation"
)

var testNow = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

func envFunc(env map[string]string) func(string) string {
	return func(k string) string { return env[k] }
}

func hostname(t *testing.T) string {
	t.Helper()
	h, err := os.Hostname()
	if err != nil || !nodeIDRE.MatchString(h) {
		t.Skipf("host name %q unusable as default node id", h)
	}
	return h
}

// defaults returns Default() with the host-name node id, as Parse yields for an empty file.
func defaults(t *testing.T) *Config {
	c := Default()
	c.NodeID = hostname(t)
	return c
}

func mustParse(t *testing.T, src string, env map[string]string) *Config {
	t.Helper()
	c, err := Parse([]byte(src), envFunc(env), testNow)
	if err != nil {
		t.Fatalf("Parse: %v\n%s", err, src)
	}
	return c
}

func TestDefaults(t *testing.T) {
	want := defaults(t)
	for _, src := range []string{
		"",
		"# only a comment\n",
		"[http]\n[api]\n[store]\n[log]\n[automation]\n[automation.webhooks]\n[automation.history]\n[agents]\n[channels]\n",
		"workspaces = []\n[api]\ntokens = []\n[automation]\njobs = []\ntriggers = []\n",
	} {
		got := mustParse(t, src, nil)
		if !reflect.DeepEqual(got, want) {
			t.Errorf("Parse(%q) = %+v, want defaults %+v", src, got, want)
		}
	}
	got, err := Parse(nil, nil, testNow)
	if err != nil || !reflect.DeepEqual(got, want) {
		t.Errorf("Parse(nil) = %+v, %v", got, err)
	}
}

// TestValidValues checks every scalar key: the parsed configuration equals the defaults with
// the expected change applied.
func TestValidValues(t *testing.T) {
	tok := "0123456789abcdef"
	cases := []struct {
		src  string
		env  map[string]string
		want func(c *Config)
	}{
		{`node_id = "worker-a"`, nil, func(c *Config) { c.NodeID = "worker-a" }},
		{`node_id = "A.b_c-9"`, nil, func(c *Config) { c.NodeID = "A.b_c-9" }},
		{`node_id = "` + strings.Repeat("n", 64) + `"`, nil, func(c *Config) { c.NodeID = strings.Repeat("n", 64) }},
		{"[http]\naddr = \"0.0.0.0:80\"", nil, func(c *Config) { c.HTTP.Addr = "0.0.0.0:80" }},
		{"[http]\naddr = \"[::1]:0\"", nil, func(c *Config) { c.HTTP.Addr = "[::1]:0" }},
		{"[http]\naddr = \":2123\"", nil, func(c *Config) { c.HTTP.Addr = ":2123" }},
		{"[http]\naddr = \"localhost:8080\"", nil, func(c *Config) { c.HTTP.Addr = "localhost:8080" }},
		{"[http]\nsocket = \"-\"", nil, func(c *Config) { c.HTTP.Socket = "-" }},
		{"[http]\nsocket = \"/run/agh.sock\"", nil, func(c *Config) { c.HTTP.Socket = "/run/agh.sock" }},
		{"[http]\nread_header_timeout = \"5s\"", nil, func(c *Config) { c.HTTP.ReadHeaderTimeout = 5 * time.Second }},
		{"[http]\nread_timeout = \"2m\"", nil, func(c *Config) { c.HTTP.ReadTimeout = 2 * time.Minute }},
		{"[http]\nwrite_timeout = \"1h\"", nil, func(c *Config) { c.HTTP.WriteTimeout = time.Hour }},
		{"[http]\nidle_timeout = \"1ms\"", nil, func(c *Config) { c.HTTP.IdleTimeout = time.Millisecond }},
		{"[api]\ntokens = [\"" + tok + "\"]", nil, func(c *Config) { c.API.Tokens = []string{tok} }},
		{"[api]\ntokens = [\"env:TOK\", \"" + tok + "x\"]", map[string]string{"TOK": tok}, func(c *Config) {
			c.API.Tokens = []string{tok, tok + "x"}
			c.SecretEnvNames = []string{"TOK"}
		}},
		{"", map[string]string{"AGH_API_TOKEN": tok}, func(c *Config) { c.API.Tokens = []string{tok} }},
		{"[api]\ntokens = [\"env:TOK\"]", map[string]string{"TOK": tok + "1", "AGH_API_TOKEN": tok}, func(c *Config) {
			c.API.Tokens = []string{tok + "1", tok}
			c.SecretEnvNames = []string{"TOK"}
		}},
		{"[api]\ntokens = [\"ééééééééééééééé1\"]", nil, func(c *Config) { c.API.Tokens = []string{"ééééééééééééééé1"} }},
		{"[store]\nurl = \"sqlite:/tmp/x.db\"", nil, func(c *Config) { c.Store.URL = "sqlite:/tmp/x.db" }},
		{"[log]\nlevel = \"debug\"", nil, func(c *Config) { c.Log.Level = "debug" }},
		{"[log]\nlevel = \"warn\"", nil, func(c *Config) { c.Log.Level = "warn" }},
		{"[log]\nlevel = \"error\"", nil, func(c *Config) { c.Log.Level = "error" }},
		{"[log]\nformat = \"text\"", nil, func(c *Config) { c.Log.Format = "text" }},
		{"[log]\nfile = \"/var/log/agh.log\"", nil, func(c *Config) { c.Log.File = "/var/log/agh.log" }},
		{"[automation]\nenabled = false", nil, func(c *Config) { c.Automation.Enabled = false }},
		{"[automation]\npaused = true", nil, func(c *Config) { c.Automation.Paused = true }},
		{"[automation]\ntimezone = \"Europe/Paris\"", nil, func(c *Config) { c.Automation.Timezone = "Europe/Paris" }},
		{"[automation]\nmax_concurrent_runs = 1", nil, func(c *Config) { c.Automation.MaxConcurrentRuns = 1 }},
		{"[automation]\nmax_concurrent_runs = 1000", nil, func(c *Config) { c.Automation.MaxConcurrentRuns = 1000 }},
		{"[automation]\nmax_concurrent_jobs = 7", nil, func(c *Config) { c.Automation.MaxConcurrentRuns = 7 }},
		{"[automation]\ndefault_fire_limit = { max = 1, window = \"720h\" }", nil, func(c *Config) {
			c.Automation.DefaultFireLimit = automation.FireLimit{Max: 1, Window: "720h"}
		}},
		{"[automation]\nshutdown_grace = \"0s\"", nil, func(c *Config) { c.Automation.ShutdownGrace = 0 }},
		{"[automation]\nshutdown_grace = \"10m\"", nil, func(c *Config) { c.Automation.ShutdownGrace = 10 * time.Minute }},
		{"[automation.webhooks]\nreplay_retention = \"10m\"", nil, func(c *Config) { c.Automation.ReplayRetention = 10 * time.Minute }},
		{"[automation.webhooks]\nreplay_retention = \"720h\"", nil, func(c *Config) { c.Automation.ReplayRetention = 720 * time.Hour }},
		{"[automation.history]\nslots_per_job = 10\ndeliveries_per_trigger = 100000", nil, func(c *Config) {
			c.Automation.SlotsPerJob = 10
			c.Automation.DeliveriesPerTrigger = 100000
		}},
		{"[channels.ops]\nkind = \"webhook\"\nurl = \"http://h:9/x\"\nsecret = \"s\"", nil, func(c *Config) {
			c.Channels["ops"] = &Channel{Name: "ops", Kind: "webhook", URL: "http://h:9/x", Secret: "s"}
		}},
		{"[channels.ops]\nkind = \"webhook\"\nurl = \"https://h/x\"\nsecret = \"env:S\"\n[channels.b]\nkind = \"webhook\"\nurl = \"https://b\"\nsecret = \"env:S2\"",
			map[string]string{"S": "sv", "S2": "sv2"}, func(c *Config) {
				c.Channels["ops"] = &Channel{Name: "ops", Kind: "webhook", URL: "https://h/x", Secret: "sv"}
				c.Channels["b"] = &Channel{Name: "b", Kind: "webhook", URL: "https://b", Secret: "sv2"}
				c.SecretEnvNames = []string{"S", "S2"}
			}},
	}
	for _, tc := range cases {
		want := defaults(t)
		tc.want(want)
		got := mustParse(t, tc.src, tc.env)
		if !reflect.DeepEqual(got, want) {
			t.Errorf("Parse(%q):\n got %+v\nwant %+v", tc.src, got, want)
		}
	}
}

func TestAgents(t *testing.T) {
	def := func(a Agent) *Agent {
		a.Timeout, a.TimeoutText, a.MaxOutputBytes = 30*time.Minute, "30m", 1048576
		return &a
	}
	cases := []struct {
		src  string
		env  map[string]string
		want *Agent
	}{
		{"preset = \"claude-code\"\npermissions = \"allow\"", nil, def(Agent{Driver: "acp", Preset: "claude-code",
			Command: []string{"npx", "-y", "@zed-industries/claude-code-acp"}, Permissions: "allow"})},
		{"preset = \"codex\"\npermissions = \"deny\"", nil, def(Agent{Driver: "acp", Preset: "codex",
			Command: []string{"npx", "-y", "@zed-industries/codex-acp"}, Permissions: "deny"})},
		{"preset = \"gemini\"\ndriver = \"acp\"\npermissions = \"deny\"", nil, def(Agent{Driver: "acp", Preset: "gemini",
			Command: []string{"gemini", "--experimental-acp"}, Permissions: "deny"})},
		{"preset = \"opencode\"\npermissions = \"allow\"", nil, def(Agent{Driver: "acp", Preset: "opencode",
			Command: []string{"opencode", "acp"}, Permissions: "allow"})},
		{"preset = \"codex\"\ncommand = [\"/opt/codex-acp\", \"\"]\npermissions = \"allow\"", nil, def(Agent{Driver: "acp", Preset: "codex",
			Command: []string{"/opt/codex-acp", ""}, Permissions: "allow"})},
		{"driver = \"acp\"\ncommand = [\"opencode\", \"acp\"]\npermissions = \"allow\"", nil, def(Agent{Driver: "acp",
			Command: []string{"opencode", "acp"}, Permissions: "allow"})},
		{"driver = \"exec\"\ncommand = [\"ai-lint\", \"{prompt}\"]\ntimeout = \"5m\"\nmax_output_bytes = 262144", nil,
			&Agent{Driver: "exec", Command: []string{"ai-lint", "{prompt}"}, Timeout: 5 * time.Minute, TimeoutText: "5m", MaxOutputBytes: 262144}},
		{"driver = \"exec\"\ncommand = [\"x\"]\ntimeout = \"1s\"\nmax_output_bytes = 1024", nil,
			&Agent{Driver: "exec", Command: []string{"x"}, Timeout: time.Second, TimeoutText: "1s", MaxOutputBytes: 1024}},
		{"driver = \"exec\"\ncommand = [\"x\"]\ntimeout = \"24h\"\nmax_output_bytes = 67108864", nil,
			&Agent{Driver: "exec", Command: []string{"x"}, Timeout: 24 * time.Hour, TimeoutText: "24h", MaxOutputBytes: 67108864}},
		{"driver = \"exec\"\ncommand = [\"x\"]\nenv = { A = \"lit\", B = \"env:FROM\", \"C.D\" = \"\" }", map[string]string{"FROM": "v"},
			def(Agent{Driver: "exec", Command: []string{"x"}, Env: map[string]string{"A": "lit", "B": "v", "C.D": ""}})},
	}
	for _, tc := range cases {
		c := mustParse(t, "[agents.a-1]\n"+tc.src, tc.env)
		tc.want.Name = "a-1"
		if got := c.Agents["a-1"]; !reflect.DeepEqual(got, tc.want) || len(c.Agents) != 1 {
			t.Errorf("%q:\n got %+v\nwant %+v", tc.src, got, tc.want)
		}
		if c.SecretEnvNames != nil {
			t.Errorf("agent env references must not be secret env names: %v", c.SecretEnvNames)
		}
	}
	// Preset commands are copies: mutating one agent's command leaves the table intact.
	c := mustParse(t, "[agents.a]\npreset = \"gemini\"\npermissions = \"deny\"", nil)
	c.Agents["a"].Command[0] = "x"
	if Presets["gemini"][0] != "gemini" {
		t.Fatal("preset table was mutated")
	}
}

// errCase is a source that must fail with exactly want. "@DIR@" is replaced by a temporary
// directory, "@FILE@" by a regular file.
type errCase struct {
	src  string
	env  map[string]string
	want string
}

func runErrCases(t *testing.T, cases []errCase) {
	t.Helper()
	dir := t.TempDir()
	file := filepath.Join(dir, "file")
	if err := os.WriteFile(file, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tc := range cases {
		src := strings.ReplaceAll(strings.ReplaceAll(tc.src, "@DIR@", dir), "@FILE@", file)
		want := strings.ReplaceAll(strings.ReplaceAll(tc.want, "@DIR@", dir), "@FILE@", file)
		c, err := Parse([]byte(src), envFunc(tc.env), testNow)
		if err == nil {
			t.Errorf("Parse(%q) = %+v, want error %q", src, c, want)
			continue
		}
		if err.Error() != want {
			t.Errorf("Parse(%q):\n got error %q\nwant error %q", src, err.Error(), want)
		}
	}
}

func TestErrors(t *testing.T) {
	long := strings.Repeat("n", 65)
	runErrCases(t, []errCase{
		// TOML syntax.
		{"a = = 1", nil, "config: line 1, column 5: unexpected character U+003D '=' at start of value"},
		{"a = 1\na = 2", nil, "config: line 2, column 1: key a is already defined"},
		// unknown keys at every level.
		{"foo = 1", nil, `config: unknown key "foo"`},
		{"[automation]\nmax_jobs = 3", nil, `config: unknown key "automation.max_jobs"`},
		{"[http]\nport = 1", nil, `config: unknown key "http.port"`},
		{"[api]\ntoken = \"x\"", nil, `config: unknown key "api.token"`},
		{"[store]\ndsn = \"x\"", nil, `config: unknown key "store.dsn"`},
		{"[log]\nlevels = \"x\"", nil, `config: unknown key "log.levels"`},
		{"[automation.webhooks]\nretention = \"1h\"", nil, `config: unknown key "automation.webhooks.retention"`},
		{"[automation.history]\nruns_per_job = 10", nil, `config: unknown key "automation.history.runs_per_job"`},
		{"[automation]\ndefault_fire_limit = { max = 1, window = \"1h\", burst = 2 }", nil, `config: unknown key "automation.default_fire_limit.burst"`},
		{"[agents.a]\ndriver = \"exec\"\ncommand = [\"x\"]\nargs = []", nil, `config: unknown key "agents.a.args"`},
		{"[[workspaces]]\nid = \"w\"\npath = \"@DIR@\"\nname = \"x\"", nil, `config: unknown key "workspaces[0].name"`},
		{"[channels.ops]\nkind = \"webhook\"\nurl = \"https://x\"\nsecret = \"s\"\nheaders = {}", nil, `config: unknown key "channels.ops.headers"`},
		// wrong types.
		{"node_id = 1", nil, "config: node_id must be a string"},
		{"http = 1", nil, "config: http must be a table"},
		{"[http]\naddr = 2123", nil, "config: http.addr must be a string"},
		{"[http]\nsocket = false", nil, "config: http.socket must be a string"},
		{"[http]\nread_timeout = 60", nil, "config: http.read_timeout must be a string"},
		{"api = []", nil, "config: api must be a table"},
		{"[api]\ntokens = \"0123456789abcdef\"", nil, "config: api.tokens must be an array"},
		{"[api]\ntokens = [1]", nil, "config: api.tokens[0] must be a string"},
		{"[store]\nurl = 1", nil, "config: store.url must be a string"},
		{"[log]\nlevel = 1", nil, "config: log.level must be a string"},
		{"[log]\nfile = []", nil, "config: log.file must be a string"},
		{"automation = 1", nil, "config: automation must be a table"},
		{"[automation]\nenabled = \"yes\"", nil, "config: automation.enabled must be a boolean"},
		{"[automation]\npaused = 1", nil, "config: automation.paused must be a boolean"},
		{"[automation]\ntimezone = 0", nil, "config: automation.timezone must be a string"},
		{"[automation]\nmax_concurrent_runs = 5.0", nil, "config: automation.max_concurrent_runs must be an integer"},
		{"[automation]\nmax_concurrent_runs = \"5\"", nil, "config: automation.max_concurrent_runs must be an integer"},
		{"[automation]\ndefault_fire_limit = 12", nil, "config: automation.default_fire_limit must be a table"},
		{"[automation]\ndefault_fire_limit = { max = \"1\", window = \"1h\" }", nil, "config: automation.default_fire_limit.max must be an integer"},
		{"[automation]\ndefault_fire_limit = { max = 1, window = 60 }", nil, "config: automation.default_fire_limit.window must be a string"},
		{"[automation]\nshutdown_grace = 10", nil, "config: automation.shutdown_grace must be a string"},
		{"[automation]\nwebhooks = 1", nil, "config: automation.webhooks must be a table"},
		{"[automation.webhooks]\nreplay_retention = 1", nil, "config: automation.webhooks.replay_retention must be a string"},
		{"[automation]\nhistory = []", nil, "config: automation.history must be a table"},
		{"[automation.history]\nslots_per_job = \"10\"", nil, "config: automation.history.slots_per_job must be an integer"},
		{"[automation.history]\ndeliveries_per_trigger = true", nil, "config: automation.history.deliveries_per_trigger must be an integer"},
		{"agents = 1", nil, "config: agents must be a table"},
		{"[agents]\na = 1", nil, "config: agents.a must be a table"},
		{"[agents.a]\ndriver = 1", nil, "config: agents.a.driver must be a string"},
		{"[agents.a]\npreset = 1", nil, "config: agents.a.preset must be a string"},
		{"[agents.a]\ndriver = \"exec\"\ncommand = \"x\"", nil, "config: agents.a.command must be an array"},
		{"[agents.a]\ndriver = \"exec\"\ncommand = [\"x\", 1]", nil, "config: agents.a.command[1] must be a string"},
		{"[agents.a]\ndriver = \"exec\"\ncommand = [\"x\"]\nenv = []", nil, "config: agents.a.env must be a table"},
		{"[agents.a]\ndriver = \"exec\"\ncommand = [\"x\"]\nenv = { A = 1 }", nil, "config: agents.a.env.A must be a string"},
		{"[agents.a]\npreset = \"codex\"\npermissions = true", nil, "config: agents.a.permissions must be a string"},
		{"[agents.a]\ndriver = \"exec\"\ncommand = [\"x\"]\ntimeout = 60", nil, "config: agents.a.timeout must be a string"},
		{"[agents.a]\ndriver = \"exec\"\ncommand = [\"x\"]\nmax_output_bytes = \"1k\"", nil, "config: agents.a.max_output_bytes must be an integer"},
		{"[workspaces]\nid = \"w\"", nil, "config: workspaces must be an array"},
		{"workspaces = [1]", nil, "config: workspaces[0] must be a table"},
		{"[[workspaces]]\nid = 1", nil, "config: workspaces[0].id must be a string"},
		{"[[workspaces]]\nid = \"w\"\npath = 1", nil, "config: workspaces[0].path must be a string"},
		{"channels = \"x\"", nil, "config: channels must be a table"},
		{"[channels]\nops = 1", nil, "config: channels.ops must be a table"},
		{"[channels.ops]\nkind = 1", nil, "config: channels.ops.kind must be a string"},
		{"[channels.ops]\nkind = \"webhook\"\nurl = 1", nil, "config: channels.ops.url must be a string"},
		{"[channels.ops]\nkind = \"webhook\"\nurl = \"https://x\"\nsecret = 1", nil, "config: channels.ops.secret must be a string"},
		{"[automation]\njobs = 1", nil, "config: automation.jobs must be an array"},
		{"[automation]\njobs = [1]", nil, "config: automation.jobs[0] must be a table"},
		{"[automation.jobs]\nname = \"x\"", nil, "config: automation.jobs must be an array"},
		{"[automation]\ntriggers = {}", nil, "config: automation.triggers must be an array"},
		{"[automation]\ntriggers = [\"x\"]", nil, "config: automation.triggers[0] must be a table"},
		// node_id.
		{`node_id = ""`, nil, `config: node_id is invalid: "" (must match ^[A-Za-z0-9._-]{1,64}$)`},
		{`node_id = "` + long + `"`, nil, `config: node_id is invalid: "` + long + `" (must match ^[A-Za-z0-9._-]{1,64}$)`},
		{`node_id = "a b"`, nil, `config: node_id is invalid: "a b" (must match ^[A-Za-z0-9._-]{1,64}$)`},
		// http.
		{"[http]\naddr = \"\"", nil, `config: http.addr is invalid: "" (must be host:port)`},
		{"[http]\naddr = \"127.0.0.1\"", nil, `config: http.addr is invalid: "127.0.0.1" (must be host:port)`},
		{"[http]\naddr = \"127.0.0.1:http\"", nil, `config: http.addr is invalid: "127.0.0.1:http" (port must be a number between 0 and 65535)`},
		{"[http]\naddr = \"127.0.0.1:65536\"", nil, `config: http.addr is invalid: "127.0.0.1:65536" (port must be a number between 0 and 65535)`},
		{"[http]\naddr = \"127.0.0.1:\"", nil, `config: http.addr is invalid: "127.0.0.1:" (port must be a number between 0 and 65535)`},
		{"[http]\nread_header_timeout = \"10\"", nil, `config: http.read_header_timeout is invalid: missing unit in duration "10"`},
		{"[http]\nread_timeout = \"0s\"", nil, "config: http.read_timeout must be at least 1ms: 0s"},
		{"[http]\nwrite_timeout = \"-1s\"", nil, "config: http.write_timeout must be at least 1ms: -1s"},
		{"[http]\nidle_timeout = \"x\"", nil, `config: http.idle_timeout is invalid: invalid duration "x"`},
		// api.tokens.
		{"[api]\ntokens = [\"short\"]", nil, "config: api.tokens[0] must be at least 16 characters"},
		{"[api]\ntokens = [\"0123456789abcdef\", \"\"]", nil, "config: api.tokens[1] must be at least 16 characters"},
		{"[api]\ntokens = [\"env:TOK\"]", nil, "config: api.tokens[0] references environment variable TOK, which is not set or empty"},
		{"[api]\ntokens = [\"env:TOK\"]", map[string]string{"TOK": "short"}, "config: api.tokens[0] must be at least 16 characters"},
		{"[api]\ntokens = [\"env:\"]", nil, `config: api.tokens[0] has an invalid environment variable name: "env:"`},
		{"[api]\ntokens = [\"env:A-B\"]", nil, `config: api.tokens[0] has an invalid environment variable name: "env:A-B"`},
		{"", map[string]string{"AGH_API_TOKEN": "short"}, "config: AGH_API_TOKEN must be at least 16 characters"},
		// log.
		{"[log]\nlevel = \"trace\"", nil, `config: log.level must be one of "debug", "info", "warn", or "error": "trace"`},
		{"[log]\nlevel = \"INFO\"", nil, `config: log.level must be one of "debug", "info", "warn", or "error": "INFO"`},
		{"[log]\nformat = \"logfmt\"", nil, `config: log.format must be one of "json" or "text": "logfmt"`},
		// automation.
		{"[automation]\ntimezone = \"Mars/Base\"", nil, `config: automation.timezone is invalid: unknown time zone "Mars/Base"`},
		{"[automation]\ntimezone = \"Local\"", nil, `config: automation.timezone is invalid: unknown time zone "Local"`},
		{"[automation]\ntimezone = \"\"", nil, `config: automation.timezone is invalid: unknown time zone ""`},
		{"[automation]\ntimezone = \"/etc/localtime\"", nil, `config: automation.timezone is invalid: unknown time zone "/etc/localtime"`},
		{"[automation]\nmax_concurrent_runs = 0", nil, "config: automation.max_concurrent_runs must be between 1 and 1000: 0"},
		{"[automation]\nmax_concurrent_runs = 1001", nil, "config: automation.max_concurrent_runs must be between 1 and 1000: 1001"},
		{"[automation]\nmax_concurrent_jobs = -1", nil, "config: automation.max_concurrent_jobs must be between 1 and 1000: -1"},
		{"[automation]\nmax_concurrent_runs = 5\nmax_concurrent_jobs = 5", nil,
			"config: automation.max_concurrent_jobs is an alias of automation.max_concurrent_runs; set only one"},
		{"[automation]\ndefault_fire_limit = { max = 0, window = \"1h\" }", nil, "config: automation.default_fire_limit.max must be positive: 0"},
		{"[automation]\ndefault_fire_limit = { max = 3 }", nil, "config: automation.default_fire_limit.window is required"},
		{"[automation]\ndefault_fire_limit = { window = \"1h\" }", nil, "config: automation.default_fire_limit.max must be positive: 0"},
		{"[automation]\ndefault_fire_limit = { max = 3, window = \"1y\" }", nil, `config: automation.default_fire_limit.window is invalid: unknown unit "y" in duration "1y"`},
		{"[automation]\ndefault_fire_limit = { max = 3, window = \"721h\" }", nil, "config: automation.default_fire_limit.window must be between 1s and 720h: 721h"},
		{"[automation]\ndefault_fire_limit = { max = 3, window = \"500ms\" }", nil, "config: automation.default_fire_limit.window must be between 1s and 720h: 500ms"},
		{"[automation]\ndefault_fire_limit = { max = 4294967296, window = \"1h\" }", nil, "config: automation.default_fire_limit.max must be at most 2147483647: 4294967296"},
		{"[automation]\nshutdown_grace = \"-1s\"", nil, "config: automation.shutdown_grace must be between 0s and 10m: -1s"},
		{"[automation]\nshutdown_grace = \"11m\"", nil, "config: automation.shutdown_grace must be between 0s and 10m: 11m"},
		{"[automation]\nshutdown_grace = \"soon\"", nil, `config: automation.shutdown_grace is invalid: invalid duration "soon"`},
		{"[automation.webhooks]\nreplay_retention = \"9m59s\"", nil, "config: automation.webhooks.replay_retention must be between 10m and 720h: 9m59s"},
		{"[automation.webhooks]\nreplay_retention = \"721h\"", nil, "config: automation.webhooks.replay_retention must be between 10m and 720h: 721h"},
		{"[automation.history]\nslots_per_job = 9", nil, "config: automation.history.slots_per_job must be between 10 and 100000: 9"},
		{"[automation.history]\ndeliveries_per_trigger = 100001", nil, "config: automation.history.deliveries_per_trigger must be between 10 and 100000: 100001"},
		// agents.
		{"[agents.Claude]\npreset = \"codex\"\npermissions = \"allow\"", nil,
			`config: agents.Claude: agent name "Claude" is invalid (must match ^[a-z0-9][a-z0-9_-]{0,63}$)`},
		{"[agents._x]\npreset = \"codex\"\npermissions = \"allow\"", nil,
			`config: agents._x: agent name "_x" is invalid (must match ^[a-z0-9][a-z0-9_-]{0,63}$)`},
		{"[agents.a]\ncommand = [\"x\"]", nil, "config: agents.a.driver is required"},
		{"[agents.a]\ndriver = \"shell\"\ncommand = [\"x\"]", nil, `config: agents.a.driver must be one of "acp" or "exec": "shell"`},
		{"[agents.a]\npreset = \"claude\"", nil, `config: agents.a.preset must be one of "claude-code", "codex", "gemini", or "opencode": "claude"`},
		{"[agents.a]\npreset = \"codex\"\ndriver = \"exec\"", nil, `config: agents.a.driver must be "acp" when agents.a.preset is set: "exec"`},
		{"[agents.a]\ndriver = \"acp\"\npermissions = \"allow\"", nil, "config: agents.a.command is required"},
		{"[agents.a]\ndriver = \"exec\"\ncommand = []", nil, "config: agents.a.command must not be empty"},
		{"[agents.a]\npreset = \"codex\"\ncommand = []\npermissions = \"allow\"", nil, "config: agents.a.command must not be empty"},
		{"[agents.a]\ndriver = \"exec\"\ncommand = [\" \", \"x\"]", nil, "config: agents.a.command[0] must not be empty"},
		{"[agents.claude]\npreset = \"claude-code\"", nil, "config: agents.claude.permissions is required for acp agents"},
		{"[agents.a]\ndriver = \"acp\"\ncommand = [\"x\"]", nil, "config: agents.a.permissions is required for acp agents"},
		{"[agents.a]\ndriver = \"exec\"\ncommand = [\"x\"]\npermissions = \"allow\"", nil, "config: agents.a.permissions is not allowed for exec agents"},
		{"[agents.a]\npreset = \"codex\"\npermissions = \"ask\"", nil, `config: agents.a.permissions must be one of "allow" or "deny": "ask"`},
		{"[agents.a]\npreset = \"codex\"\npermissions = \"allow\"\nenv = { K = \"env:MISSING\" }", nil,
			"config: agents.a.env.K references environment variable MISSING, which is not set or empty"},
		{"[agents.a]\npreset = \"codex\"\npermissions = \"allow\"\nenv = { K = \"env:EMPTY\" }", map[string]string{"EMPTY": ""},
			"config: agents.a.env.K references environment variable EMPTY, which is not set or empty"},
		{"[agents.a]\npreset = \"codex\"\npermissions = \"allow\"\nenv = { \"A=B\" = \"x\" }", nil, `config: agents.a.env has an invalid variable name: "A=B"`},
		{"[agents.a]\npreset = \"codex\"\npermissions = \"allow\"\nenv = { \"\" = \"x\" }", nil, `config: agents.a.env has an invalid variable name: ""`},
		{"[agents.a]\ndriver = \"exec\"\ncommand = [\"x\"]\ntimeout = \"999ms\"", nil, "config: agents.a.timeout must be between 1s and 24h: 999ms"},
		{"[agents.a]\ndriver = \"exec\"\ncommand = [\"x\"]\ntimeout = \"25h\"", nil, "config: agents.a.timeout must be between 1s and 24h: 25h"},
		{"[agents.a]\ndriver = \"exec\"\ncommand = [\"x\"]\ntimeout = \"1d\"", nil, `config: agents.a.timeout is invalid: unknown unit "d" in duration "1d"`},
		{"[agents.a]\ndriver = \"exec\"\ncommand = [\"x\"]\nmax_output_bytes = 1023", nil, "config: agents.a.max_output_bytes must be between 1024 and 67108864: 1023"},
		{"[agents.a]\ndriver = \"exec\"\ncommand = [\"x\"]\nmax_output_bytes = 67108865", nil, "config: agents.a.max_output_bytes must be between 1024 and 67108864: 67108865"},
		// workspaces.
		{"[[workspaces]]\npath = \"@DIR@\"", nil, "config: workspaces[0].id is required"},
		{"[[workspaces]]\nid = \"Web App\"\npath = \"@DIR@\"", nil, `config: workspaces[0].id is invalid: "Web App"`},
		{"[[workspaces]]\nid = \"w\"", nil, "config: workspaces[0].path is required"},
		{"[[workspaces]]\nid = \"w\"\npath = \"repos/web\"", nil, `config: workspaces[0].path must be absolute: "repos/web"`},
		{"[[workspaces]]\nid = \"w\"\npath = \"@DIR@/none\"", nil, `config: workspaces[0].path is not a directory: "@DIR@/none"`},
		{"[[workspaces]]\nid = \"w\"\npath = \"@FILE@\"", nil, `config: workspaces[0].path is not a directory: "@FILE@"`},
		{"[[workspaces]]\nid = \"w\"\npath = \"@DIR@\"\n[[workspaces]]\nid = \"w\"\npath = \"/\"", nil,
			`config: workspaces[1].id "w" is duplicated (also workspaces[0].id)`},
		{"[[workspaces]]\nid = \"w\"\npath = \"@DIR@\"\n[[workspaces]]\nid = \"v\"\npath = \"@DIR@/./\"", nil,
			`config: workspaces[1].path "@DIR@/./" is duplicated (workspaces[0] has the same directory)`},
		// channels.
		{"[channels.Ops]\nkind = \"webhook\"\nurl = \"https://x\"\nsecret = \"s\"", nil,
			`config: channels.Ops: channel name "Ops" is invalid (must match ^[a-z0-9][a-z0-9_-]{0,63}$)`},
		{"[channels.ops]\nurl = \"https://x\"\nsecret = \"s\"", nil, "config: channels.ops.kind is required"},
		{"[channels.ops]\nkind = \"slack\"\nurl = \"https://x\"\nsecret = \"s\"", nil, `config: channels.ops.kind must be "webhook": "slack"`},
		{"[channels.ops]\nkind = \"webhook\"\nsecret = \"s\"", nil, "config: channels.ops.url is required"},
		{"[channels.ops]\nkind = \"webhook\"\nurl = \"ftp://x/y\"\nsecret = \"s\"", nil, `config: channels.ops.url must be an absolute http or https URL: "ftp://x/y"`},
		{"[channels.ops]\nkind = \"webhook\"\nurl = \"/hooks\"\nsecret = \"s\"", nil, `config: channels.ops.url must be an absolute http or https URL: "/hooks"`},
		{"[channels.ops]\nkind = \"webhook\"\nurl = \"https:x\"\nsecret = \"s\"", nil, `config: channels.ops.url must be an absolute http or https URL: "https:x"`},
		{"[channels.ops]\nkind = \"webhook\"\nurl = \"http://\"\nsecret = \"s\"", nil, `config: channels.ops.url must be an absolute http or https URL: "http://"`},
		{"[channels.ops]\nkind = \"webhook\"\nurl = \"https://x\"", nil, "config: channels.ops.secret is required"},
		{"[channels.ops]\nkind = \"webhook\"\nurl = \"https://x\"\nsecret = \"\"", nil, "config: channels.ops.secret is required"},
		{"[channels.ops]\nkind = \"webhook\"\nurl = \"https://x\"\nsecret = \"env:OPS\"", nil,
			"config: channels.ops.secret references environment variable OPS, which is not set or empty"},
	})
}

func TestSecretsNotInErrors(t *testing.T) {
	secret := "s3cr3t-value-xyz"
	for _, src := range []string{
		"[api]\ntokens = [\"env:T\", \"" + secret[:8] + "\"]",
		"[channels.ops]\nkind = \"webhook\"\nurl = \"nope\"\nsecret = \"env:T\"",
	} {
		_, err := Parse([]byte(src), envFunc(map[string]string{"T": secret}), testNow)
		if err == nil || strings.Contains(err.Error(), secret) || strings.Contains(err.Error(), secret[:8]) {
			t.Errorf("error %v leaks a secret", err)
		}
	}
}

func TestWorkspaces(t *testing.T) {
	dir := t.TempDir()
	real := filepath.Join(dir, "real")
	if err := os.Mkdir(real, 0o700); err != nil {
		t.Fatal(err)
	}
	link := filepath.Join(dir, "link")
	if err := os.Symlink(real, link); err != nil {
		t.Fatal(err)
	}
	resolved, err := filepath.EvalSymlinks(real)
	if err != nil {
		t.Fatal(err)
	}
	c := mustParse(t, "[[workspaces]]\nid = \"a\"\npath = \""+link+"/\"\n[[workspaces]]\nid = \"b\"\npath = \""+dir+"/real/../\"", nil)
	rdir, _ := filepath.EvalSymlinks(dir)
	want := []Workspace{{ID: "a", Path: resolved}, {ID: "b", Path: rdir}}
	if !reflect.DeepEqual(c.Workspaces, want) {
		t.Fatalf("workspaces = %+v, want %+v", c.Workspaces, want)
	}
	// A symlink and its target are the same directory.
	_, err = Parse([]byte("[[workspaces]]\nid = \"a\"\npath = \""+real+"\"\n[[workspaces]]\nid = \"b\"\npath = \""+link+"\""), nil, testNow)
	if want := `config: workspaces[1].path "` + link + `" is duplicated (workspaces[0] has the same directory)`; err == nil || err.Error() != want {
		t.Fatalf("err = %v, want %s", err, want)
	}
}

func TestLoad(t *testing.T) {
	dir := t.TempDir()
	missing := filepath.Join(dir, "config.toml")
	c, err := Load(missing, false, nil, testNow)
	if err != nil || !reflect.DeepEqual(c, defaults(t)) {
		t.Fatalf("missing default file: %+v, %v", c, err)
	}
	// AGH_API_TOKEN still applies without a file.
	c, err = Load(missing, false, envFunc(map[string]string{"AGH_API_TOKEN": "0123456789abcdef"}), testNow)
	if err != nil || len(c.API.Tokens) != 1 {
		t.Fatalf("missing default file with AGH_API_TOKEN: %+v, %v", c, err)
	}
	_, err = Load(missing, true, nil, testNow)
	if want := "config: configuration file " + missing + " does not exist"; err == nil || err.Error() != want {
		t.Fatalf("missing explicit file: %v, want %s", err, want)
	}
	if _, err := Load(dir, false, nil, testNow); err == nil || !strings.HasPrefix(err.Error(), "config: cannot read configuration file: ") {
		t.Fatalf("directory: %v", err)
	}
	if err := os.WriteFile(missing, []byte("node_id = \"n1\"\n[log]\nlevel = \"debug\"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, explicit := range []bool{false, true} {
		c, err := Load(missing, explicit, nil, testNow)
		if err != nil || c.NodeID != "n1" || c.Log.Level != "debug" {
			t.Fatalf("Load: %+v, %v", c, err)
		}
		again, _ := Load(missing, explicit, nil, testNow)
		if !reflect.DeepEqual(c, again) {
			t.Fatal("Load is not repeatable")
		}
	}
	if err := os.WriteFile(missing, []byte("bogus = 1\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := Load(missing, false, nil, testNow); err == nil || err.Error() != `config: unknown key "bogus"` {
		t.Fatalf("invalid default file: %v", err)
	}
}

func TestIsLoopback(t *testing.T) {
	cases := map[string]bool{
		"127.0.0.1:2123":  true,
		"127.1.2.3:80":    true,
		"127.255.255.255": true,
		"[::1]:2123":      true,
		"::1":             true,
		"[::1]":           true,
		"localhost:2123":  true,
		"localhost":       true,
		"LocalHost:1":     true,
		"0.0.0.0:2123":    false,
		"[::]:2123":       false,
		"::":              false,
		":2123":           false,
		"":                false,
		"128.0.0.1:2123":  false,
		"10.0.0.1:2123":   false,
		"[::2]:1":         false,
		"example.com:80":  false,
		"localhost.x:80":  false,
		"127.0.0.1.x:80":  false,
	}
	for addr, want := range cases {
		if got := IsLoopback(addr); got != want {
			t.Errorf("IsLoopback(%q) = %v, want %v", addr, got, want)
		}
	}
}

func TestCheckAccess(t *testing.T) {
	c := Default()
	if err := c.CheckAccess(); err != nil {
		t.Fatal(err)
	}
	c.HTTP.Addr = "0.0.0.0:2123"
	want := `http.addr "0.0.0.0:2123" is not a loopback address; configure api.tokens or AGH_API_TOKEN`
	if err := c.CheckAccess(); err == nil || err.Error() != want {
		t.Fatalf("err = %v", err)
	}
	c.API.Tokens = []string{"0123456789abcdef"}
	if err := c.CheckAccess(); err != nil {
		t.Fatal(err)
	}
}

func TestNonReloadableChanges(t *testing.T) {
	base := func() *Config { c := Default(); c.NodeID = "n"; return c }
	if got := NonReloadableChanges(base(), base()); got != nil {
		t.Fatalf("no change: %v", got)
	}
	// Reloadable keys never appear.
	n := base()
	n.API.Tokens = []string{"0123456789abcdef"}
	n.Log.Level = "debug"
	n.Automation.Paused = true
	n.Automation.Timezone = "Europe/Paris"
	n.Automation.MaxConcurrentRuns = 9
	n.Automation.DefaultFireLimit = automation.FireLimit{Max: 1, Window: "1s"}
	n.Automation.ShutdownGrace = 0
	n.Automation.ReplayRetention = time.Hour
	n.Automation.SlotsPerJob = 10
	n.Automation.DeliveriesPerTrigger = 10
	n.Agents["a"] = &Agent{Name: "a"}
	n.Workspaces = []Workspace{{ID: "w", Path: "/"}}
	n.Channels["c"] = &Channel{Name: "c"}
	n.Jobs = []*automation.Job{{ID: "job_x"}}
	n.TriggerDefs = []map[string]any{{}}
	if got := NonReloadableChanges(base(), n); got != nil {
		t.Fatalf("reloadable changes reported: %v", got)
	}
	n = base()
	n.NodeID = "m"
	n.HTTP = HTTP{Addr: "127.0.0.1:1", Socket: "-", ReadHeaderTimeout: 1, ReadTimeout: 1, WriteTimeout: 1, IdleTimeout: 1}
	n.Store.URL = "sqlite:/x"
	n.Log.Format = "text"
	n.Log.File = "/x"
	n.Automation.Enabled = false
	want := []string{"node_id", "http.addr", "http.socket", "http.read_header_timeout", "http.read_timeout",
		"http.write_timeout", "http.idle_timeout", "store.url", "log.format", "log.file", "automation.enabled"}
	if got := NonReloadableChanges(base(), n); !reflect.DeepEqual(got, want) {
		t.Fatalf("got %v, want %v", got, want)
	}
	n = base()
	n.Log.File = "/x"
	if got := NonReloadableChanges(base(), n); !reflect.DeepEqual(got, []string{"log.file"}) {
		t.Fatalf("got %v", got)
	}
}
