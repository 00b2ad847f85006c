package storetest

import (
	"bytes"
	"context"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/agh-dev/agh/internal/automation"
	"github.com/agh-dev/agh/internal/store"
)

// base is the suite's reference instant. It has nanoseconds so that lost precision shows.
var base = time.Date(2026, 3, 1, 10, 0, 0, 123456789, time.UTC)

// at returns base + d.
func at(d time.Duration) time.Time { return base.Add(d) }

// write runs fn in one Write and fails the test on error.
func write(t *testing.T, s store.Store, fn func(tx store.Tx) error) {
	t.Helper()
	if err := s.Write(context.Background(), fn); err != nil {
		t.Fatalf("Write: %v", err)
	}
}

// writeErr runs fn in one Write and returns the error.
func writeErr(s store.Store, fn func(tx store.Tx) error) error {
	return s.Write(context.Background(), fn)
}

// mustEqual fails the test when got and want differ (see diff).
func mustEqual(t *testing.T, what string, got, want any) {
	t.Helper()
	if d := diff(got, want); d != "" {
		t.Fatalf("%s differs (got vs want):\n%s", what, d)
	}
}

// diff compares two values deeply and describes the differences. time.Time values compare
// with Equal (same instant) and must be in UTC; []byte values compare with bytes.Equal (nil
// equals empty).
func diff(got, want any) string {
	var out []string
	diffValue("", reflect.ValueOf(got), reflect.ValueOf(want), &out)
	return strings.Join(out, "\n")
}

var (
	timeType  = reflect.TypeFor[time.Time]()
	bytesType = reflect.TypeFor[[]byte]()
)

func diffValue(path string, a, b reflect.Value, out *[]string) {
	if !a.IsValid() || !b.IsValid() {
		if a.IsValid() != b.IsValid() {
			*out = append(*out, fmt.Sprintf("%s: validity %v vs %v", path, a.IsValid(), b.IsValid()))
		}
		return
	}
	if a.Type() != b.Type() {
		*out = append(*out, fmt.Sprintf("%s: type %s vs %s", path, a.Type(), b.Type()))
		return
	}
	switch {
	case a.Type() == timeType:
		ta, tb := a.Interface().(time.Time), b.Interface().(time.Time)
		if !ta.Equal(tb) {
			*out = append(*out, fmt.Sprintf("%s: %s vs %s", path, fmtTime(ta), fmtTime(tb)))
		} else if !ta.IsZero() && ta.Location() != time.UTC {
			*out = append(*out, fmt.Sprintf("%s: %s is not in UTC", path, fmtTime(ta)))
		}
		return
	case a.Type() == bytesType:
		if !bytes.Equal(a.Bytes(), b.Bytes()) {
			*out = append(*out, fmt.Sprintf("%s: %q vs %q", path, a.Bytes(), b.Bytes()))
		}
		return
	}
	switch a.Kind() {
	case reflect.Pointer, reflect.Interface:
		if a.IsNil() || b.IsNil() {
			if a.IsNil() != b.IsNil() {
				*out = append(*out, fmt.Sprintf("%s: nil %v vs %v", path, a.IsNil(), b.IsNil()))
			}
			return
		}
		diffValue(path, a.Elem(), b.Elem(), out)
	case reflect.Struct:
		for i := range a.NumField() {
			f := a.Type().Field(i)
			if !f.IsExported() {
				continue
			}
			diffValue(path+"."+f.Name, a.Field(i), b.Field(i), out)
		}
	case reflect.Slice, reflect.Array:
		if a.Len() != b.Len() {
			*out = append(*out, fmt.Sprintf("%s: length %d vs %d", path, a.Len(), b.Len()))
			return
		}
		for i := range a.Len() {
			diffValue(fmt.Sprintf("%s[%d]", path, i), a.Index(i), b.Index(i), out)
		}
	case reflect.Map:
		keys := map[any]bool{}
		for _, k := range a.MapKeys() {
			keys[k.Interface()] = true
		}
		for _, k := range b.MapKeys() {
			keys[k.Interface()] = true
		}
		for k := range keys {
			kv := reflect.ValueOf(k)
			diffValue(fmt.Sprintf("%s[%v]", path, k), a.MapIndex(kv), b.MapIndex(kv), out)
		}
	default:
		if !reflect.DeepEqual(a.Interface(), b.Interface()) {
			*out = append(*out, fmt.Sprintf("%s: %#v vs %#v", path, a.Interface(), b.Interface()))
		}
	}
}

func fmtTime(t time.Time) string {
	if t.IsZero() {
		return "zero"
	}
	return t.Format(time.RFC3339Nano)
}

// ---- fixtures

