package config

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"

	"github.com/agh-dev/agh/internal/automation"
)

// valueKind is the TOML type a definition key must have.
type valueKind int

const (
	kindString valueKind = iota
	kindInt
	kindBool
	kindTable
)

// shape describes the keys of a definition table; sub is set for kindTable keys.
type shape map[string]field

type field struct {
	kind valueKind
	sub  shape
}

// jobShape lists the keys of an [[automation.jobs]] entry (the API create fields, SPEC §2.1,
// plus the aliases agent and workspace of SPEC §13.5).
var jobShape = shape{
	"name":         {kind: kindString},
	"scope":        {kind: kindString},
	"workspace_id": {kind: kindString},
	"workspace":    {kind: kindString},
	"agent_name":   {kind: kindString},
	"agent":        {kind: kindString},
	"prompt":       {kind: kindString},
	"schedule": {kind: kindTable, sub: shape{
		"mode":     {kind: kindString},
		"expr":     {kind: kindString},
		"interval": {kind: kindString},
		"time":     {kind: kindString},
		"timezone": {kind: kindString},
	}},
	"task": {kind: kindTable, sub: shape{
		"title":       {kind: kindString},
		"description": {kind: kindString},
		"owner": {kind: kindTable, sub: shape{
			"kind": {kind: kindString},
			"ref":  {kind: kindString},
		}},
		"network_channel": {kind: kindString},
	}},
	"enabled": {kind: kindBool},
	"retry": {kind: kindTable, sub: shape{
		"strategy":    {kind: kindString},
		"max_retries": {kind: kindInt},
		"base_delay":  {kind: kindString},
		"max_delay":   {kind: kindString},
	}},
	"fire_limit": {kind: kindTable, sub: shape{
		"max":    {kind: kindInt},
		"window": {kind: kindString},
	}},
	"overlap_policy":        {kind: kindString},
	"catch_up_policy":       {kind: kindString},
	"misfire_grace_seconds": {kind: kindInt},
	"catch_up_window":       {kind: kindString},
}

// checkShape refuses unknown keys and wrongly typed values, in sorted key order, at every
// level of a definition table. A TOML date-time is not a string.
func checkShape(path string, m map[string]any, s shape) error {
	for _, k := range sortedKeys(m) {
		f, known := s[k]
		p := path + "." + k
		if !known {
			return unknownKey(p)
		}
		v := m[k]
		switch f.kind {
		case kindString:
			if _, ok := v.(string); !ok {
				return errorf("%s must be a string", p)
			}
		case kindInt:
			if _, ok := v.(int64); !ok {
				return errorf("%s must be an integer", p)
			}
		case kindBool:
			if _, ok := v.(bool); !ok {
				return errorf("%s must be a boolean", p)
			}
		case kindTable:
			sub, ok := v.(map[string]any)
			if !ok {
				return errorf("%s must be a table", p)
			}
			if f.sub == nil { // a free table of strings (trigger filters)
				for _, sk := range sortedKeys(sub) {
					if _, ok := sub[sk].(string); !ok {
						return errorf("%s[%q] must be a string", p, sk)
					}
				}
				continue
			}
			if err := checkShape(p, sub, f.sub); err != nil {
				return err
			}
		}
	}
	return nil
}

// canonicalAliases returns a copy of m with the aliases agent and workspace renamed; giving an
// alias and its canonical key together is an error.
func canonicalAliases(path string, m map[string]any) (map[string]any, error) {
	out := make(map[string]any, len(m))
	for k, v := range m {
		out[k] = v
	}
	for _, a := range [][2]string{{"workspace", "workspace_id"}, {"agent", "agent_name"}} {
		alias, canonical := a[0], a[1]
		v, ok := out[alias]
		if !ok {
			continue
		}
		if _, both := out[canonical]; both {
			return nil, errorf("%s.%s is an alias of %s.%s; set only one", path, alias, path, canonical)
		}
		delete(out, alias)
		out[canonical] = v
	}
	return out, nil
}

// validationEnv describes the configuration's own agents, workspaces and channels.
func (p *parser) validationEnv() automation.Env {
	ws := map[string]bool{}
	for _, w := range p.cfg.Workspaces {
		ws[w.ID] = true
	}
	return automation.Env{
		Now:              p.now,
		AgentExists:      func(n string) bool { return p.cfg.Agents[n] != nil },
		WorkspaceExists:  func(id string) bool { return ws[id] },
		ChannelExists:    func(n string) bool { return p.cfg.Channels[n] != nil },
		DefaultFireLimit: p.cfg.Automation.DefaultFireLimit,
		DefaultTimezone:  p.cfg.Automation.Timezone,
	}
}

func (p *parser) jobs(auto table) error {
	if auto.m == nil {
		return nil
	}
	list, err := auto.tables("jobs")
	if err != nil {
		return err
	}
	env := p.validationEnv()
	seen := map[string]bool{}
	for _, t := range list {
		j, err := buildJob(t.path, t.m, env)
		if err != nil {
			return err
		}
		if seen[j.ID] {
			return errorf("%s.name %q is duplicated", t.path, j.Name)
		}
		seen[j.ID] = true
		p.cfg.Jobs = append(p.cfg.Jobs, j)
	}
	return nil
}

