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

// exampleEnv is the environment the annotated example (SPEC §13.2) needs.
var exampleEnv = map[string]string{
	"AGH_CI_TOKEN":          "ci-token-0123456789",
	"GITHUB_WEBHOOK_SECRET": "example-webhook-secret",
	"ANTHROPIC_API_KEY":     "sk-ant-test",
	"OPENAI_API_KEY":        "sk-openai-test",
	"OPS_CHANNEL_SECRET":    "ops-secret",
}

// exampleSource returns testdata/example.toml with its workspace paths pointing at new
// temporary directories (returned as web, infra).
func exampleSource(t testing.TB) (src, web, infra string) {
	data, err := os.ReadFile(filepath.Join("testdata", "example.toml"))
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	web, infra = filepath.Join(dir, "web"), filepath.Join(dir, "infra")
	for _, d := range []string{web, infra} {
		if err := os.Mkdir(d, 0o700); err != nil {
			t.Fatal(err)
		}
	}
	src = strings.NewReplacer("@WEB_DIR@", web, "@INFRA_DIR@", infra).Replace(string(data))
	web, _ = filepath.EvalSymlinks(web)
	infra, _ = filepath.EvalSymlinks(infra)
	return src, web, infra
}

func TestExample(t *testing.T) {
	src, web, infra := exampleSource(t)
	c := mustParse(t, src, exampleEnv)

	if c.NodeID != "worker-a" || c.HTTP.Addr != "127.0.0.1:2123" || c.HTTP.Socket != "" ||
		!reflect.DeepEqual(c.API.Tokens, []string{"ci-token-0123456789"}) {
		t.Fatalf("listeners: %+v %+v %+v", c.NodeID, c.HTTP, c.API)
	}
	wantAuto := Default().Automation
	if !reflect.DeepEqual(c.Automation, wantAuto) {
		t.Fatalf("automation = %+v, want %+v", c.Automation, wantAuto)
	}
	if got := sortedKeys(c.Agents); !reflect.DeepEqual(got, []string{"claude", "codex", "gemini", "lint", "opencode"}) {
		t.Fatalf("agents = %v", got)
	}
	if a := c.Agents["claude"]; a.Driver != "acp" || a.TimeoutText != "45m" || a.Env["ANTHROPIC_API_KEY"] != "sk-ant-test" ||
		a.Command[2] != "@zed-industries/claude-code-acp" || a.Permissions != "allow" {
		t.Fatalf("claude = %+v", a)
	}
	if a := c.Agents["lint"]; a.Driver != "exec" || a.MaxOutputBytes != 262144 || a.Permissions != "" {
		t.Fatalf("lint = %+v", a)
	}
	if a := c.Agents["opencode"]; a.Preset != "" || !reflect.DeepEqual(a.Command, Presets["opencode"]) {
		t.Fatalf("opencode = %+v", a)
	}
	if !reflect.DeepEqual(c.Workspaces, []Workspace{{ID: "web", Path: web}, {ID: "infra", Path: infra}}) {
		t.Fatalf("workspaces = %+v", c.Workspaces)
	}
	if ch := c.Channels["ops"]; ch == nil || ch.Secret != "ops-secret" || ch.URL != "https://ops.example.com/hooks/agh-tasks" {
		t.Fatalf("channels = %+v", c.Channels)
	}
	if want := []string{"AGH_CI_TOKEN", "GITHUB_WEBHOOK_SECRET", "OPS_CHANNEL_SECRET"}; !reflect.DeepEqual(c.SecretEnvNames, want) {
		t.Fatalf("SecretEnvNames = %v, want %v", c.SecretEnvNames, want)
	}

	if len(c.Jobs) != 3 {
		t.Fatalf("jobs = %d", len(c.Jobs))
	}
	triage := c.Jobs[0]
	if triage.ID != "job_0000000000806h65f80vdrstez" {
		t.Fatalf("nightly-triage id = %s", triage.ID)
	}
	wantTriage := &automation.Job{
		ID: "job_0000000000806h65f80vdrstez", Name: "nightly-triage", Scope: "workspace", WorkspaceID: "web",
		AgentName: "claude",
		Prompt:    "Triage the issues opened in the last 24 hours. Label each one and leave a short summary comment.\n",
		Schedule:  automation.Schedule{Mode: "cron", Expr: "30 2 * * *", Timezone: "America/New_York"},
		Enabled:   true, ConfigEnabled: true,
		Retry:         automation.Retry{Strategy: "backoff", MaxRetries: 2, BaseDelay: "1m", MaxDelay: "10m"},
		FireLimit:     automation.FireLimit{Max: 4, Window: "24h"},
		OverlapPolicy: "skip", CatchUpPolicy: "run_once", MisfireGraceSeconds: 120, CatchUpWindow: "12h",
		Source: "config", ConfigHash: triage.ConfigHash,
	}
	if !reflect.DeepEqual(triage, wantTriage) {
		t.Fatalf("nightly-triage:\n got %+v\nwant %+v", triage, wantTriage)
	}
	if !strings.HasPrefix(triage.ConfigHash, "sha256:") || len(triage.ConfigHash) != 7+64 {
		t.Fatalf("hash = %q", triage.ConfigHash)
	}
	audit := c.Jobs[1]
	wantAudit := &automation.Job{
		ID:   automation.DefinitionID(automation.PrefixJob, "job", "workspace", "infra", "dependency-audit"),
		Name: "dependency-audit", Scope: "workspace", WorkspaceID: "infra",
		Schedule: automation.Schedule{Mode: "every", Interval: "6h"},
		Task: &automation.TaskConfig{Title: "Audit dependencies",
			Description:    "List outdated dependencies and open one PR per major upgrade.",
			Owner:          &automation.TaskOwner{Kind: "agent", Ref: "codex"},
			NetworkChannel: "ops"},
		Enabled: true, ConfigEnabled: true,
		Retry: automation.Retry{Strategy: "none"}, FireLimit: automation.FireLimit{Max: 12, Window: "1h"},
		OverlapPolicy: "allow", CatchUpPolicy: "skip_missed", MisfireGraceSeconds: 60, CatchUpWindow: "24h",
		Source: "config", ConfigHash: audit.ConfigHash,
	}
	if !reflect.DeepEqual(audit, wantAudit) {
		t.Fatalf("dependency-audit:\n got %+v\nwant %+v", audit, wantAudit)
	}
	review := c.Jobs[2]
	if review.ID != automation.DefinitionID(automation.PrefixJob, "job", "global", "", "quarterly-review") ||
		!strings.HasPrefix(review.ID, "job_0000000000") || review.Scope != "global" || review.AgentName != "" ||
		review.Task.Owner.Kind != "human" || review.Task.Owner.Ref != "alice" {
		t.Fatalf("quarterly-review = %+v", review)
	}

	if len(c.TriggerDefs) != 3 || c.TriggerDefs[0]["name"] != "github-issues" || c.TriggerDefs[2]["name"] != "deploy-smoke-test" {
		t.Fatalf("triggers = %v", c.TriggerDefs)
	}
	if f, _ := c.TriggerDefs[0]["filter"].(map[string]any); f["data.github_event"] != "issues" {
		t.Fatalf("trigger filter = %v", c.TriggerDefs[0]["filter"])
	}

	// Missing env references fail with the dotted path.
	env := map[string]string{}
	for k, v := range exampleEnv {
		env[k] = v
	}
	delete(env, "ANTHROPIC_API_KEY")
	if _, err := Parse([]byte(src), envFunc(env), testNow); err == nil ||
		err.Error() != "config: agents.claude.env.ANTHROPIC_API_KEY references environment variable ANTHROPIC_API_KEY, which is not set or empty" {
		t.Fatalf("err = %v", err)
	}
}

