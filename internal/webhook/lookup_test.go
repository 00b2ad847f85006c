package webhook

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"reflect"
	"strings"
	"testing"
	"time"
)

// walkNormalized is the reference Lookup must agree with: the value at path in
// Normalize(body, meta), kept only when it is a scalar leaf a filter compares.
func walkNormalized(body []byte, meta Meta, path []string) (any, bool) {
	var cur any = Normalize(body, meta)
	for _, seg := range path {
		m, ok := cur.(map[string]any)
		if !ok {
			return nil, false
		}
		if cur, ok = m[seg]; !ok {
			return nil, false
		}
	}
	switch cur.(type) {
	case string, bool, json.Number:
		return cur, true
	}
	return nil, false
}

func checkLookup(t *testing.T, body []byte, meta Meta, path []string) {
	t.Helper()
	want, wantOK := walkNormalized(body, meta, path)
	got, ok := Lookup(body, meta, path)
	if ok != wantOK || !reflect.DeepEqual(got, want) {
		t.Fatalf("Lookup(%q, %q) = %#v, %v; Normalize gives %#v, %v", body, path, got, ok, want, wantOK)
	}
}

var lookupMeta = Meta{Slug: "issues", WebhookID: "wbh_1", DeliveryID: "dlv-1", Timestamp: time.Unix(1767225600, 250e6)}

func TestLookupMatchesNormalize(t *testing.T) {
	bodies := []string{
		exampleBody, "", " ", "{}", " { } ", "[]", "null", "1", `"s"`, `{"a":1}{`, `{"a":1} `, "\t{\"a\":1}\n",
		`{"payload":1}`, `{"payload":null}`, `{"payload":{"x":"y"}}`, `{"a":{"b":{"c":"deep"}}}`,
		`{"a":{"b":1},"a":"later"}`, `{"a":"first","a":{"b":true}}`, `{"a":{"b":1,"b":2}}`,
		`{"\u0061ction":"opened"}`, `{"action":"op\u0065ned"}`, "{\"a\":\"\xff\"}", "{\"\xff\":1}",
		`{"n":1.50,"e":4.2e1,"neg":-0,"big":12345678901234567890}`, `{"t":true,"f":false,"z":null}`,
		`{"arr":[1,{"a":2}],"o":{}}`, `{"endpoint":"body","delivery_id":{"x":1},"github_event":"body"}`,
		`{"a":"with \"quotes\" and \\ and }]"}`, `{"a" : { "b" : "spaced" } , "c":[ "x" , "}" ]}`,
		`{"":"empty key"}`, `{"a.b":"dotted"}`, `{"a":1,}`, "{\"a\":\"tab\there\"}",
	}
	paths := []string{"action", "a", "a.b", "a.b.c", "payload", "payload.x", "n", "e", "neg", "big", "t", "f", "z",
		"arr", "arr.0", "o", "endpoint", "endpoint_slug", "webhook_id", "timestamp", "delivery_id", "delivery_id.x",
		"github_event", "\xff", "\ufffd", "", "c", "a.b", "issue.number", "sender.login", "repository.full_name"}
	for _, gh := range []string{"", "issues"} {
		meta := lookupMeta
		meta.GitHubEvent = gh
		for _, b := range bodies {
			shared := NewRawData([]byte(b), meta) // validates once, answers every path
			for _, p := range paths {
				path := strings.Split(p, ".")
				checkLookup(t, []byte(b), meta, path)
				want, wantOK := walkNormalized([]byte(b), meta, path)
				if got, ok := shared.Lookup(path); ok != wantOK || !reflect.DeepEqual(got, want) {
					t.Fatalf("shared RawData of %q at %q = %#v, %v; want %#v, %v", b, path, got, ok, want, wantOK)
				}
			}
		}
	}
}

