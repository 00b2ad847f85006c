package events

import (
	"encoding/json"
	"regexp"
	"strings"
	"testing"
)

// FuzzFilterMatch normalizes and matches arbitrary filters against arbitrary JSON data. Besides
// not panicking, a filter made of a scalar of the data itself must match it.
func FuzzFilterMatch(f *testing.F) {
	f.Add("data.action", "opened", "data.issue.number", "42", aghPayload)
	f.Add("data.n", "42", "kind", "webhook", `{"n": 4.2e1}`)
	f.Add("data.n", "0.001", "data. a . b ", "x", `{"n": 1e-3, "a": {"b": "x"}}`)
	f.Add("data.big", "12345678901234567890", "source", "webhook", `{"big": 12345678901234567890}`)
	f.Add("data.x", "null", "data.y", "[1]", `{"x": null, "y": [1], "z": {}}`)
	f.Add("data.h", "1", "data.", "", `{"h": 1e999999999}`)
	f.Add(" ", "", "Data.x", "y", `[]`)
	f.Add("data.a.b.c", "true", "workspace_id", "", `{"a": {"b": {"c": true}}}`)
	f.Add("data.x", "-0", "scope", "global", `{"x": -0.0}`)
	f.Fuzz(func(t *testing.T, k1, v1, k2, v2, data string) {
		e := &Envelope{Kind: KindWebhook, Scope: "global", Source: SourceWebhook}
		if m, err := decodeObject(data); err == nil {
			e.Data = m
		}
		raw := Filter{k1: v1, k2: v2}
		_ = raw.Match(e)
		norm, err := NormalizeFilter("trigger.filter", raw)
		if err == nil {
			_ = norm.Match(e)
		}

		var plain map[string]any // float64 numbers
		if json.Unmarshal([]byte(data), &plain) == nil {
			_ = raw.Match(&Envelope{Data: plain})
		}

		for key, v := range e.Data {
			s, ok := LeafString(v)
			if !ok || strings.Contains(key, ".") || strings.TrimSpace(key) != key || key == "" ||
				strings.TrimSpace(s) != s || s == "" || len(s) > MaxFilterValueBytes || len(key) > 200 {
				continue
			}
			self, err := NormalizeFilter("trigger.filter", map[string]string{"data." + key: s})
			if err != nil {
				t.Fatalf("NormalizeFilter(data.%s=%q): %v", key, s, err)
			}
			if !self.Match(e) {
				t.Fatalf("filter %v built from the data does not match it", self)
			}
		}
	})
}

// FuzzNumberLiteral checks the exact decimal conversion of JSON number literals.
func FuzzNumberLiteral(f *testing.F) {
	for _, s := range []string{"42", "42.0", "4.2e1", "1.5", "0.001", "1e-3", "-0", "12345678901234567890",
		"1e400", "1e99999999999", "0e-99999", "007", "1.", ".5", "abc", "-", "1e+", "9.999e-10"} {
		f.Add(s)
	}
	bigExp := regexp.MustCompile(`[eE][+-]?[0-9]{5,}`)
	f.Fuzz(func(t *testing.T, lit string) {
		got, ok := formatNumberLiteral(lit, 4096)
		if !ok {
			return
		}
		if len(got) > 4096 {
			t.Fatalf("%q → %d bytes, over the limit", lit, len(got))
		}
		if bigExp.MatchString(lit) {
			return // big.Rat would expand the exponent
		}
		checkCanonical(t, lit, got)
	})
}

// rangeHeavy matches prompts that could loop for long when fuzzed (large integer literals or
// nested ranges); they are skipped.
var rangeHeavy = regexp.MustCompile(`[0-9]{4,}|range[\s\S]*range`)

// FuzzParsePrompt parses arbitrary prompts and renders the valid ones with arbitrary data.
func FuzzParsePrompt(f *testing.F) {
	for _, s := range []string{
		`Issue #{{ .Data.issue.number }} was {{ .Data.action }} ({{ .Data.github_event }}).`,
		`{{ json .Data.issue }}`, `{{ .Data.missing.deeper }}`, `{{ index .Data "a" "b" }}`,
		`{{ range .Data.list }}{{ . }}{{ $.Data.x }}{{ end }}`, `{{ with .Data.issue }}{{ .title }}{{ end }}`,
		`{{ .Payload }}`, `{{ .Scope.Name }}`, `{{ nosuchfunc }}`, `{{ index .Data.list 5 }}`, `{{ .Data.action.x }}`,
		`{{ (.Kind).X }}`, `{{ $ := .Data }}{{ $.x }}`, `{{ define "t" }}{{ .x }}{{ end }}{{ template "t" .Data }}`,
		`{{ printf "%v" .Data }}`, `{{ len .Data.list }}`, `{{ slice .Data.s 1 }}`, `{{ call .Data.s }}`,
		`{{ if eq .Data.n "1" }}y{{ else }}n{{ end }}`, `{{ range $k, $v := .Data }}{{ $k }}={{ json $v }}{{ end }}`,
	} {
		f.Add(s, githubPayload)
		f.Add(s, `{"list": [1, null, {"a": "b"}], "s": "str", "n": 1, "x": null, "action": 4.2e1}`)
	}
	f.Fuzz(func(t *testing.T, text, data string) {
		if len(text) > 4096 || rangeHeavy.MatchString(text) || strings.Contains(text, "template") {
			return
		}
		tmpl, err := ParsePrompt(text)
		if err != nil {
			return
		}
		e := &Envelope{Kind: "ext.fuzz", Scope: "global", Source: SourceExtension}
		if m, err := decodeObject(data); err == nil {
			e.Data = m
		}
		out, err := tmpl.Render(e)
		if err != nil {
			return
		}
		if out == "" || strings.TrimSpace(out) != out || len(out) > MaxRenderedBytes {
			t.Fatalf("Render(%q) = %q", text, out)
		}
	})
}