// jobSrc is a configuration with agents, workspaces and a channel, followed by job entries.
const jobPrelude = `
[agents.claude]
preset = "claude-code"
permissions = "allow"
[agents.lint]
driver = "exec"
command = ["lint"]
[[workspaces]]
id = "web"
path = "@DIR@"
[channels.ops]
kind = "webhook"
url = "https://ops.example.com/h"
secret = "s"
`

func parseJobs(t *testing.T, src string) []*automation.Job {
	t.Helper()
	dir := t.TempDir()
	c := mustParse(t, strings.ReplaceAll(jobPrelude, "@DIR@", dir)+src, nil)
	return c.Jobs
}

func TestJobDefaultsAndAliases(t *testing.T) {
	jobs := parseJobs(t, `
[[automation.jobs]]
name = "  minimal  "
scope = "global"
agent = "lint"
prompt = "  go  "
schedule = { mode = "every", interval = "1h" }

[[automation.jobs]]
name = "w"
scope = "workspace"
workspace = "web"
agent_name = "claude"
prompt = "p"
enabled = false
schedule = { mode = "at", time = "2026-04-01T00:00:00+02:00" }
`)
	want := &automation.Job{
		ID:   automation.DefinitionID(automation.PrefixJob, "job", "global", "", "minimal"),
		Name: "minimal", Scope: "global", AgentName: "lint", Prompt: "  go  ",
		Schedule: automation.Schedule{Mode: "every", Interval: "1h"},
		Enabled:  true, ConfigEnabled: true,
		Retry: automation.Retry{Strategy: "none"}, FireLimit: automation.FireLimit{Max: 12, Window: "1h"},
		OverlapPolicy: "allow", CatchUpPolicy: "skip_missed", MisfireGraceSeconds: 60, CatchUpWindow: "24h",
		Source: "config", ConfigHash: jobs[0].ConfigHash,
	}
	if !reflect.DeepEqual(jobs[0], want) {
		t.Fatalf("got %+v\nwant %+v", jobs[0], want)
	}
	if j := jobs[1]; j.WorkspaceID != "web" || j.AgentName != "claude" || j.Enabled || j.ConfigEnabled ||
		j.ID != automation.DefinitionID(automation.PrefixJob, "job", "workspace", "web", "w") {
		t.Fatalf("got %+v", j)
	}
}