// TestLookupRandomDocuments compares Lookup with Normalize on generated documents, looking up
// every path that exists in them and some that do not.
func TestLookupRandomDocuments(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	keys := []string{"a", "b", "payload", "endpoint", "x\\u0079", "\u00e9", "k"}
	var gen func(depth int) string
	gen = func(depth int) string {
		switch n := r.IntN(9); {
		case n == 0 && depth < 4:
			var parts []string
			for range r.IntN(4) {
				parts = append(parts, fmt.Sprintf(`"%s": %s`, keys[r.IntN(len(keys))], gen(depth+1)))
			}
			return "{" + strings.Join(parts, ",") + "}"
		case n == 1 && depth < 4:
			return "[" + gen(depth+1) + "," + gen(depth+1) + "]"
		case n == 2:
			return `"v\"}` + fmt.Sprint(r.IntN(10)) + `"`
		case n == 3:
			return fmt.Sprintf("%d.%de%d", r.IntN(100), r.IntN(10), r.IntN(5))
		case n == 4:
			return "null"
		case n == 5:
			return "true"
		default:
			return fmt.Sprintf(`{"a":%d,"b":{"a":"s%d"}}`, r.IntN(5), r.IntN(5))
		}
	}
	for range 3000 {
		body := []byte(gen(0))
		for range 6 {
			var path []string
			for range 1 + r.IntN(3) {
				path = append(path, []string{"a", "b", "payload", "endpoint", "xy", "\u00e9", "k", "zz"}[r.IntN(8)])
			}
			checkLookup(t, body, lookupMeta, path)
		}
	}
}

func FuzzLookup(f *testing.F) {
	for _, s := range []string{exampleBody, "", "{}", `{"a":{"b":1},"a":"x"}`, "{\"a\":\"\xff\"}", `{"payload":1}`, `[1]`} {
		f.Add([]byte(s), "a.b", "")
	}
	f.Add([]byte(`{"github_event":1}`), "github_event", "issues")
	f.Fuzz(func(t *testing.T, body []byte, path, ghEvent string) {
		meta := lookupMeta
		meta.GitHubEvent = ghEvent
		checkLookup(t, body, meta, strings.Split(path, "."))
	})
}

func TestValidJSONMatchesEncodingJSON(t *testing.T) {
	docs := []string{"", " ", "{}", "[]", "[1,]", "{,}", `{"a":}`, `{"a" 1}`, `{"a":1,}`, `{1:2}`, "01", "-", "-0", "1.", "1.5",
		"1e", "1e+", "1E-7", "-01", ".5", "+1", "tru", "true", "nul", "null ", " false", `"\u12G4"`, `"\u12a4"`, `"\uD800"`,
		`"\x"`, "\"\t\"", "\"\x7f\"", "\"\xff\"", `"\/"`, `"abc`, `{"a":[1,{"b":null}],"c":"}"}`, `[1 2]`, `{"a":1}}`,
		"\xef\xbb\xbf{}", "{}\x00", `"\`, `[`, `{"a"`, `1 `, "\n[\r\n]\t"}
	for _, n := range []int{9999, 10000, 10001} {
		docs = append(docs, strings.Repeat("[", n)+strings.Repeat("]", n), strings.Repeat(`{"a":`, n)+"1"+strings.Repeat("}", n))
	}
	for _, d := range docs {
		if got, want := validJSON([]byte(d)), json.Valid([]byte(d)); got != want {
			t.Errorf("validJSON(%.40q) = %v, json.Valid says %v", d, got, want)
		}
	}
}

func FuzzValidJSON(f *testing.F) {
	for _, s := range []string{exampleBody, "", "[1,{\"a\":\"\\u00e9\"}]", "-0.5e+3", "{\"a\":1,}", "\"\xff\""} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		if got, want := validJSON(b), json.Valid(b); got != want {
			t.Fatalf("validJSON(%q) = %v, json.Valid says %v", b, got, want)
		}
	})
}

// benchBody is a 1 KiB delivery like the ones of bench/cmd/webhook.
var benchBody = []byte(`{"action":"opened","issue":{"number":42,"title":"Crash on start","labels":["bug","bench"]},"pad":"` +
	strings.Repeat("abcdefghijklmnopqrstuvwxyz", 35) + `"}`)

// BenchmarkLookup against BenchmarkNormalizeWalk: what a filter on one data path costs a delivery.
func BenchmarkLookup(b *testing.B) {
	path := []string{"action"}
	for b.Loop() {
		if v, ok := Lookup(benchBody, lookupMeta, path); !ok || v != "opened" {
			b.Fatal(v, ok)
		}
	}
}

func BenchmarkNormalizeWalk(b *testing.B) {
	path := []string{"action"}
	for b.Loop() {
		if v, ok := walkNormalized(benchBody, lookupMeta, path); !ok || v != "opened" {
			b.Fatal(v, ok)
		}
	}
}

func BenchmarkValidJSON(b *testing.B) {
	for b.Loop() {
		validJSON(benchBody)
	}
}

func BenchmarkEncodingJSONValid(b *testing.B) {
	for b.Loop() {
		json.Valid(benchBody)
	}
}
