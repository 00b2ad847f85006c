package automation

import (
	"fmt"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/agh-dev/agh/internal/schedule"
)

// Limits of definition fields.
const (
	MaxNameChars        = 128
	MaxPromptBytes      = 65536
	MaxTaskTitleChars   = 256
	MaxTaskDescBytes    = 65536
	MaxOwnerRefChars    = 256
	MaxRenderedPrompt   = 2097152
	DefaultMisfireGrace = 60
	DefaultCatchUp      = "24h"
)

// Env is what validation needs to know about the world outside the definition.
type Env struct {
	Now              time.Time
	AgentExists      func(name string) bool
	WorkspaceExists  func(id string) bool
	ChannelExists    func(name string) bool
	DefaultFireLimit FireLimit
	// DefaultTimezone is automation.timezone (used when schedule.timezone is empty).
	DefaultTimezone string
}

// JobInput is a decoded create or PATCH body: nil fields were absent.
type JobInput struct {
	DefinitionInput
	Schedule            *Schedule
	TaskSet             bool // task present (Task nil means null: remove)
	Task                *TaskConfig
	Enabled             *bool
	Retry               *Retry
	FireLimit           *FireLimit
	OverlapPolicy       *string
	CatchUpPolicy       *string
	MisfireGraceSeconds *int
	CatchUpWindow       *string
}

// OnlyEnabled reports whether the input sets nothing but enabled.
func (in *JobInput) OnlyEnabled() bool {
	c := *in
	c.Enabled = nil
	return in.Enabled != nil && c == (JobInput{})
}

var jobReadOnly = []string{"id", "source", "created_at", "updated_at", "next_run", "scheduler"}

// DecodeJob reads a job create (patch=false) or PATCH body object rooted at root ("job", or a
// config path such as "automation.jobs[0]").
func DecodeJob(root string, m map[string]any, patch bool) (*JobInput, error) {
	o, err := newObject(root, m)
	if err != nil {
		return nil, err
	}
	o.readOnly = jobReadOnly
	in := &JobInput{DefinitionInput: o.definition(root, patch)}
	if s, ok := o.obj("schedule", false); ok && s != nil {
		in.Schedule = decodeSchedule(s)
		o.fail(s.finish())
	}
	if t, ok := o.obj("task", true); ok {
		in.TaskSet = true
		if t != nil {
			in.Task = decodeTask(t)
			o.fail(t.finish())
		}
	}
	in.Enabled = o.boolean("enabled")
	in.Retry, in.FireLimit = o.policies()
	in.OverlapPolicy = o.str("overlap_policy", false)
	in.CatchUpPolicy = o.str("catch_up_policy", false)
	in.MisfireGraceSeconds = o.integer("misfire_grace_seconds")
	in.CatchUpWindow = o.str("catch_up_window", false)
	if err := o.finish(); err != nil {
		return nil, err
	}
	if patch && *in == (JobInput{}) {
		return nil, Invalid("automation job update must include at least one field")
	}
	return in, nil
}

func deref(p *string) string {
	if p == nil {
		return ""
	}
	return *p
}

func decodeSchedule(o *object) *Schedule {
	return &Schedule{
		Mode:     deref(o.str("mode", false)),
		Expr:     deref(o.str("expr", false)),
		Interval: deref(o.str("interval", false)),
		Time:     deref(o.str("time", false)),
		Timezone: deref(o.str("timezone", false)),
	}
}

// policies reads the optional retry and fire_limit objects shared by jobs and triggers.
func (o *object) policies() (*Retry, *FireLimit) {
	var r *Retry
	var f *FireLimit
	if ro, ok := o.obj("retry", false); ok && ro != nil {
		r = decodeRetry(ro)
		o.fail(ro.finish())
	}
	if fo, ok := o.obj("fire_limit", false); ok && fo != nil {
		f = decodeFireLimit(fo)
		o.fail(fo.finish())
	}
	return r, f
}

func decodeRetry(o *object) *Retry {
	r := &Retry{
		Strategy:  deref(o.str("strategy", false)),
		BaseDelay: deref(o.str("base_delay", false)),
		MaxDelay:  deref(o.str("max_delay", false)),
	}
	if n := o.integer("max_retries"); n != nil {
		r.MaxRetries = *n
	}
	return r
}