func TestJobDefaultFireLimitFollowsConfig(t *testing.T) {
	dir := t.TempDir()
	src := strings.ReplaceAll(jobPrelude, "@DIR@", dir) + `
[[automation.jobs]]
name = "j"
scope = "global"
agent = "lint"
prompt = "p"
schedule = { mode = "every", interval = "1h" }
`
	c := mustParse(t, "[automation]\ndefault_fire_limit = { max = 3, window = \"2h\" }\n"+src, nil)
	if c.Jobs[0].FireLimit != (automation.FireLimit{Max: 3, Window: "2h"}) {
		t.Fatalf("fire limit = %+v", c.Jobs[0].FireLimit)
	}
	d := mustParse(t, src, nil)
	if c.Jobs[0].ConfigHash == d.Jobs[0].ConfigHash {
		t.Fatal("a changed default fire limit must change the hash of inheriting jobs")
	}
}

func TestJobHash(t *testing.T) {
	base := `name = "j"
scope = "workspace"
workspace_id = "web"
agent_name = "claude"
prompt = "p"
schedule = { mode = "cron", expr = "0 9 * * *" }
`
	hash := func(entry string) string {
		t.Helper()
		return parseJobs(t, "[[automation.jobs]]\n"+entry)[0].ConfigHash
	}
	h := hash(base)
	same := []string{
		base,
		base + "enabled = false\n",
		base + "enabled = true\n",
		strings.Replace(strings.Replace(base, "workspace_id", "workspace", 1), "agent_name", "agent", 1),
		"schedule = { expr = \"0 9 * * *\", mode = \"cron\" }\nprompt = \"p\"\nagent = \"claude\"\nworkspace = \"web\"\nscope = \"workspace\"\nname = \"j\"\n",
		base + "retry = { strategy = \"none\" }\noverlap_policy = \"allow\"\ncatch_up_policy = \"skip_missed\"\nmisfire_grace_seconds = 60\ncatch_up_window = \"24h\"\nfire_limit = { max = 12, window = \"1h\" }\n",
		strings.Replace(base, `name = "j"`, `name = " j "`, 1),
	}
	for _, s := range same {
		if got := hash(s); got != h {
			t.Errorf("hash changed for equivalent entry:\n%s", s)
		}
	}
	different := []string{
		strings.Replace(base, `prompt = "p"`, `prompt = "p "`, 1),
		strings.Replace(base, `"0 9 * * *"`, `"0 10 * * *"`, 1),
		base + "overlap_policy = \"skip\"\n",
		base + "misfire_grace_seconds = 61\n",
		base + "catch_up_window = \"23h\"\n",
		base + "fire_limit = { max = 13, window = \"1h\" }\n",
		base + "retry = { strategy = \"backoff\", max_retries = 1, base_delay = \"1s\" }\n",
		strings.Replace(base, `agent_name = "claude"`, `agent_name = "lint"`, 1),
		base + "task = { title = \"t\" }\n",
	}
	seen := map[string]bool{h: true}
	for _, s := range different {
		got := hash(s)
		if seen[got] {
			t.Errorf("hash collision for entry:\n%s", s)
		}
		seen[got] = true
	}
}