// buildJob decodes and validates one [[automation.jobs]] entry rooted at root, applying the
// defaults of a created job (SPEC §2.1) and the config-source fields.
func buildJob(root string, m map[string]any, env automation.Env) (*automation.Job, error) {
	if err := checkShape(root, m, jobShape); err != nil {
		return nil, err
	}
	m, err := canonicalAliases(root, m)
	if err != nil {
		return nil, err
	}
	in, err := automation.DecodeJob(root, m, false)
	if err != nil {
		return nil, wrapValidation(err)
	}
	j := &automation.Job{
		Enabled:             true,
		Retry:               automation.Retry{Strategy: automation.RetryNone},
		FireLimit:           env.DefaultFireLimit,
		OverlapPolicy:       automation.OverlapAllow,
		CatchUpPolicy:       automation.CatchUpSkipMissed,
		MisfireGraceSeconds: automation.DefaultMisfireGrace,
		CatchUpWindow:       automation.DefaultCatchUp,
		Source:              automation.SourceConfig,
	}
	j.Apply(in)
	if err := automation.ValidateJob(root, j, in.Schedule == nil, env); err != nil {
		return nil, wrapValidation(err)
	}
	if t := j.Task; t != nil && t.Owner != nil && t.Owner.Kind == "agent" && t.Owner.Ref == "" {
		t.Owner.Ref = j.AgentName
	}
	j.ConfigEnabled = j.Enabled
	j.ID = automation.DefinitionID(automation.PrefixJob, "job", j.Scope, j.WorkspaceID, j.Name)
	j.ConfigHash = jobHash(j)
	return j, nil
}

// jobHashV1 is the canonical form hashed into ConfigHash: every definition field of the
// validated job except enabled (which has its own override mechanism, SPEC §13.5). A
// definition that inherits automation.default_fire_limit hashes the inherited value, so a
// change of the default updates it.
type jobHashV1 struct {
	Name                string        `json:"name"`
	Scope               string        `json:"scope"`
	WorkspaceID         string        `json:"workspace_id"`
	AgentName           string        `json:"agent_name"`
	Prompt              string        `json:"prompt"`
	Schedule            [5]string     `json:"schedule"` // mode, expr, interval, time, timezone
	Task                *taskHashV1   `json:"task"`
	Retry               retryHashV1   `json:"retry"`
	FireLimit           fireLimitHash `json:"fire_limit"`
	OverlapPolicy       string        `json:"overlap_policy"`
	CatchUpPolicy       string        `json:"catch_up_policy"`
	MisfireGraceSeconds int           `json:"misfire_grace_seconds"`
	CatchUpWindow       string        `json:"catch_up_window"`
}

type taskHashV1 struct {
	Title          string `json:"title"`
	Description    string `json:"description"`
	OwnerSet       bool   `json:"owner_set"`
	OwnerKind      string `json:"owner_kind"`
	OwnerRef       string `json:"owner_ref"`
	NetworkChannel string `json:"network_channel"`
}

type retryHashV1 struct {
	Strategy   string `json:"strategy"`
	MaxRetries int    `json:"max_retries"`
	BaseDelay  string `json:"base_delay"`
	MaxDelay   string `json:"max_delay"`
}

type fireLimitHash struct {
	Max    int    `json:"max"`
	Window string `json:"window"`
}

// jobHash returns "sha256:<hex>" of the canonical JSON of the job's definition fields.
func jobHash(j *automation.Job) string {
	h := jobHashV1{
		Name:        j.Name,
		Scope:       j.Scope,
		WorkspaceID: j.WorkspaceID,
		AgentName:   j.AgentName,
		Prompt:      j.Prompt,
		Schedule:    [5]string{j.Schedule.Mode, j.Schedule.Expr, j.Schedule.Interval, j.Schedule.Time, j.Schedule.Timezone},
		Retry: retryHashV1{
			Strategy: j.Retry.Strategy, MaxRetries: j.Retry.MaxRetries,
			BaseDelay: j.Retry.BaseDelay, MaxDelay: j.Retry.MaxDelay,
		},
		FireLimit:           fireLimitHash{Max: j.FireLimit.Max, Window: j.FireLimit.Window},
		OverlapPolicy:       j.OverlapPolicy,
		CatchUpPolicy:       j.CatchUpPolicy,
		MisfireGraceSeconds: j.MisfireGraceSeconds,
		CatchUpWindow:       j.CatchUpWindow,
	}
	if t := j.Task; t != nil {
		h.Task = &taskHashV1{Title: t.Title, Description: t.Description, NetworkChannel: t.NetworkChannel}
		if t.Owner != nil {
			h.Task.OwnerSet, h.Task.OwnerKind, h.Task.OwnerRef = true, t.Owner.Kind, t.Owner.Ref
		}
	}
	b, err := json.Marshal(h)
	if err != nil {
		panic(fmt.Sprintf("config: hashing job: %v", err)) // plain strings and ints cannot fail
	}
	sum := sha256.Sum256(b)
	return "sha256:" + hex.EncodeToString(sum[:])
}
