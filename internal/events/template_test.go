package events

import (
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"strings"
	"sync"
	"testing"
	"time"
)

func TestParsePromptValidation(t *testing.T) {
	tests := []struct {
		name, text, wantErr string
	}{
		{"§8.6 example", `Issue #{{ .Data.issue.number }} was {{ .Data.action }} ({{ .Data.github_event }}).`, ""},
		{"json function", `{{ json .Data.issue }}`, ""},
		{"string fields", `{{ .Kind }} {{ .Scope }} {{ .WorkspaceID }} {{ .Source }}`, ""},
		{"dot and dollar alone", `{{ . }} {{ $ }}`, ""},
		{"dollar chain", `{{ $.Data.x.y }} {{ $.Kind }}`, ""},
		{"plain text", `just text`, ""},
		{"empty", ``, ""},
		{"comment", `{{/* .Payload */}}x`, ""},
		{"range rebinds the dot", `{{ range .Data.list }}{{ .Anything.Deep }}{{ end }}`, ""},
		{"with rebinds the dot", `{{ with .Data.issue }}{{ .Title.X }}{{ end }}`, ""},
		{"else with rebinds the dot", `{{ with .Data.a }}{{ .x }}{{ else with .Data.b }}{{ .Y.Z }}{{ end }}`, ""},
		{"range with variables", `{{ range $i, $e := .Data.list }}{{ $i }}{{ $e.Foo }}{{ end }}`, ""},
		{"range over an integer", `{{ range 3 }}{{ . }}{{ end }}`, ""},
		{"break and continue", `{{ range .Data.l }}{{ if . }}{{ break }}{{ else }}{{ continue }}{{ end }}{{ end }}`, ""},
		{"if keeps the dot, valid", `{{ if .Data.x }}{{ .Kind }}{{ else }}{{ .Source }}{{ end }}`, ""},
		{"other variables are not checked", `{{ $x := .Data }}{{ $x.Whatever.Deep }}`, ""},
		{"define bodies are not checked", `{{ define "t" }}{{ .Anything }}{{ end }}{{ template "t" .Data }}`, ""},
		{"define of the main template", `{{ define "prompt" }}{{ .Kind }}{{ end }}`, ""},
		{"rebinding $ disables $ checks", `{{ $ := .Data }}{{ $.issue }}`, ""},
		{"builtins", `{{ printf "%s" .Kind }}{{ len .Data }}{{ index .Data "a" }}{{ slice .Kind 0 1 }}{{ html .Kind }}{{ js .Kind }}{{ urlquery .Kind }}{{ print .Kind }}{{ println .Kind }}`, ""},
		{"logic builtins", `{{ and .Kind .Source }}{{ or .Kind .Source }}{{ not .Kind }}{{ eq .Kind "webhook" }}{{ ne .Kind "x" }}{{ lt 1 2 }}{{ le 1 2 }}{{ gt 1 2 }}{{ ge 1 2 }}`, ""},
		{"call builtin parses", `{{ call .Data.f }}`, ""},
		{"parenthesized data chain", `{{ (.Data).issue.title }}`, ""},
		{"pipeline", `{{ .Data.action | printf "%s" }}`, ""},

		{"unknown field", `{{ .Payload }}`, `unknown activation envelope field ".Payload"`},
		{"unknown field lowercase", `{{ .data.x }}`, `unknown activation envelope field ".data"`},
		{"unknown field ID", `{{ .ID }}`, `unknown activation envelope field ".ID"`},
		{"unknown field Depth", `{{ .Depth }}`, `unknown activation envelope field ".Depth"`},
		{"child of Scope", `{{ .Scope.Name }}`, `activation envelope field "Scope" does not have child field "Name"`},
		{"child of Kind", `{{ .Kind.x }}`, `activation envelope field "Kind" does not have child field "x"`},
		{"child of WorkspaceID", `{{ .WorkspaceID.a.b }}`, `activation envelope field "WorkspaceID" does not have child field "a"`},
		{"child of Source", `{{ .Source.S }}`, `activation envelope field "Source" does not have child field "S"`},
		{"dollar unknown", `{{ $.Payload }}`, `unknown activation envelope field ".Payload"`},
		{"dollar child", `{{ $.Scope.Name }}`, `activation envelope field "Scope" does not have child field "Name"`},
		{"dollar inside range", `{{ range .Data.l }}{{ $.Payload }}{{ end }}`, `unknown activation envelope field ".Payload"`},
		{"dollar inside nested blocks", `{{ range .Data.l }}{{ with . }}{{ range $.Kind.X }}{{ end }}{{ end }}{{ end }}`, `activation envelope field "Kind" does not have child field "X"`},
		{"pipeline of with", `{{ with .Payload }}{{ end }}`, `unknown activation envelope field ".Payload"`},
		{"pipeline of range", `{{ range .Items }}{{ end }}`, `unknown activation envelope field ".Items"`},
		{"pipeline of if", `{{ if .Payload }}x{{ end }}`, `unknown activation envelope field ".Payload"`},
		{"if body", `{{ if .Data }}{{ .Payload }}{{ end }}`, `unknown activation envelope field ".Payload"`},
		{"if else", `{{ if .Data }}{{ else }}{{ .Payload }}{{ end }}`, `unknown activation envelope field ".Payload"`},
		{"else of range sees the envelope", `{{ range .Data.l }}{{ else }}{{ .Payload }}{{ end }}`, `unknown activation envelope field ".Payload"`},
		{"else of with sees the envelope", `{{ with .Data.x }}{{ else }}{{ .Kind.X }}{{ end }}`, `activation envelope field "Kind" does not have child field "X"`},
		{"else with pipeline sees the envelope", `{{ with .Data.x }}{{ else with .Payload }}{{ end }}`, `unknown activation envelope field ".Payload"`},
		{"function argument", `{{ printf "%s" .Payload }}`, `unknown activation envelope field ".Payload"`},
		{"nested pipeline", `{{ printf "%s" (printf "%s" .Payload) }}`, `unknown activation envelope field ".Payload"`},
		{"pipeline command", `{{ .Kind | printf "%s" | .Payload }}`, `unknown activation envelope field ".Payload"`},
		{"declaration", `{{ $x := .Payload }}`, `unknown activation envelope field ".Payload"`},
		{"template argument", `{{ define "t" }}x{{ end }}{{ template "t" .Payload }}`, `unknown activation envelope field ".Payload"`},
		{"parenthesized field", `{{ (.Payload) }}`, `unknown activation envelope field ".Payload"`},
		{"chain on parenthesized field", `{{ (.Scope).Name }}`, `activation envelope field "Scope" does not have child field "Name"`},
		{"chain on parenthesized dot", `{{ (.).Payload }}`, `unknown activation envelope field ".Payload"`},
		{"chain on parenthesized dollar", `{{ ($).Kind.X }}`, `activation envelope field "Kind" does not have child field "X"`},
		{"chain on nested parentheses", `{{ ((.Kind)).X }}`, `activation envelope field "Kind" does not have child field "X"`},
		{"define of the main template is checked", `{{ define "prompt" }}{{ .Payload }}{{ end }}`, `unknown activation envelope field ".Payload"`},
		{"first error in document order", `{{ .Scope.Name }}{{ .Payload }}`, `activation envelope field "Scope" does not have child field "Name"`},

		{"unknown function", `{{ nosuchfunc }}`, `parse trigger prompt template: template: prompt:1: function "nosuchfunc" not defined`},
		{"internal print function is not callable", `{{ _aghPrint .Kind }}`, `parse trigger prompt template: template: prompt:1: function "_aghPrint" not defined`},
		{"unclosed action", `{{ .Kind `, "parse trigger prompt template: "},
		{"unexpected end", `{{ end }}`, "parse trigger prompt template: "},
		{"unclosed range", `{{ range .Data.l }}`, "parse trigger prompt template: "},
		{"undefined variable", `{{ $x }}`, "parse trigger prompt template: "},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tmpl, err := ParsePrompt(tt.text)
			switch {
			case tt.wantErr == "":
				if err != nil {
					t.Fatalf("unexpected error: %v", err)
				}
				if tmpl.Text() != tt.text {
					t.Errorf("Text() = %q", tmpl.Text())
				}
			case strings.HasSuffix(tt.wantErr, ": "):
				if err == nil || !strings.HasPrefix(err.Error(), tt.wantErr) {
					t.Fatalf("error = %v, want prefix %q", err, tt.wantErr)
				}
			default:
				if err == nil || err.Error() != tt.wantErr {
					t.Fatalf("error = %v, want %q", err, tt.wantErr)
				}
			}
		})
	}
}