func TestJobErrors(t *testing.T) {
	job := func(extra string) string {
		return jobPrelude + "[[automation.jobs]]\nname = \"j\"\nscope = \"global\"\nagent_name = \"lint\"\nprompt = \"p\"\n" + extra
	}
	every := "schedule = { mode = \"every\", interval = \"1h\" }\n"
	runErrCases(t, []errCase{
		{job(every + "cron = \"x\"\n"), nil, `config: unknown key "automation.jobs[0].cron"`},
		{job(every + "id = \"job_x\"\n"), nil, `config: unknown key "automation.jobs[0].id"`},
		{job(every + "source = \"config\"\n"), nil, `config: unknown key "automation.jobs[0].source"`},
		{job("schedule = { mode = \"every\", interval = \"1h\", cron = \"x\" }\n"), nil, `config: unknown key "automation.jobs[0].schedule.cron"`},
		{job(every + "retry = { strategy = \"none\", tries = 1 }\n"), nil, `config: unknown key "automation.jobs[0].retry.tries"`},
		{job(every + "fire_limit = { max = 1, window = \"1h\", x = 1 }\n"), nil, `config: unknown key "automation.jobs[0].fire_limit.x"`},
		{job(every + "task = { title = \"t\", owner = { kind = \"human\", name = \"a\" } }\n"), nil, `config: unknown key "automation.jobs[0].task.owner.name"`},
		{job(every + "[automation.jobs.task]\ntitle = \"t\"\nprio = 1\n"), nil, `config: unknown key "automation.jobs[0].task.prio"`},
		{job(every + "enabled = \"yes\"\n"), nil, "config: automation.jobs[0].enabled must be a boolean"},
		{job(every + "misfire_grace_seconds = \"60\"\n"), nil, "config: automation.jobs[0].misfire_grace_seconds must be an integer"},
		{job(every + "misfire_grace_seconds = 60.0\n"), nil, "config: automation.jobs[0].misfire_grace_seconds must be an integer"},
		{job(every + "misfire_grace_seconds = 9999999999\n"), nil, "config: automation.jobs[0].misfire_grace_seconds must be an integer"},
		{job("schedule = \"every 1h\"\n"), nil, "config: automation.jobs[0].schedule must be a table"},
		{job("schedule = { mode = \"at\", time = 2026-04-01T00:00:00Z }\n"), nil, "config: automation.jobs[0].schedule.time must be a string"},
		{job("schedule = { mode = \"at\", time = 2026-04-01 }\n"), nil, "config: automation.jobs[0].schedule.time must be a string"},
		{job(every + "task = \"t\"\n"), nil, "config: automation.jobs[0].task must be a table"},
		{job(every + "task = { owner = \"alice\" }\n"), nil, "config: automation.jobs[0].task.owner must be a table"},
		{job(every + "retry = { strategy = \"backoff\", max_retries = \"2\" }\n"), nil, "config: automation.jobs[0].retry.max_retries must be an integer"},
		{job(every + "overlap_policy = 1\n"), nil, "config: automation.jobs[0].overlap_policy must be a string"},
		// aliases.
		{job(every + "agent = \"lint\"\n"), nil, "config: automation.jobs[0].agent is an alias of automation.jobs[0].agent_name; set only one"},
		{strings.Replace(job(every+"workspace = \"web\"\nworkspace_id = \"web\"\n"), `scope = "global"`, `scope = "workspace"`, 1), nil,
			"config: automation.jobs[0].workspace is an alias of automation.jobs[0].workspace_id; set only one"},
		// §3.2 rules, with the config root.
		{jobPrelude + "[[automation.jobs]]\nscope = \"global\"\n", nil, "config: automation.jobs[0].name is required"},
		{jobPrelude + "[[automation.jobs]]\nname = \"  \"\n", nil, "config: automation.jobs[0].name is required"},
		{strings.Replace(job(every), `scope = "global"`, `scope = "team"`, 1), nil, `config: automation.jobs[0].scope must be one of "global" or "workspace": "team"`},
		{strings.Replace(job(every), `scope = "global"`, `scope = "workspace"`, 1), nil, `config: automation.jobs[0].workspace_id is required when automation.jobs[0].scope is "workspace"`},
		{job(every + "workspace_id = \"web\"\n"), nil, `config: automation.jobs[0].workspace_id must be empty when automation.jobs[0].scope is "global"`},
		{strings.Replace(job(every+"workspace = \"web2\"\n"), `scope = "global"`, `scope = "workspace"`, 1), nil, `config: automation.jobs[0].workspace_id is invalid: unknown workspace "web2"`},
		{strings.Replace(job(every), `agent_name = "lint"`, `agent_name = "claud"`, 1), nil, `config: automation.jobs[0].agent_name is invalid: unknown agent "claud"`},
		{strings.Replace(job(every), `agent_name = "lint"`, ``, 1), nil, "config: automation.jobs[0].agent_name is required"},
		{strings.Replace(job(every), `prompt = "p"`, `prompt = " "`, 1), nil, "config: automation.jobs[0].prompt is required"},
		{job(""), nil, "config: automation.jobs[0].schedule is required"},
		{job("schedule = { mode = \"cron\" }\n"), nil, `config: automation.jobs[0].schedule.expr is required when schedule.mode is "cron"`},
		{job("schedule = { mode = \"daily\" }\n"), nil, `config: automation.jobs[0].schedule.mode must be one of "cron", "every", or "at": "daily"`},
		{job("schedule = { mode = \"every\", interval = \"500ms\" }\n"), nil, "config: automation.jobs[0].schedule.interval must be at least 1s: 500ms"},
		{job("schedule = { mode = \"at\", time = \"tomorrow\" }\n"), nil, `config: automation.jobs[0].schedule.time is invalid: "tomorrow" is not an RFC 3339 time with offset`},
		{job("schedule = { mode = \"cron\", expr = \"0 9 * * *\", timezone = \"Mars/Base\" }\n"), nil, `config: automation.jobs[0].schedule.timezone is invalid: unknown time zone "Mars/Base"`},
		{job(every + "retry = {}\n"), nil, `config: automation.jobs[0].retry.strategy must be one of "none" or "backoff": ""`},
		{job(every + "fire_limit = { max = 0, window = \"1h\" }\n"), nil, "config: automation.jobs[0].fire_limit.max must be positive: 0"},
		{job(every + "overlap_policy = \"serial\"\n"), nil, `config: automation.jobs[0].overlap_policy must be one of "allow", "skip", "queue", or "cancel_previous": "serial"`},
		{job(every + "catch_up_policy = \"all\"\n"), nil, `config: automation.jobs[0].catch_up_policy must be one of "skip_missed", "run_once", or "run_all": "all"`},
		{job(every + "misfire_grace_seconds = -1\n"), nil, "config: automation.jobs[0].misfire_grace_seconds must be between 0 and 86400: -1"},
		{job(every + "catch_up_window = \"30s\"\n"), nil, "config: automation.jobs[0].catch_up_window must be between 1m and 720h: 30s"},
		{job(every + "task = { owner = { kind = \"pool\" } }\n"), nil, `config: automation.jobs[0].task.owner.kind must be one of "human" or "agent": "pool"`},
		{job(every + "task = { owner = { kind = \"agent\", ref = \"bot\" } }\n"), nil, `config: automation.jobs[0].task.owner.ref is invalid: unknown agent "bot"`},
		{job(every + "task = { network_channel = \"opz\" }\n"), nil, `config: automation.jobs[0].task.network_channel is invalid: unknown channel "opz"`},
		{job(every + "task = { title = \"t\" }\nretry = { strategy = \"backoff\", max_retries = 1, base_delay = \"1s\" }\n"), nil,
			`config: automation.jobs[0].retry.strategy must be "none" when automation.jobs[0].task is configured`},
		// the second entry is named by its index; duplicates of (scope, workspace, name).
		{job(every) + "[[automation.jobs]]\nname = \"k\"\n", nil, "config: automation.jobs[1].scope must be one of \"global\" or \"workspace\": \"\""},
		{job(every) + "[[automation.jobs]]\nname = \" j\"\nscope = \"global\"\nagent = \"claude\"\nprompt = \"q\"\n" + every, nil,
			`config: automation.jobs[1].name "j" is duplicated`},
	})
	// The same name in different scopes or workspaces is fine.
	jobs := parseJobs(t, "[[automation.jobs]]\nname = \"j\"\nscope = \"global\"\nagent = \"lint\"\nprompt = \"p\"\n"+every+
		"[[automation.jobs]]\nname = \"j\"\nscope = \"workspace\"\nworkspace = \"web\"\nagent = \"lint\"\nprompt = \"p\"\n"+every)
	if len(jobs) != 2 || jobs[0].ID == jobs[1].ID {
		t.Fatalf("jobs = %+v", jobs)
	}
}