func decodeFireLimit(o *object) *FireLimit {
	f := &FireLimit{Window: deref(o.str("window", false))}
	if n := o.integer("max"); n != nil {
		f.Max = *n
	}
	return f
}

func decodeTask(o *object) *TaskConfig {
	t := &TaskConfig{
		Title:          deref(o.str("title", false)),
		Description:    deref(o.str("description", false)),
		NetworkChannel: deref(o.str("network_channel", false)),
	}
	if ow, ok := o.obj("owner", false); ok && ow != nil {
		t.Owner = &TaskOwner{Kind: deref(ow.str("kind", false)), Ref: deref(ow.str("ref", false))}
		o.fail(ow.finish())
	}
	return t
}

// NewJob builds a dynamic job from a create body, applying defaults, and validates it.
func NewJob(in *JobInput, env Env) (*Job, error) {
	j := &Job{
		Enabled:             true,
		Retry:               Retry{Strategy: RetryNone},
		FireLimit:           env.DefaultFireLimit,
		OverlapPolicy:       OverlapAllow,
		CatchUpPolicy:       CatchUpSkipMissed,
		MisfireGraceSeconds: DefaultMisfireGrace,
		CatchUpWindow:       DefaultCatchUp,
		Source:              SourceDynamic,
	}
	j.Apply(in)
	if in.Schedule == nil {
		j.Schedule = Schedule{}
	}
	if err := ValidateJob("job", j, in.Schedule == nil, env); err != nil {
		return nil, err
	}
	j.resolve()
	return j, nil
}

// Patched returns a copy of j with the PATCH input applied, validated as a whole.
func (j *Job) Patched(in *JobInput, env Env) (*Job, error) {
	c := j.Clone()
	c.Apply(in)
	if err := ValidateJob("job", c, false, env); err != nil {
		return nil, err
	}
	c.resolve()
	return c, nil
}

// Clone returns a deep copy.
func (j *Job) Clone() *Job {
	c := *j
	if j.Task != nil {
		t := *j.Task
		if t.Owner != nil {
			o := *t.Owner
			t.Owner = &o
		}
		c.Task = &t
	}
	return &c
}

// Apply copies the fields present in in onto j (PATCH semantics: objects replace whole).
func (j *Job) Apply(in *JobInput) {
	set := func(dst *string, src *string) {
		if src != nil {
			*dst = *src
		}
	}
	set(&j.Name, in.Name)
	set(&j.Scope, in.Scope)
	set(&j.WorkspaceID, in.WorkspaceID)
	set(&j.AgentName, in.AgentName)
	set(&j.Prompt, in.Prompt)
	if in.Schedule != nil {
		j.Schedule = *in.Schedule
	}
	if in.TaskSet {
		j.Task = nil
		if in.Task != nil {
			t := *in.Task
			if t.Owner != nil {
				o := *t.Owner
				t.Owner = &o
			}
			j.Task = &t
		}
	}
	if in.Enabled != nil {
		j.Enabled = *in.Enabled
	}
	if in.Retry != nil {
		j.Retry = *in.Retry
	}
	if in.FireLimit != nil {
		j.FireLimit = *in.FireLimit
	}
	set(&j.OverlapPolicy, in.OverlapPolicy)
	set(&j.CatchUpPolicy, in.CatchUpPolicy)
	if in.MisfireGraceSeconds != nil {
		j.MisfireGraceSeconds = *in.MisfireGraceSeconds
	}
	set(&j.CatchUpWindow, in.CatchUpWindow)
}

// resolve fills values that validation proved derivable (agent-owned task ref).
func (j *Job) resolve() {
	if j.Task != nil && j.Task.Owner != nil && j.Task.Owner.Kind == "agent" && j.Task.Owner.Ref == "" {
		j.Task.Owner.Ref = j.AgentName
	}
}

