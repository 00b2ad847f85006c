package events

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"
	"time"
)

func TestValidateEventKind(t *testing.T) {
	long := "ext.a" + strings.Repeat("b", 124) // "ext." + 125 characters: one too many
	tests := []struct {
		kind    string
		wantErr string
	}{
		{"webhook", ""},
		{"session.created", ""},
		{"session.stopped", ""},
		{"automation.run.completed", ""},
		{"automation.run.failed", ""},
		{"ext.deploy", ""},
		{"ext.0", ""},
		{"ext.deploy.prod_v2-x", ""},
		{long[:len(long)-1], ""},
		{"session.stoped", `unknown event kind "session.stoped"`},
		{"Session.stopped", `unknown event kind "Session.stopped"`},
		{"", `unknown event kind ""`},
		{"ext.", `unknown event kind "ext."`},
		{"ext._x", `unknown event kind "ext._x"`},
		{"ext.-x", `unknown event kind "ext.-x"`},
		{"ext.Deploy", `unknown event kind "ext.Deploy"`},
		{"ext.deploy\n", `unknown event kind "ext.deploy\n"`},
		{" ext.deploy", `unknown event kind " ext.deploy"`},
		{"extdeploy", `unknown event kind "extdeploy"`},
		{"ext.a b", `unknown event kind "ext.a b"`},
		{long, `unknown event kind "` + long + `"`},
		{"automation.run.canceled", `unknown event kind "automation.run.canceled"`},
	}
	for _, tt := range tests {
		err := ValidateEventKind(tt.kind)
		got := ""
		if err != nil {
			got = err.Error()
		}
		if got != tt.wantErr {
			t.Errorf("ValidateEventKind(%q) = %q, want %q", tt.kind, got, tt.wantErr)
		}
	}
}

func TestIsExtKind(t *testing.T) {
	for _, k := range BuiltinKinds {
		if IsExtKind(k) {
			t.Errorf("IsExtKind(%q) = true", k)
		}
	}
	if !IsExtKind("ext.ci.build-done") {
		t.Error("IsExtKind(ext.ci.build-done) = false")
	}
	if IsExtKind("ext.ci\x00") {
		t.Error("IsExtKind accepts a NUL byte")
	}
}

func TestLoopGuard(t *testing.T) {
	for depth, want := range map[int]bool{0: false, 1: false, 2: false, 3: true, 4: true} {
		if got := (&Envelope{Depth: depth}).LoopGuarded(); got != want {
			t.Errorf("depth %d: LoopGuarded = %v, want %v", depth, got, want)
		}
	}
}

func TestRouteMatches(t *testing.T) {
	e := &Envelope{Kind: KindSessionStopped, Scope: "workspace", WorkspaceID: "web"}
	tests := []struct {
		event, scope, ws string
		want             bool
	}{
		{KindSessionStopped, "workspace", "web", true},
		{KindSessionCreated, "workspace", "web", false},
		{"Session.stopped", "workspace", "web", false},
		{KindSessionStopped, "global", "", false},
		{KindSessionStopped, "workspace", "api", false},
		{KindSessionStopped, "workspace", "", false},
	}
	for _, tt := range tests {
		if got := RouteMatches(tt.event, tt.scope, tt.ws, e); got != tt.want {
			t.Errorf("RouteMatches(%q, %q, %q) = %v, want %v", tt.event, tt.scope, tt.ws, got, tt.want)
		}
	}
	if RouteMatches(KindWebhook, "global", "", nil) {
		t.Error("RouteMatches with nil envelope = true")
	}
	g := &Envelope{Kind: KindWebhook, Scope: "global"}
	if !RouteMatches(KindWebhook, "global", "", g) {
		t.Error("global envelope not matched by global trigger")
	}
}