func TestTriggerDefs(t *testing.T) {
	env := map[string]string{"S1": "secret-one", "S0": "secret-zero", "S2": "secret-two"}
	c := mustParse(t, `
[agents.bot]
driver = "exec"
command = ["true"]

[[automation.triggers]]
name = "a"
scope = "global"
agent = "bot"
event = "webhook"
endpoint_slug = "a"
prompt = "{{ .Data.x }}"
webhook_secret = "env:S1"
webhook_secret_previous = "env:S0"
webhook_secret_previous_expires_at = "2030-01-01T00:00:00Z"
filter = { "data.action" = "opened" }
[[automation.triggers]]
name = "b"
scope = "global"
agent = "bot"
event = "webhook"
endpoint_slug = "b"
prompt = "p"
webhook_secret_ref = "env:S2"
[[automation.triggers]]
name = "c"
scope = "global"
agent = "bot"
event = "ext.deploy"
prompt = "p"
`, env)
	if len(c.Triggers) != 3 || c.Triggers[0].Secret != "secret-one" || c.Triggers[0].Previous != "secret-zero" || c.Triggers[1].Secret != "secret-two" {
		t.Fatalf("Triggers = %+v", c.Triggers)
	}
	if got := c.Triggers[0].Trigger.WebhookID; got != automation.DefinitionID(automation.PrefixWebhook, "webhook", "global", "", "a") {
		t.Fatalf("webhook id %s", got)
	}
	if c.Triggers[0].Trigger.Filter["data.action"] != "opened" || c.Triggers[0].Trigger.Source != "config" {
		t.Fatalf("trigger %+v", c.Triggers[0].Trigger)
	}
	if want := []string{"S0", "S1", "S2"}; !reflect.DeepEqual(c.SecretEnvNames, want) {
		t.Fatalf("SecretEnvNames = %v, want %v", c.SecretEnvNames, want)
	}
	for _, bad := range []struct{ src, want string }{
		{"[[automation.triggers]]\nname = \"x\"\nanything = 1\n", `config: unknown key "automation.triggers[0].anything"`},
		{"[[automation.triggers]]\nname = \"x\"\nscope = \"global\"\nagent = \"bot\"\nprompt = \"p\"\nevent = \"webhook\"\nendpoint_slug = \"s\"\n",
			`config: automation.triggers[0].webhook_secret is required when event is "webhook"`},
		{"[[automation.triggers]]\nname = \"x\"\nscope = \"global\"\nagent = \"bot\"\nprompt = \"{{ .Nope }}\"\nevent = \"ext.a\"\n",
			`config: automation.triggers[0].prompt is invalid: unknown activation envelope field ".Nope"`},
	} {
		_, err := Parse([]byte("[agents.bot]\ndriver = \"exec\"\ncommand = [\"true\"]\n"+bad.src), func(string) string { return "" }, time.Now())
		if err == nil || err.Error() != bad.want {
			t.Errorf("got %v, want %s", err, bad.want)
		}
	}
}