// ValidateJob checks a complete job against SPEC §3.2; the first failing rule wins.
// scheduleMissing reports that the create body had no schedule.
func ValidateJob(root string, j *Job, scheduleMissing bool, env Env) error {
	p := func(f string) string { return root + "." + f }
	if err := validateName(root, j.Name); err != nil {
		return err
	}
	if err := validateScope(root, j.Scope, j.WorkspaceID, env); err != nil {
		return err
	}
	hasTask := j.Task != nil
	if j.AgentName == "" && !hasTask {
		return Invalid("%s is required", p("agent_name"))
	}
	if j.AgentName != "" && (env.AgentExists == nil || !env.AgentExists(j.AgentName)) {
		return Invalid("%s is invalid: unknown agent %q", p("agent_name"), j.AgentName)
	}
	if strings.TrimSpace(j.Prompt) == "" && !hasTask {
		return Invalid("%s is required", p("prompt"))
	}
	if len(j.Prompt) > MaxPromptBytes {
		return Invalid("%s must be at most %d bytes", p("prompt"), MaxPromptBytes)
	}
	if scheduleMissing {
		return Invalid("%s is required", p("schedule"))
	}
	if err := ValidateSchedule(p("schedule"), &j.Schedule, env); err != nil {
		return err
	}
	if err := ValidateRetry(p("retry"), &j.Retry); err != nil {
		return err
	}
	if err := ValidateFireLimit(p("fire_limit"), &j.FireLimit); err != nil {
		return err
	}
	if err := ValidateOverlap(p("overlap_policy"), j.OverlapPolicy); err != nil {
		return err
	}
	switch j.CatchUpPolicy {
	case CatchUpSkipMissed, CatchUpRunOnce, CatchUpRunAll:
	default:
		return Invalid("%s must be one of \"skip_missed\", \"run_once\", or \"run_all\": %q", p("catch_up_policy"), j.CatchUpPolicy)
	}
	if j.MisfireGraceSeconds < 0 || j.MisfireGraceSeconds > 86400 {
		return Invalid("%s must be between 0 and 86400: %d", p("misfire_grace_seconds"), j.MisfireGraceSeconds)
	}
	w, err := time.ParseDuration(j.CatchUpWindow)
	if err != nil {
		return Invalid("%s is invalid: %s", p("catch_up_window"), durationDetail(err))
	}
	if w < time.Minute || w > 720*time.Hour {
		return Invalid("%s must be between 1m and 720h: %s", p("catch_up_window"), j.CatchUpWindow)
	}
	if hasTask {
		if err := validateTask(root, j, env); err != nil {
			return err
		}
	}
	return nil
}

func durationDetail(err error) string {
	return strings.TrimPrefix(err.Error(), "time: ")
}

func validateName(root, name string) error {
	if name == "" {
		return Invalid("%s.name is required", root)
	}
	if utf8.RuneCountInString(name) > MaxNameChars {
		return Invalid("%s.name must be at most %d characters", root, MaxNameChars)
	}
	for _, r := range name {
		if unicode.IsControl(r) {
			return Invalid("%s.name must not contain control characters", root)
		}
	}
	return nil
}

func validateScope(root, scope, ws string, env Env) error {
	switch scope {
	case ScopeGlobal:
		if ws != "" {
			return Invalid("%s.workspace_id must be empty when %s.scope is \"global\"", root, root)
		}
	case ScopeWorkspace:
		if ws == "" {
			return Invalid("%s.workspace_id is required when %s.scope is \"workspace\"", root, root)
		}
		if env.WorkspaceExists == nil || !env.WorkspaceExists(ws) {
			return Invalid("%s.workspace_id is invalid: unknown workspace %q", root, ws)
		}
	default:
		return Invalid("%s.scope must be one of \"global\" or \"workspace\": %q", root, scope)
	}
	return nil
}

// ValidateOverlap checks an overlap policy value.
func ValidateOverlap(path, v string) error {
	switch v {
	case OverlapAllow, OverlapSkip, OverlapQueue, OverlapCancelPrevious:
		return nil
	}
	return Invalid("%s must be one of \"allow\", \"skip\", \"queue\", or \"cancel_previous\": %q", path, v)
}