// fullJob returns a workspace job with every field set.
func fullJob(id, name string) *automation.Job {
	return &automation.Job{
		ID:          id,
		Name:        name,
		Scope:       automation.ScopeWorkspace,
		WorkspaceID: "web",
		AgentName:   "claude",
		Prompt:      "Triage the issues opened since yesterday.\n\tLabel them — all of them.",
		Schedule: automation.Schedule{
			Mode: automation.ModeCron, Expr: "30 2 * * *", Interval: "90s",
			Time: "2026-03-02T07:30:00Z", Timezone: "America/New_York",
		},
		Task: &automation.TaskConfig{
			Title: "Triage", Description: "Look at the issues",
			Owner:          &automation.TaskOwner{Kind: "agent", Ref: "claude"},
			NetworkChannel: "ops",
		},
		Enabled:             true,
		Retry:               automation.Retry{Strategy: automation.RetryBackoff, MaxRetries: 2, BaseDelay: "1m", MaxDelay: "10m"},
		FireLimit:           automation.FireLimit{Max: 12, Window: "1h"},
		OverlapPolicy:       automation.OverlapSkip,
		CatchUpPolicy:       automation.CatchUpRunOnce,
		MisfireGraceSeconds: 60,
		CatchUpWindow:       "24h",
		Source:              automation.SourceConfig,
		CreatedAt:           at(0),
		UpdatedAt:           at(time.Nanosecond),
		ConfigEnabled:       true,
		ConfigHash:          "sha256:0123456789abcdef",
	}
}

// job returns a minimal dynamic job; ws "" makes it global.
func job(id, name, ws string) *automation.Job {
	j := &automation.Job{
		ID:        id,
		Name:      name,
		Scope:     automation.ScopeGlobal,
		AgentName: "claude",
		Prompt:    "hello",
		Schedule:  automation.Schedule{Mode: automation.ModeEvery, Interval: "1h"},
		Enabled:   true,
		Retry:     automation.Retry{Strategy: automation.RetryNone},
		FireLimit: automation.FireLimit{Max: 12, Window: "1h"},
		Source:    automation.SourceDynamic,
		CreatedAt: at(0),
		UpdatedAt: at(0),
	}
	if ws != "" {
		j.Scope, j.WorkspaceID = automation.ScopeWorkspace, ws
	}
	return j
}

// fullCursor returns a cursor with every field set.
func fullCursor(jobID string) *automation.Cursor {
	return &automation.Cursor{
		JobID:                     jobID,
		AccountedUntil:            at(time.Minute + 1),
		NextRunAt:                 at(time.Hour + 2),
		LastRunAt:                 at(3),
		LastScheduledAt:           at(4),
		LastFireID:                "fire_01kk63xsc0acekjez1yxs1z5t9",
		ConsecutiveResumeFailures: 3,
		LastMisfireAt:             at(5),
		MisfireCount:              7,
		UpdatedAt:                 at(6),
		Timezone:                  "Europe/Paris",
		AnchorAt:                  at(-time.Hour + 7),
		ScheduleKey:               "every|1h|Europe/Paris",
	}
}

// run returns a scheduled attempt-1 run of a job (or of a trigger when def starts with "trg").
func run(id, def string, started time.Time) *automation.Run {
	r := &automation.Run{
		ID:          id,
		Status:      automation.RunScheduled,
		Attempt:     1,
		FireID:      "fire_" + id,
		ScheduledAt: started,
		StartedAt:   started,
		Origin:      automation.OriginManual,
		Scope:       automation.ScopeGlobal,
		Depth:       1,
	}
	if strings.HasPrefix(def, "trg") {
		r.TriggerID = def
		r.Origin = automation.OriginWebhook
	} else {
		r.JobID = def
	}
	return r
}

// fullRun returns a run with every field set.
func fullRun(id string) *automation.Run {
	return &automation.Run{
		ID:              id,
		TriggerID:       "trg_1",
		Status:          automation.RunFailed,
		Attempt:         2,
		FireID:          "fire_full",
		ScheduledAt:     at(1),
		StartedAt:       at(2),
		EndedAt:         at(time.Hour + 3),
		SessionID:       "ses_1",
		Error:           "agent exited with status 1",
		ErrorCode:       automation.CodeAgentError,
		TaskID:          "tsk_1",
		TaskRunID:       "tkr_1",
		DeliveryError:   "channel ops: 502",
		DeliveryErrorAt: at(time.Hour + 4),
		Origin:          automation.OriginWebhook,
		RetryOf:         "run_prev",
		DispatchedAt:    at(5),
		AgentName:       "claude",
		Scope:           automation.ScopeWorkspace,
		WorkspaceID:     "web",
		Depth:           3,
		DeliveryID:      "dlv_1",
		EventID:         "evt_1",
		StopReason:      "end_turn",
		NodeID:          "worker-a",
		Prompt:          "Summarize {{.Payload}}",
		Envelope:        []byte("{\"kind\":\"webhook\",\"payload\":{\"a\":[1,2,3]},\"bin\":\"\x00\xff\"}"),
		LeaseOwner:      "worker-a",
		LeaseExpiresAt:  at(30 * time.Second),
	}
}

func ids[T any](items []T, id func(T) string) []string {
	out := make([]string, len(items))
	for i, it := range items {
		out[i] = id(it)
	}
	return out
}

func runIDs(rs []*automation.Run) []string {
	return ids(rs, func(r *automation.Run) string { return r.ID })
}

func jobIDs(rs []store.JobRecord) []string {
	return ids(rs, func(r store.JobRecord) string { return r.Job.ID })
}

// assertUnique fails when ids has duplicates.
func assertUnique(t *testing.T, ids []string) {
	t.Helper()
	s := slices.Clone(ids)
	slices.Sort(s)
	if i := len(slices.Compact(s)); i != len(ids) {
		t.Fatalf("duplicate ids in %v", ids)
	}
}