func FuzzParse(f *testing.F) {
	src, _, _ := exampleSource(f)
	f.Add(src)
	data, _ := os.ReadFile(filepath.Join("testdata", "example.toml"))
	f.Add(string(data))
	for _, s := range []string{
		"",
		"node_id = \"n\"\n[http]\naddr = \"[::1]:0\"\n",
		"[automation]\nmax_concurrent_jobs = 3\ndefault_fire_limit = { max = 1, window = \"1s\" }\n",
		"[agents.a]\npreset = \"codex\"\npermissions = \"allow\"\nenv = { K = \"env:K\" }\n",
		"[[automation.jobs]]\nname = \"j\"\nscope = \"global\"\nagent = \"a\"\nprompt = \"p\"\nschedule = { mode = \"at\", time = 2026-01-01T00:00:00Z }\n",
		"[[workspaces]]\nid = \"w\"\npath = \"/\"\n[[automation.jobs]]\nname = \"j\"\nscope = \"workspace\"\nworkspace = \"w\"\ntask = { owner = { kind = \"human\" } }\nschedule = { mode = \"cron\", expr = \"0 9 * * *\" }\n",
	} {
		f.Add(s)
	}
	getenv := envFunc(map[string]string{"K": "v", "AGH_CI_TOKEN": "ci-token-0123456789", "ANTHROPIC_API_KEY": "x",
		"OPENAI_API_KEY": "x", "OPS_CHANNEL_SECRET": "x"})
	f.Fuzz(func(t *testing.T, s string) {
		c, err := Parse([]byte(s), getenv, testNow)
		if err != nil {
			if c != nil || !strings.HasPrefix(err.Error(), "config: ") {
				t.Fatalf("bad error result: %v, %v", c, err)
			}
			return
		}
		for _, j := range c.Jobs {
			if j.Source != automation.SourceConfig || !strings.HasPrefix(j.ID, "job_0000000000") || j.ConfigHash == "" {
				t.Fatalf("bad job %+v", j)
			}
		}
	})
}
