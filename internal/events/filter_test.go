package events

import (
	"encoding/json"
	"fmt"
	"maps"
	"math"
	"strings"
	"testing"
)

func TestNormalizeFilter(t *testing.T) {
	many := map[string]string{}
	for i := range 33 {
		many[fmt.Sprintf("data.k%02d", i)] = "v"
	}
	exactly32 := maps.Clone(many)
	delete(exactly32, "data.k32")
	long256 := "data." + strings.Repeat("k", 251)
	tests := []struct {
		name    string
		in      map[string]string
		want    Filter
		wantErr string
	}{
		{name: "nil", in: nil, want: Filter{}},
		{name: "empty", in: map[string]string{}, want: Filter{}},
		{
			name: "trimmed",
			in:   map[string]string{" data.action ": " opened\t", "kind": "webhook", "\u00a0source\u00a0": " webhook"},
			want: Filter{"data.action": "opened", "kind": "webhook", "source": "webhook"},
		},
		{
			name: "all envelope fields and data paths",
			in: map[string]string{"kind": "a", "scope": "b", "workspace_id": "c", "source": "d",
				"data.issue.state": "e", "data. issue . number ": "42", "data.a-b_c.0": "f"},
			want: Filter{"kind": "a", "scope": "b", "workspace_id": "c", "source": "d",
				"data.issue.state": "e", "data. issue . number": "42", "data.a-b_c.0": "f"},
		},
		{name: "exactly 32 entries", in: exactly32, want: Filter(exactly32)},
		{name: "33 entries", in: many, wantErr: "trigger.filter must have at most 32 entries"},
		{name: "33 entries with other errors", in: merge(many, map[string]string{"": ""}), wantErr: "trigger.filter must have at most 32 entries"},
		{name: "empty key", in: map[string]string{"": "x"}, wantErr: "trigger.filter contains an empty field path"},
		{name: "blank key", in: map[string]string{" \t ": "x"}, wantErr: "trigger.filter contains an empty field path"},
		{name: "empty value", in: map[string]string{"kind": ""}, wantErr: `trigger.filter["kind"] must not be empty`},
		{name: "blank value, trimmed key in message", in: map[string]string{" data.x ": "  "}, wantErr: `trigger.filter["data.x"] must not be empty`},
		{name: "unsupported", in: map[string]string{"payload.x": "1"}, wantErr: `trigger.filter["payload.x"]: unsupported filter path "payload.x"`},
		{name: "unsupported before empty value", in: map[string]string{"Kind": ""}, wantErr: `trigger.filter["Kind"]: unsupported filter path "Kind"`},
		{name: "data alone", in: map[string]string{"data": "1"}, wantErr: `trigger.filter["data"]: unsupported filter path "data"`},
		{name: "data dot", in: map[string]string{"data.": "1"}, wantErr: `trigger.filter["data."]: unsupported filter path "data."`},
		{name: "empty segment", in: map[string]string{"data.a..b": "1"}, wantErr: `trigger.filter["data.a..b"]: unsupported filter path "data.a..b"`},
		{name: "blank segment", in: map[string]string{"data.a. .b": "1"}, wantErr: `trigger.filter["data.a. .b"]: unsupported filter path "data.a. .b"`},
		{name: "trailing dot", in: map[string]string{"data.a.": "1"}, wantErr: `trigger.filter["data.a."]: unsupported filter path "data.a."`},
		{name: "space before dot", in: map[string]string{"data .a": "1"}, wantErr: `trigger.filter["data .a"]: unsupported filter path "data .a"`},
		{name: "Data capitalized", in: map[string]string{"Data.a": "1"}, wantErr: `trigger.filter["Data.a"]: unsupported filter path "Data.a"`},
		{name: "id is not filterable", in: map[string]string{"id": "1"}, wantErr: `trigger.filter["id"]: unsupported filter path "id"`},
		{name: "depth is not filterable", in: map[string]string{"depth": "1"}, wantErr: `trigger.filter["depth"]: unsupported filter path "depth"`},
		{name: "key of 256 bytes", in: map[string]string{long256: "v"}, want: Filter{long256: "v"}},
		{name: "key of 257 bytes", in: map[string]string{long256 + "k": "v"}, wantErr: "trigger.filter key is too long (max 256 bytes)"},
		{name: "key too long after trimming only", in: map[string]string{"  " + long256 + "  ": "v"}, want: Filter{long256: "v"}},
		{name: "long invalid key", in: map[string]string{strings.Repeat("x", 300): "v"}, wantErr: "trigger.filter key is too long (max 256 bytes)"},
		{name: "value of 1024 bytes", in: map[string]string{"kind": strings.Repeat("v", 1024)}, want: Filter{"kind": strings.Repeat("v", 1024)}},
		{name: "value of 1025 bytes", in: map[string]string{"kind": strings.Repeat("v", 1025)}, wantErr: `trigger.filter["kind"] is too long (max 1024 bytes)`},
		{name: "value length after trimming", in: map[string]string{"kind": " " + strings.Repeat("v", 1024) + " "}, want: Filter{"kind": strings.Repeat("v", 1024)}},
		{name: "value length in bytes", in: map[string]string{"kind": strings.Repeat("é", 513)}, wantErr: `trigger.filter["kind"] is too long (max 1024 bytes)`},
		{name: "duplicate after trimming", in: map[string]string{"kind": "a", " kind": "a"}, wantErr: `trigger.filter contains duplicate field path "kind"`},
		{
			name:    "first error in key order",
			in:      map[string]string{"scope": "", "data.b": "", "data.a": "", "bad": "x"},
			wantErr: `trigger.filter["bad"]: unsupported filter path "bad"`,
		},
		{
			name:    "key order is of the keys as given",
			in:      map[string]string{"zz": "x", " kind": ""},
			wantErr: `trigger.filter["kind"] must not be empty`,
		},
		{name: "key with quote is quoted", in: map[string]string{`da"ta`: "x"}, wantErr: `trigger.filter["da\"ta"]: unsupported filter path "da\"ta"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := NormalizeFilter("trigger.filter", tt.in)
			if tt.wantErr != "" {
				if err == nil || err.Error() != tt.wantErr {
					t.Fatalf("error = %v, want %q", err, tt.wantErr)
				}
				if got != nil {
					t.Errorf("filter = %v with error", got)
				}
				return
			}
			if err != nil {
				t.Fatalf("unexpected error %v", err)
			}
			if got == nil || !maps.Equal(got, tt.want) {
				t.Errorf("got %v, want %v", got, tt.want)
			}
		})
	}
}

func TestNormalizeFilterPathPrefix(t *testing.T) {
	_, err := NormalizeFilter("filter", map[string]string{"x": "1"})
	if err == nil || err.Error() != `filter["x"]: unsupported filter path "x"` {
		t.Errorf("err = %v", err)
	}
}

func TestNormalizeFilterDoesNotModifyInput(t *testing.T) {
	in := map[string]string{" kind ": " webhook "}
	if _, err := NormalizeFilter("trigger.filter", in); err != nil {
		t.Fatal(err)
	}
	if in[" kind "] != " webhook " || len(in) != 1 {
		t.Errorf("input modified: %q", in)
	}
}

func merge(a, b map[string]string) map[string]string {
	out := maps.Clone(a)
	maps.Copy(out, b)
	return out
}

type (
	status string
	count  int
	ratio  float64
	flag   bool
)

func TestFilterMatch(t *testing.T) {
	agh := webhookEnvelope(t, aghPayload)
	numbers := webhookEnvelope(t, `{
		"i": 42, "f0": 42.0, "e": 4.2e1, "E": 4.2E+1, "half": 1.5, "milli": 0.001, "milliE": 1e-3,
		"neg": -7, "negf": -0.50, "zero": 0, "negzero": -0, "negzerof": -0.0e5,
		"big": 12345678901234567890, "bigf": 12345678901234567890.0, "bige": 1.2345678901234567890e19,
		"tiny": 1e-20, "huge": 1e400, "hugeexp": 1e1000000000, "t": true, "fl": false,
		"null": null, "arr": [1, 2], "obj": {"a": 1}, "emptyobj": {}, "emptyarr": [], "emptystr": "",
		"nested": {"a": {"b": {"c": "deep"}}, "list": [{"x": 1}]},
		"sp ace": {"in ner": "x", " pad ": "y"}, "dotted.key": "d", "Case": "upper"}`)
	goTyped := &Envelope{Kind: KindRunCompleted, Scope: "workspace", WorkspaceID: "web", Source: SourceAutomation,
		Data: map[string]any{
			"attempt": 1, "duration_ms": int64(1500), "u8": uint8(7), "u64": uint64(18446744073709551615),
			"f64": 42.0, "f64half": 1.5, "f64milli": 0.001, "f64big": 1e21, "f32": float32(0.1),
			"will_retry": false, "status": status("completed"), "count": count(3), "ratio": ratio(2.5), "flag": flag(true),
			"strmap": map[string]string{"k": "v"}, "intmap": map[string]int{"n": 5}, "typed": map[status]any{"s": "ok"},
			"nilmap": map[string]any(nil), "strs": []string{"a"}, "nan": nan(), "ch": make(chan int),
		}}

	tests := []struct {
		name   string
		e      *Envelope
		filter Filter
		want   bool
	}{
		{"§8.5 example on the §9.3 payload", agh, Filter{"data.action": "opened", "data.issue.number": "42"}, true},
		{"one entry mismatches", agh, Filter{"data.action": "opened", "data.issue.number": "43"}, false},
		{"empty filter", agh, Filter{}, true},
		{"nil filter", agh, nil, true},
		{"case-sensitive", agh, Filter{"data.action": "Opened"}, false},
		{"no prefix match", agh, Filter{"data.action": "open"}, false},
		{"kind", agh, Filter{"kind": "webhook"}, true},
		{"scope", agh, Filter{"scope": "global"}, true},
		{"source", agh, Filter{"source": "webhook"}, true},
		{"workspace_id of a global envelope is empty: never equal to a value", agh, Filter{"workspace_id": "web"}, false},
		{"workspace_id", goTyped, Filter{"workspace_id": "web", "scope": "workspace", "kind": KindRunCompleted, "source": "automation"}, true},
		{"data string from the raw body", agh, Filter{"data.endpoint_slug": "issues"}, true},

		{"integer", numbers, Filter{"data.i": "42"}, true},
		{"integer is not 42.0", numbers, Filter{"data.i": "42.0"}, false},
		{"42.0 gives 42", numbers, Filter{"data.f0": "42"}, true},
		{"4.2e1 gives 42", numbers, Filter{"data.e": "42"}, true},
		{"4.2E+1 gives 42", numbers, Filter{"data.E": "42"}, true},
		{"literal text does not match", numbers, Filter{"data.e": "4.2e1"}, false},
		{"1.5", numbers, Filter{"data.half": "1.5"}, true},
		{"0.001", numbers, Filter{"data.milli": "0.001"}, true},
		{"1e-3 gives 0.001", numbers, Filter{"data.milliE": "0.001"}, true},
		{"negative integer", numbers, Filter{"data.neg": "-7"}, true},
		{"-0.50 gives -0.5", numbers, Filter{"data.negf": "-0.5"}, true},
		{"zero", numbers, Filter{"data.zero": "0"}, true},
		{"-0 gives 0", numbers, Filter{"data.negzero": "0"}, true},
		{"-0.0e5 gives 0", numbers, Filter{"data.negzerof": "0"}, true},
		{"big integer stays exact", numbers, Filter{"data.big": "12345678901234567890"}, true},
		{"big integer is not rounded", numbers, Filter{"data.big": "12345678901234567000"}, false},
		{"big with .0", numbers, Filter{"data.bigf": "12345678901234567890"}, true},
		{"big in exponent form", numbers, Filter{"data.bige": "12345678901234567890"}, true},
		{"tiny without exponent", numbers, Filter{"data.tiny": "0.00000000000000000001"}, true},
		{"huge integer without exponent", numbers, Filter{"data.huge": "1" + strings.Repeat("0", 400)}, true},
		{"enormous exponent never matches a short value", numbers, Filter{"data.hugeexp": "1"}, false},
		{"true", numbers, Filter{"data.t": "true"}, true},
		{"false", numbers, Filter{"data.fl": "false"}, true},
		{"boolean is case-sensitive", numbers, Filter{"data.t": "True"}, false},
		{"null never matches", numbers, Filter{"data.null": "null"}, false},
		{"null never matches empty-ish", numbers, Filter{"data.null": "<nil>"}, false},
		{"array never matches", numbers, Filter{"data.arr": "[1 2]"}, false},
		{"array JSON never matches", numbers, Filter{"data.arr": "[1,2]"}, false},
		{"empty array never matches", numbers, Filter{"data.emptyarr": "[]"}, false},
		{"object never matches", numbers, Filter{"data.obj": `{"a":1}`}, false},
		{"object Go format never matches", numbers, Filter{"data.obj": "map[a:1]"}, false},
		{"empty object never matches", numbers, Filter{"data.emptyobj": "{}"}, false},
		{"empty string leaf vs non-empty value", numbers, Filter{"data.emptystr": "x"}, false},
		{"missing key", numbers, Filter{"data.nope": "x"}, false},
		{"nested", numbers, Filter{"data.nested.a.b.c": "deep"}, true},
		{"nested missing middle", numbers, Filter{"data.nested.x.b.c": "deep"}, false},
		{"nested missing leaf", numbers, Filter{"data.nested.a.b.d": "deep"}, false},
		{"path through a string", numbers, Filter{"data.nested.a.b.c.d": "deep"}, false},
		{"path through null", numbers, Filter{"data.null.x": "x"}, false},
		{"path through an array", numbers, Filter{"data.nested.list.0.x": "1"}, false},
		{"path through a number", numbers, Filter{"data.i.x": "42"}, false},
		{"segments are trimmed", numbers, Filter{"data. nested . a .b. c ": "deep"}, true},
		{"key with inner spaces", numbers, Filter{"data.sp ace.in ner": "x"}, true},
		{"segment trimmed, inner spaces kept", numbers, Filter{"data.sp ace. in ner ": "x"}, true},
		{"JSON keys with outer spaces cannot be addressed", numbers, Filter{"data.sp ace. pad ": "y"}, false},
		{"keys containing dots cannot be addressed", numbers, Filter{"data.dotted.key": "d"}, false},
		{"key case-sensitive", numbers, Filter{"data.case": "upper"}, false},
		{"key case", numbers, Filter{"data.Case": "upper"}, true},
		{"unnormalized key is trimmed", numbers, Filter{" data.Case ": "upper"}, true},
		{"invalid key never matches", numbers, Filter{"Data.Case": "upper"}, false},
		{"invalid data path never matches", numbers, Filter{"data.": ""}, false},
		{"data itself is an object", numbers, Filter{"data": "x"}, false},

		{"Go int", goTyped, Filter{"data.attempt": "1"}, true},
		{"Go int64", goTyped, Filter{"data.duration_ms": "1500"}, true},
		{"Go uint8", goTyped, Filter{"data.u8": "7"}, true},
		{"Go max uint64", goTyped, Filter{"data.u64": "18446744073709551615"}, true},
		{"Go float64 integral", goTyped, Filter{"data.f64": "42"}, true},
		{"Go float64 1.5", goTyped, Filter{"data.f64half": "1.5"}, true},
		{"Go float64 0.001", goTyped, Filter{"data.f64milli": "0.001"}, true},
		{"Go float64 1e21 without exponent", goTyped, Filter{"data.f64big": "1000000000000000000000"}, true},
		{"Go float32 shortest", goTyped, Filter{"data.f32": "0.1"}, true},
		{"Go bool", goTyped, Filter{"data.will_retry": "false"}, true},
		{"named string", goTyped, Filter{"data.status": "completed"}, true},
		{"named int", goTyped, Filter{"data.count": "3"}, true},
		{"named float", goTyped, Filter{"data.ratio": "2.5"}, true},
		{"named bool", goTyped, Filter{"data.flag": "true"}, true},
		{"map[string]string", goTyped, Filter{"data.strmap.k": "v"}, true},
		{"map[string]int", goTyped, Filter{"data.intmap.n": "5"}, true},
		{"map with named string keys", goTyped, Filter{"data.typed.s": "ok"}, true},
		{"nil map", goTyped, Filter{"data.nilmap.x": "x"}, false},
		{"[]string leaf", goTyped, Filter{"data.strs": "[a]"}, false},
		{"NaN never matches", goTyped, Filter{"data.nan": "NaN"}, false},
		{"other Go types never match", goTyped, Filter{"data.ch": "x"}, false},

		{"nil envelope", nil, Filter{}, false},
		{"nil data", &Envelope{Kind: "ext.x"}, Filter{"data.a": "1"}, false},
		{"nil data, envelope field", &Envelope{Kind: "ext.x"}, Filter{"kind": "ext.x"}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.filter.Match(tt.e); got != tt.want {
				t.Errorf("Match(%v) = %v, want %v", tt.filter, got, tt.want)
			}
		})
	}
}

// TestFilterMatchAfterNormalize checks the usual flow: a filter written with spaces, normalized,
// then matched.
func TestFilterMatchAfterNormalize(t *testing.T) {
	f, err := NormalizeFilter("trigger.filter", map[string]string{" data.issue . number ": " 42 ", "data.action": "opened"})
	if err != nil {
		t.Fatal(err)
	}
	if !f.Match(webhookEnvelope(t, aghPayload)) {
		t.Errorf("normalized filter %v does not match", f)
	}
}

func TestLeafString(t *testing.T) {
	tests := []struct {
		in     any
		want   string
		wantOK bool
	}{
		{"x", "x", true},
		{"", "", true},
		{true, "true", true},
		{false, "false", true},
		{json.Number("42"), "42", true},
		{json.Number("42.0"), "42", true},
		{json.Number("4.2e1"), "42", true},
		{json.Number("420e-1"), "42", true},
		{json.Number("1.50"), "1.5", true},
		{json.Number("0.001"), "0.001", true},
		{json.Number("1E-3"), "0.001", true},
		{json.Number("-0"), "0", true},
		{json.Number("007"), "7", true}, // not strict JSON, but unambiguous
		{json.Number("12345678901234567890"), "12345678901234567890", true},
		{json.Number("0.1000000000000000000001"), "0.1000000000000000000001", true},
		{json.Number("1e70000"), "", false}, // longer than the expansion bound
		{json.Number(""), "", false},
		{json.Number("abc"), "", false},
		{json.Number("1."), "", false},
		{json.Number(".5"), "", false},
		{json.Number("1e"), "", false},
		{json.Number("1e+"), "", false},
		{json.Number("+1"), "", false},
		{json.Number("--1"), "", false},
		{json.Number("1x"), "", false},
		{json.Number("0x10"), "", false},
		{42, "42", true},
		{-42, "-42", true},
		{42.0, "42", true},
		{4.2e1, "42", true},
		{1.5, "1.5", true},
		{0.001, "0.001", true},
		{1e-7, "0.0000001", true},
		{math.Copysign(0, -1), "0", true},
		{float32(1.1), "1.1", true},
		{nan(), "", false},
		{nil, "", false},
		{map[string]any{}, "", false},
		{[]any{}, "", false},
		{struct{}{}, "", false},
	}
	for _, tt := range tests {
		got, ok := LeafString(tt.in)
		if got != tt.want || ok != tt.wantOK {
			t.Errorf("LeafString(%#v) = %q, %v; want %q, %v", tt.in, got, ok, tt.want, tt.wantOK)
		}
	}
}