func TestRender(t *testing.T) {
	gh := webhookEnvelope(t, githubPayload)
	rich := &Envelope{Kind: "ext.deploy", Scope: "workspace", WorkspaceID: "web", Source: SourceExtension,
		Data: decodeData(t, `{
			"s": "text", "e": 4.2e1, "f0": 42.0, "i": 42, "big": 12345678901234567890, "half": 1.5,
			"t": true, "fl": false, "n": null, "empty": {}, "list": ["a", 1, {"x": null}, [true]],
			"obj": {"b": 2, "a": "x"}, "html": "<a href=\"x\">&</a>", "idx": 1, "multi": "line1\nline2",
			"objs": [{"a": 1}, {"b": 2}]}`)}
	typed := &Envelope{Kind: KindRunFailed, Scope: "global", Source: SourceAutomation,
		Data: map[string]any{
			"attempt": 2, "duration_ms": int64(1500), "will_retry": false, "f": 42.0, "half": 1.5,
			"hugef": 1e21, "status": status("failed"), "strs": []string{"a", "b"}, "m": map[string]string{"k": "v"},
			"at": time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC), "nested": map[string]any{"n": nil, "u": uint(7)},
			"nan": nan(),
		}}

	tests := []struct {
		name string
		e    *Envelope
		text string
		want string
	}{
		{"§8.6 example with the §9.5.2 payload", gh, `Issue #{{ .Data.issue.number }} was {{ .Data.action }} ({{ .Data.github_event }}).`, "Issue #42 was opened (issues)."},
		{"json of an object", gh, `{{ json .Data.issue }}`, `{"number":42,"title":"Crash on start"}`},
		{"json of a string", gh, `{{ json .Data.action }}`, `"opened"`},
		{"json without HTML escaping", rich, `{{ json .Data.html }}`, `"<a href=\"x\">&</a>"`},
		{"json keeps number literals", rich, `{{ json .Data.e }} {{ json .Data.big }}`, `4.2e1 12345678901234567890`},
		{"json of a null and a missing key", rich, `{{ json .Data.n }} {{ json .Data.missing }}`, `null null`},
		{"json of an array", rich, `{{ json .Data.list }}`, `["a",1,{"x":null},[true]]`},
		{"json of Data", gh, `{{ json .Data.issue }}|{{ len (json .Data) | printf "%d" }}`, `{"number":42,"title":"Crash on start"}|` + fmt.Sprint(len(compactJSON(t, gh.Data)))},
		{"string fields", rich, `{{ .Kind }}|{{ .Scope }}|{{ .WorkspaceID }}|{{ .Source }}`, "ext.deploy|workspace|web|extension"},
		{"global workspace id is empty", gh, `[{{ .WorkspaceID }}]`, "[]"},

		{"missing key", rich, `a{{ .Data.missing }}b`, "ab"},
		{"missing key at depth", rich, `a{{ .Data.missing.deeper }}b`, "ab"},
		{"missing key deeper still", rich, `a{{ .Data.obj.missing.x.y.z }}b`, "ab"},
		{"index on a missing key", rich, `a{{ index .Data "missing" }}b`, "ab"},
		{"index through a missing key", rich, `a{{ index .Data "missing" "deeper" }}b`, "ab"},
		{"index on a missing value", rich, `a{{ index .Data.missing "x" }}b`, "ab"},
		{"index into an object", rich, `{{ index .Data "obj" "a" }}`, "x"},
		{"index into an array", rich, `{{ index .Data.list 0 }} {{ index .Data.list 3 0 }}`, "a true"},
		{"index with a JSON number", rich, `{{ index .Data.list .Data.idx }}`, "1"},
		{"null renders empty", rich, `a{{ .Data.n }}b`, "ab"},
		{"field through null", rich, `a{{ .Data.n.x.y }}b`, "ab"},
		{"index through null", rich, `a{{ index .Data.n "x" }}b`, "ab"},
		{"missing in a with", rich, `{{ with .Data.missing }}yes{{ else }}no{{ end }}`, "no"},
		{"null in an if", rich, `{{ if .Data.n }}yes{{ else }}no{{ end }}`, "no"},
		{"eq on a missing key", rich, `{{ eq .Data.missing "x" }}`, "false"},

		{"string", rich, `{{ .Data.s }}`, "text"},
		{"multi-line string", rich, `{{ .Data.multi }}`, "line1\nline2"},
		{"HTML is not escaped", rich, `{{ .Data.html }}`, `<a href="x">&</a>`},
		{"number literal text", rich, `{{ .Data.e }} {{ .Data.f0 }} {{ .Data.i }} {{ .Data.half }}`, "4.2e1 42.0 42 1.5"},
		{"big integer", rich, `{{ .Data.big }}`, "12345678901234567890"},
		{"booleans", rich, `{{ .Data.t }} {{ .Data.fl }}`, "true false"},
		{"object in Go format", gh, `{{ .Data.issue }}`, "map[number:42 title:Crash on start]"},
		{"object keys sorted, null as <nil>", rich, `{{ .Data.obj }} {{ index .Data.list 2 }}`, "map[a:x b:2] map[x:<nil>]"},
		{"empty object", rich, `{{ .Data.empty }}`, "map[]"},
		{"array in Go format", rich, `{{ .Data.list }}`, "[a 1 map[x:<nil>] [true]]"},
		{"the whole envelope", rich, `{{ with $x := . }}{{ $x.Kind }}{{ end }}|{{ printf "%.11s" (print .) }}`, "ext.deploy|{ext.deploy"},
		{"dot prints", gh, `{{ . }}`, "{webhook global  webhook map[action:opened delivery_id:72d3162e-cc78-11e3-81ab-4c9367dc0958 endpoint:issues--wbh_01kk6b0000000000000000000a endpoint_slug:issues github_event:issues issue:map[number:42 title:Crash on start] payload:{\"action\":\"opened\",\"issue\":{\"number\":42,\"title\":\"Crash on start\"}} timestamp:2026-01-01T00:00:00Z webhook_id:wbh_01kk6b0000000000000000000a]}"},

		{"range over an array", rich, `{{ range .Data.list }}[{{ . }}]{{ end }}`, "[a][1][map[x:<nil>]][[true]]"},
		{"range over an object", rich, `{{ range $k, $v := .Data.obj }}{{ $k }}={{ $v }};{{ end }}`, "a=x;b=2;"},
		{"range with $ chain", rich, `{{ range .Data.list }}{{ $.Data.s }}{{ end }}`, "texttexttexttext"},
		{"range else", rich, `{{ range .Data.empty }}x{{ else }}none {{ .Kind }}{{ end }}`, "none ext.deploy"},
		{"with rebinding", gh, `{{ with .Data.issue }}{{ .title }} via {{ $.Kind }}{{ end }}`, "Crash on start via webhook"},
		{"with missing inside", gh, `{{ with .Data.issue }}[{{ .missing.deeper }}]{{ end }}`, "[]"},
		{"range missing inside", rich, `{{ range .Data.objs }}[{{ .a }}|{{ .nope.x }}]{{ end }}`, "[1|][|]"},
		{"variables", gh, `{{ $x := .Data.issue }}{{ $x.number }}{{ $y := 1 }}{{ $y = 2 }}{{ $y }}`, "422"},
		{"rebound $", gh, `{{ $ := .Data }}{{ $.action }}`, "opened"},
		{"parenthesized chain", gh, `{{ (.Data.issue).number }}`, "42"},
		{"pipeline", gh, `{{ .Data.issue.title | printf "%q" }}`, `"Crash on start"`},
		{"printf", gh, `{{ printf "%s-%v" .Data.action .Data.issue.number }}`, "opened-42"},
		{"len", gh, `{{ len .Data.issue }}`, "2"},
		{"eq on a JSON number and a string", gh, `{{ eq .Data.issue.number "42" }}`, "true"},
		{"if eq", gh, `{{ if eq .Data.action "opened" }}new{{ else }}old{{ end }}`, "new"},
		{"define and template", gh, `{{ define "t" }}[{{ .action }}|{{ .missing.x }}]{{ end }}{{ template "t" .Data }}`, "[opened|]"},
		{"block", gh, `{{ block "b" .Data.issue }}{{ .number }}{{ end }}`, "42"},
		{"range over an integer", gh, `{{ range 3 }}{{ . }}{{ end }}`, "012"},
		{"output is trimmed", gh, "  \n\t{{ .Data.action }} \n ", "opened"},
		{"inner white space is kept", gh, "a  \n b", "a  \n b"},

		{"Go int", typed, `{{ .Data.attempt }} {{ .Data.duration_ms }} {{ .Data.nested.u }}`, "2 1500 7"},
		{"Go float64", typed, `{{ .Data.f }} {{ .Data.half }} {{ .Data.hugef }}`, "42 1.5 1000000000000000000000"},
		{"Go bool", typed, `{{ .Data.will_retry }}`, "false"},
		{"Go named string", typed, `{{ .Data.status }}`, "failed"},
		{"Go []string", typed, `{{ .Data.strs }} {{ index .Data.strs 1 }}`, "[a b] b"},
		{"Go map[string]string", typed, `{{ .Data.m.k }}`, "v"},
		{"Go time via JSON", typed, `{{ .Data.at }}`, "2026-01-01T00:00:00Z"},
		{"Go nil", typed, `a{{ .Data.nested.n }}b{{ .Data.nested.n.x }}`, "ab"},
		{"Go NaN", typed, `{{ .Data.nan }}`, "NaN"},
		{"nil data", &Envelope{Kind: "ext.x"}, `{{ .Kind }}{{ .Data.x.y }}{{ .Data }}`, "ext.xmap[]"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tmpl, err := ParsePrompt(tt.text)
			if err != nil {
				t.Fatalf("ParsePrompt: %v", err)
			}
			got, err := tmpl.Render(tt.e)
			if err != nil {
				t.Fatalf("Render: %v", err)
			}
			if got != tt.want {
				t.Errorf("got  %q\nwant %q", got, tt.want)
			}
		})
	}
}