// ValidateSchedule checks a schedule (SPEC §3.2 rules 7–11, §18.12).
func ValidateSchedule(p string, s *Schedule, env Env) error {
	notAllowed := func(field string) error {
		return Invalid("%s.%s is not allowed when schedule.mode is %q", p, field, s.Mode)
	}
	mustBeEmpty := func(field string) error {
		return Invalid("%s.%s must be empty when schedule.mode is %q", p, field, s.Mode)
	}
	switch s.Mode {
	case ModeCron:
		if s.Expr == "" {
			return Invalid("%s.expr is required when schedule.mode is \"cron\"", p)
		}
		if s.Interval != "" {
			return mustBeEmpty("interval")
		}
		if s.Time != "" {
			return mustBeEmpty("time")
		}
		c, err := schedule.ParseCron(s.Expr)
		if err != nil {
			return Invalid("%s.expr is invalid: %s", p, err.Error())
		}
		loc := time.UTC
		if s.Timezone != "" {
			if l, err := schedule.LoadLocation(s.Timezone); err == nil {
				loc = l
			}
		}
		if !c.FiresWithin(env.Now, loc, 8*365*24*time.Hour+2*24*time.Hour) {
			return Invalid("%s.expr is invalid: expression never fires", p)
		}
	case ModeEvery:
		if s.Interval == "" {
			return Invalid("%s.interval is required when schedule.mode is \"every\"", p)
		}
		d, err := time.ParseDuration(s.Interval)
		if err != nil {
			return Invalid("%s.interval is invalid: %s", p, durationDetail(err))
		}
		if d < time.Second {
			return Invalid("%s.interval must be at least 1s: %s", p, s.Interval)
		}
		if s.Expr != "" {
			return mustBeEmpty("expr")
		}
		if s.Time != "" {
			return notAllowed("time")
		}
		if s.Timezone != "" {
			return mustBeEmpty("timezone")
		}
	case ModeAt:
		if s.Time == "" {
			return Invalid("%s.time is required when schedule.mode is \"at\"", p)
		}
		if _, err := ParseRequestTime(s.Time); err != nil {
			return Invalid("%s.time is invalid: %s", p, err.Error())
		}
		if s.Expr != "" {
			return notAllowed("expr")
		}
		if s.Interval != "" {
			return notAllowed("interval")
		}
		if s.Timezone != "" {
			return mustBeEmpty("timezone")
		}
	default:
		return Invalid("%s.mode must be one of \"cron\", \"every\", or \"at\": %q", p, s.Mode)
	}
	if s.Timezone != "" {
		if _, err := schedule.LoadLocation(s.Timezone); err != nil {
			return Invalid("%s.timezone is invalid: unknown time zone %q", p, s.Timezone)
		}
	}
	return nil
}

// ParseRequestTime parses a request time: RFC 3339 with a mandatory offset and an optional
// fraction (SPEC §1.3).
func ParseRequestTime(s string) (time.Time, error) {
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return time.Time{}, fmt.Errorf("%q is not an RFC 3339 time with offset", s)
	}
	return t, nil
}

// ValidateRetry checks a retry policy (SPEC §3.4).
func ValidateRetry(p string, r *Retry) error {
	switch r.Strategy {
	case RetryNone:
		if r.MaxRetries != 0 {
			return Invalid("%s.max_retries must be zero when retry.strategy is \"none\": %d", p, r.MaxRetries)
		}
		if r.BaseDelay != "" {
			return Invalid("%s.base_delay must be empty when retry.strategy is \"none\": %q", p, r.BaseDelay)
		}
		if r.MaxDelay != "" {
			return Invalid("%s.max_delay must be empty when retry.strategy is \"none\": %q", p, r.MaxDelay)
		}
	case RetryBackoff:
		if r.MaxRetries < 1 || r.MaxRetries > 20 {
			return Invalid("%s.max_retries must be between 1 and 20 when retry.strategy is \"backoff\": %d", p, r.MaxRetries)
		}
		if r.BaseDelay == "" {
			return Invalid("%s.base_delay is required when retry.strategy is \"backoff\"", p)
		}
		base, err := time.ParseDuration(r.BaseDelay)
		if err != nil {
			return Invalid("%s.base_delay is invalid: %s", p, durationDetail(err))
		}
		if base <= 0 {
			return Invalid("%s.base_delay must be positive: %s", p, r.BaseDelay)
		}
		if base > 24*time.Hour {
			return Invalid("%s.base_delay must be at most 24h: %s", p, r.BaseDelay)
		}
		if r.MaxDelay != "" {
			maxd, err := time.ParseDuration(r.MaxDelay)
			if err != nil {
				return Invalid("%s.max_delay is invalid: %s", p, durationDetail(err))
			}
			if maxd < base {
				return Invalid("%s.max_delay must be at least %s.base_delay: %s", p, p, r.MaxDelay)
			}
			if maxd > 24*time.Hour {
				return Invalid("%s.max_delay must be at most 24h: %s", p, r.MaxDelay)
			}
		}
	default:
		return Invalid("%s.strategy must be one of \"none\" or \"backoff\": %q", p, r.Strategy)
	}
	return nil
}