func TestFormatTime(t *testing.T) {
	ny, err := time.LoadLocation("America/New_York")
	if err != nil {
		t.Skip("no zone data:", err)
	}
	tests := []struct {
		in   time.Time
		want string
	}{
		{time.Date(2026, 3, 8, 7, 0, 0, 0, time.UTC), "2026-03-08T07:00:00Z"},
		{time.Date(2026, 3, 8, 7, 0, 0, 250_000_000, time.UTC), "2026-03-08T07:00:00.25Z"},
		{time.Date(2026, 3, 8, 3, 30, 0, 1, ny), "2026-03-08T07:30:00.000000001Z"},
		{time.Date(2026, 11, 1, 1, 30, 0, 100, ny), "2026-11-01T05:30:00.0000001Z"},
	}
	for _, tt := range tests {
		if got := FormatTime(tt.in); got != tt.want {
			t.Errorf("FormatTime(%v) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestEnvelopeMarshalJSON(t *testing.T) {
	at := time.Date(2026, 1, 1, 1, 0, 0, 750_000_000, time.FixedZone("+01", 3600))
	tests := []struct {
		name string
		e    Envelope
		want string
	}{
		{
			name: "global with data",
			e: Envelope{ID: "evt_1", Kind: "ext.deploy", Scope: "global", Source: SourceExtension,
				Data: map[string]any{"n": json.Number("4.2e1"), "html": "<a&b>", "f": 1.5}, OccurredAt: at},
			want: `{"id":"evt_1","kind":"ext.deploy","scope":"global","source":"extension","data":{"f":1.5,"html":"<a&b>","n":4.2e1},"depth":0,"occurred_at":"2026-01-01T00:00:00.75Z"}`,
		},
		{
			name: "workspace, nil data, whole seconds",
			e: Envelope{ID: "evt_2", Kind: KindRunFailed, Scope: "workspace", WorkspaceID: "web",
				Source: SourceAutomation, Depth: 2, OccurredAt: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)},
			want: `{"id":"evt_2","kind":"automation.run.failed","scope":"workspace","workspace_id":"web","source":"automation","data":{},"depth":2,"occurred_at":"2026-01-01T00:00:00Z"}`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b, err := tt.e.MarshalJSON()
			if err != nil {
				t.Fatal(err)
			}
			if string(b) != tt.want {
				t.Errorf("MarshalJSON\ngot  %s\nwant %s", b, tt.want)
			}
			// json.Marshal re-compacts a Marshaler's output and applies its own HTML escaping.
			want := strings.NewReplacer("<", `\u003c`, ">", `\u003e`, "&", `\u0026`).Replace(tt.want)
			for _, v := range []any{tt.e, &tt.e} {
				b, err := json.Marshal(v)
				if err != nil {
					t.Fatal(err)
				}
				if string(b) != want {
					t.Errorf("json.Marshal\ngot  %s\nwant %s", b, want)
				}
			}
		})
	}
	if _, err := json.Marshal(Envelope{Data: map[string]any{"c": make(chan int)}}); err == nil {
		t.Error("marshal of unsupported data: no error")
	}
}

func TestEnvelopeJSONRoundTrip(t *testing.T) {
	in := `{"id":"evt_1","kind":"webhook","scope":"workspace","workspace_id":"web","source":"webhook","data":{"big":12345678901234567890,"f":4.2e1,"l":[1,null,{"x":0.10}],"s":"x"},"depth":1,"occurred_at":"2026-01-01T01:00:00.5+01:00"}`
	var e Envelope
	if err := json.Unmarshal([]byte(in), &e); err != nil {
		t.Fatal(err)
	}
	if e.Data["big"] != json.Number("12345678901234567890") || e.Data["f"] != json.Number("4.2e1") {
		t.Errorf("numbers not kept as literals: %#v", e.Data)
	}
	if !e.OccurredAt.Equal(time.Date(2026, 1, 1, 0, 0, 0, 500_000_000, time.UTC)) || e.OccurredAt.Location() != time.UTC {
		t.Errorf("occurred_at = %v", e.OccurredAt)
	}
	b, err := json.Marshal(e)
	if err != nil {
		t.Fatal(err)
	}
	want := strings.Replace(in, "2026-01-01T01:00:00.5+01:00", "2026-01-01T00:00:00.5Z", 1)
	if string(b) != want {
		t.Errorf("round trip\ngot  %s\nwant %s", b, want)
	}

	for _, tt := range []struct{ in, wantData string }{
		{`{"id":"evt_1","data":null,"occurred_at":"2026-01-01T00:00:00Z"}`, `{}`},
		{`{"id":"evt_1"}`, `{}`},
	} {
		var e Envelope
		if err := json.Unmarshal([]byte(tt.in), &e); err != nil {
			t.Fatalf("%s: %v", tt.in, err)
		}
		if e.Data == nil || len(e.Data) != 0 {
			t.Errorf("%s: data = %#v, want empty object", tt.in, e.Data)
		}
	}
	for _, bad := range []string{
		`{"data":[1]}`, `{"data":"x"}`, `{"occurred_at":"yesterday"}`, `{"depth":"1"}`, `[`,
	} {
		var e Envelope
		if err := json.Unmarshal([]byte(bad), &e); err == nil {
			t.Errorf("Unmarshal(%s): no error", bad)
		}
	}
}

// TestEnvelopeStoredForm: an envelope whose data is in stored form marshals (by hand) to what
// encoding/json would write, and unmarshals back with the stored form and an empty data.
func TestEnvelopeStoredForm(t *testing.T) {
	at := time.Date(2026, 1, 1, 1, 2, 3, 450000000, time.FixedZone("x", 3600))
	for _, ws := range []string{"", "ws \"1\"\n\x01<é>\xff"} {
		e := Envelope{ID: "evt_1", Kind: KindWebhook, Scope: "workspace", WorkspaceID: ws, Source: SourceWebhook,
			Depth: 2, OccurredAt: at, Data: map[string]any{"ignored": true}, Webhook: json.RawMessage(`{"body":"x\u2028","n":[1,2]}`)}
		got, err := e.MarshalJSON()
		if err != nil {
			t.Fatal(err)
		}
		want, err := json.Marshal(envelopeJSON{ID: e.ID, Kind: e.Kind, Scope: e.Scope, WorkspaceID: e.WorkspaceID, Source: e.Source,
			Data: json.RawMessage(`{}`), Depth: e.Depth, OccurredAt: FormatTime(e.OccurredAt), Webhook: e.Webhook})
		if err != nil {
			t.Fatal(err)
		}
		var g, w any
		if err := json.Unmarshal(got, &g); err != nil {
			t.Fatalf("%s: %v", got, err)
		}
		_ = json.Unmarshal(want, &w)
		if !reflect.DeepEqual(g, w) {
			t.Fatalf("stored form\n got  %s\n want %s", got, want)
		}
		var back Envelope
		if err := json.Unmarshal(got, &back); err != nil {
			t.Fatal(err)
		}
		if len(back.Data) != 0 || string(back.Webhook) != string(e.Webhook) || !back.OccurredAt.Equal(at) {
			t.Fatalf("round trip %+v", back)
		}
	}
}