func compactJSON(t *testing.T, v any) []byte {
	b, err := marshalCompact(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestRenderErrors(t *testing.T) {
	e := &Envelope{Kind: "ext.x", Scope: "global", Source: SourceExtension,
		Data: decodeData(t, `{"action": "opened", "list": [1, 2], "n": 42, "t": true, "big": "`+strings.Repeat("x", 4096)+`"}`)}
	tests := []struct {
		name, text, wantContains string
	}{
		{"index out of range", `{{ index .Data.list 5 }}`, "index out of range: 5"},
		{"negative index", `{{ index .Data.list -1 }}`, "index out of range: -1"},
		{"field access on a string", `{{ .Data.action.x }}`, "can't evaluate field x"},
		{"field access on a number", `{{ .Data.n.x }}`, "can't evaluate field x"},
		{"field access on a boolean", `{{ .Data.t.x }}`, "can't evaluate field x"},
		{"field access on an array", `{{ .Data.list.x }}`, "can't evaluate field x"},
		{"index of a map with a number", `{{ index .Data 1 }}`, "cannot index map with type int"},
		{"index of an array with a string", `{{ index .Data.list "a" }}`, "cannot index slice/array with type string"},
		{"index of a boolean", `{{ index .Data.t 0 }}`, "can't index item of type bool"},
		{"wrong number of arguments", `{{ json }}`, "wrong number of args for json"},
		{"failing function", `{{ call .Data.action }}`, "error calling call"},
		{"len of a missing value", `{{ len .Data.missing }}`, "error calling len"},
		{"slice out of range", `{{ slice .Data.action 3 99 }}`, "error calling slice"},
		{"field with arguments", `{{ .Kind 1 }}`, "Kind"},
		{"output too large", `{{ range 300 }}{{ $.Data.big }}{{ end }}`, "rendered prompt exceeds 1048576 bytes"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tmpl, err := ParsePrompt(tt.text)
			if err != nil {
				t.Fatalf("ParsePrompt: %v", err)
			}
			got, err := tmpl.Render(e)
			if err == nil {
				t.Fatalf("no error, output %q", got)
			}
			if !strings.HasPrefix(err.Error(), "render prompt: ") || !strings.Contains(err.Error(), tt.wantContains) {
				t.Errorf("error = %q, want prefix %q containing %q", err, "render prompt: ", tt.wantContains)
			}
			if got != "" {
				t.Errorf("output %q with an error", got)
			}
		})
	}
}

func TestRenderEmpty(t *testing.T) {
	e := webhookEnvelope(t, aghPayload)
	for _, text := range []string{``, `   `, "\n\t", `{{ .Data.missing }}`, `{{ if false }}x{{ end }}`, ` {{ .Data.missing.deeper }} `, `{{/* c */}}`} {
		tmpl, err := ParsePrompt(text)
		if err != nil {
			t.Fatalf("ParsePrompt(%q): %v", text, err)
		}
		if got, err := tmpl.Render(e); !errors.Is(err, ErrEmptyRender) || err.Error() != "rendered prompt is empty" {
			t.Errorf("Render(%q) = %q, %v; want error %q", text, got, err, "rendered prompt is empty")
		}
	}
}

func TestRenderNilEnvelope(t *testing.T) {
	tmpl, err := ParsePrompt("x")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tmpl.Render(nil); err == nil || !strings.HasPrefix(err.Error(), "render prompt: ") {
		t.Errorf("err = %v", err)
	}
}

// TestRenderDoesNotModifyEnvelope: rendering twice gives the same result and leaves the data as it was.
func TestRenderDoesNotModifyEnvelope(t *testing.T) {
	e := webhookEnvelope(t, githubPayload)
	before := maps.Clone(e.Data)
	beforeJSON := compactJSON(t, e.Data)
	tmpl, err := ParsePrompt(`{{ json .Data }}{{ range $k, $v := .Data }}{{ $k }}{{ end }}`)
	if err != nil {
		t.Fatal(err)
	}
	first, err := tmpl.Render(e)
	if err != nil {
		t.Fatal(err)
	}
	second, err := tmpl.Render(e)
	if err != nil || second != first {
		t.Fatalf("second render %q, %v differs from %q", second, err, first)
	}
	if string(compactJSON(t, e.Data)) != string(beforeJSON) || len(before) != len(e.Data) {
		t.Error("render modified the envelope data")
	}
}

// TestRenderStoredEnvelope: a stored (marshaled and unmarshaled) envelope renders like the original,
// as retries render the stored envelope (§7.6).
func TestRenderStoredEnvelope(t *testing.T) {
	e := webhookEnvelope(t, `{"n": 4.2e1, "big": 12345678901234567890, "s": "x"}`)
	b, err := json.Marshal(e)
	if err != nil {
		t.Fatal(err)
	}
	var stored Envelope
	if err := json.Unmarshal(b, &stored); err != nil {
		t.Fatal(err)
	}
	tmpl, err := ParsePrompt(`{{ .Data.n }} {{ .Data.big }} {{ .Data.s }}`)
	if err != nil {
		t.Fatal(err)
	}
	a, errA := tmpl.Render(e)
	c, errC := tmpl.Render(&stored)
	if errA != nil || errC != nil || a != c || a != "4.2e1 12345678901234567890 x" {
		t.Errorf("original %q (%v), stored %q (%v)", a, errA, c, errC)
	}
}

func TestRenderConcurrent(t *testing.T) {
	tmpl, err := ParsePrompt(`Issue #{{ .Data.issue.number }} was {{ .Data.action }} ({{ .Data.github_event }}).`)
	if err != nil {
		t.Fatal(err)
	}
	e := webhookEnvelope(t, githubPayload)
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for range 8 {
		wg.Go(func() {
			for range 50 {
				got, err := tmpl.Render(e)
				if err != nil || got != "Issue #42 was opened (issues)." {
					errs <- fmt.Errorf("got %q, %v", got, err)
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}