// Delay returns the wait before attempt+1 after attempt failed (SPEC §7.5).
func (r Retry) Delay(attempt int) time.Duration {
	base, _ := time.ParseDuration(r.BaseDelay)
	d := base
	for i := 1; i < attempt && d < 1<<40; i++ {
		d *= 2
	}
	if r.MaxDelay != "" {
		if m, err := time.ParseDuration(r.MaxDelay); err == nil && d > m {
			d = m
		}
	}
	return d
}

// ValidateFireLimit checks a fire limit (SPEC §3.4).
func ValidateFireLimit(p string, f *FireLimit) error {
	if f.Max < 1 {
		return Invalid("%s.max must be positive: %d", p, f.Max)
	}
	if f.Window == "" {
		return Invalid("%s.window is required", p)
	}
	w, err := time.ParseDuration(f.Window)
	if err != nil {
		return Invalid("%s.window is invalid: %s", p, durationDetail(err))
	}
	if w < time.Second || w > 720*time.Hour {
		return Invalid("%s.window must be between 1s and 720h: %s", p, f.Window)
	}
	return nil
}

// WindowDuration returns the parsed window (validated definitions only).
func (f FireLimit) WindowDuration() time.Duration {
	d, _ := time.ParseDuration(f.Window)
	return d
}

func validateTask(root string, j *Job, env Env) error {
	p := root + ".task"
	t := j.Task
	if utf8.RuneCountInString(t.Title) > MaxTaskTitleChars {
		return Invalid("%s.title must be at most %d characters", p, MaxTaskTitleChars)
	}
	if len(t.Description) > MaxTaskDescBytes {
		return Invalid("%s.description must be at most %d bytes", p, MaxTaskDescBytes)
	}
	kind, ref := "human", ""
	if t.Owner != nil {
		kind, ref = t.Owner.Kind, t.Owner.Ref
	}
	switch kind {
	case "human":
		if utf8.RuneCountInString(ref) > MaxOwnerRefChars {
			return Invalid("%s.owner.ref must be at most %d characters", p, MaxOwnerRefChars)
		}
	case "agent":
		if ref == "" {
			ref = j.AgentName
		}
		if ref == "" {
			return Invalid("%s.owner.ref is required when task.owner.kind is \"agent\"", p)
		}
		if env.AgentExists == nil || !env.AgentExists(ref) {
			return Invalid("%s.owner.ref is invalid: unknown agent %q", p, ref)
		}
		if strings.TrimSpace(t.Description) == "" && strings.TrimSpace(j.Prompt) == "" {
			return Invalid("%s.description is required when task.owner.kind is \"agent\" and %s.prompt is empty", p, root)
		}
	default:
		return Invalid("%s.owner.kind must be one of \"human\" or \"agent\": %q", p, kind)
	}
	if t.NetworkChannel != "" && (env.ChannelExists == nil || !env.ChannelExists(t.NetworkChannel)) {
		return Invalid("%s.network_channel is invalid: unknown channel %q", p, t.NetworkChannel)
	}
	if j.Retry.Strategy != RetryNone {
		return Invalid("%s.retry.strategy must be \"none\" when %s.task is configured", root, root)
	}
	return nil
}
