package events

import (
	"encoding/json"
	"fmt"
	"reflect"
	"slices"
	"strconv"
	"strings"
)

// Filter limits of SPEC §3.5 and §18 item 12.
const (
	MaxFilterEntries    = 32
	MaxFilterKeyBytes   = 256
	MaxFilterValueBytes = 1024
)

// Filter is a normalized trigger filter: "<path>": "<value>" entries combined with AND (SPEC §8.5).
// Paths are "kind", "scope", "workspace_id", "source" or "data.<seg>[.<seg>…]".
type Filter map[string]string

// NormalizeFilter trims the keys and values of f and validates them against SPEC §3.5 and §18
// item 12. path is the field path used in messages (for example "trigger.filter"). On success the
// result is a new, non-nil Filter (empty for a nil or empty f).
//
// Checks run in a fixed order so that the reported error is deterministic:
//
//  1. the number of entries (more than [MaxFilterEntries] → "<path> must have at most 32 entries");
//  2. then each entry in byte-wise order of its key as given (before trimming), and for each entry:
//     empty trimmed key ("<path> contains an empty field path"), key longer than
//     [MaxFilterKeyBytes] ("<path> key is too long (max 256 bytes)"), unsupported path
//     (`<path>["<k>"]: unsupported filter path "<k>"`), empty trimmed value
//     (`<path>["<k>"] must not be empty`), value longer than [MaxFilterValueBytes]
//     (`<path>["<k>"] is too long (max 1024 bytes)`), and finally a key equal, after trimming,
//     to the key of an earlier entry (`<path> contains duplicate field path "<k>"`; the
//     specification does not cover this case).
//
// Lengths are measured in bytes after trimming. "<k>" is the trimmed key. The interior of a key is
// kept as given: "data. issue .number" is stored as is and its segments are trimmed when matching.
func NormalizeFilter(path string, f map[string]string) (Filter, error) {
	if len(f) > MaxFilterEntries {
		return nil, fmt.Errorf("%s must have at most %d entries", path, MaxFilterEntries)
	}
	keys := make([]string, 0, len(f))
	for k := range f {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	out := make(Filter, len(f))
	for _, raw := range keys {
		k := strings.TrimSpace(raw)
		v := strings.TrimSpace(f[raw])
		switch {
		case k == "":
			return nil, fmt.Errorf("%s contains an empty field path", path)
		case len(k) > MaxFilterKeyBytes:
			return nil, fmt.Errorf("%s key is too long (max %d bytes)", path, MaxFilterKeyBytes)
		case !validFilterPath(k):
			return nil, fmt.Errorf("%s[%q]: unsupported filter path %q", path, k, k)
		case v == "":
			return nil, fmt.Errorf("%s[%q] must not be empty", path, k)
		case len(v) > MaxFilterValueBytes:
			return nil, fmt.Errorf("%s[%q] is too long (max %d bytes)", path, k, MaxFilterValueBytes)
		}
		if _, dup := out[k]; dup {
			return nil, fmt.Errorf("%s contains duplicate field path %q", path, k)
		}
		out[k] = v
	}
	return out, nil
}

// validFilterPath reports whether k (already trimmed) is an allowed filter path (SPEC §3.5).
func validFilterPath(k string) bool {
	switch k {
	case "kind", "scope", "workspace_id", "source":
		return true
	}
	rest, ok := strings.CutPrefix(k, "data.")
	if !ok {
		return false
	}
	for seg := range strings.SplitSeq(rest, ".") {
		if strings.TrimSpace(seg) == "" {
			return false
		}
	}
	return true
}

// Match reports whether every entry of f matches e (SPEC §8.5); an empty filter matches every
// envelope. Each entry compares a string derived from the envelope with the entry's value,
// exactly and case-sensitively:
//
//   - "kind", "scope", "workspace_id", "source" compare the envelope fields;
//   - "data.a.b.c" walks nested objects of e.Data, each segment trimmed; a missing key, a null,
//     an array, an object, or any non-scalar Go value at the end of the path (or a non-object
//     on the way) never matches;
//   - leaves become strings with [LeafString].
//
// Keys are trimmed before use, and a key that is not a valid path never matches, so a filter
// read back from storage need not be normalized again. A nil envelope matches nothing.
func (f Filter) Match(e *Envelope) bool {
	return f.MatchData(e, nil)
}

// DataLookup returns the value at path (segments trimmed, at least one) in an envelope's data,
// as walking its nested objects would find it. Only scalar leaves matter to filters: a lookup
// may report anything else as not found.
type DataLookup func(path []string) (any, bool)

// MatchData is Match with the "data." entries resolved by data instead of walking e.Data, when
// data is not nil: the webhook path evaluates filters on the raw body (webhook.Lookup) without
// building the normalized data.
func (f Filter) MatchData(e *Envelope, data DataLookup) bool {
	if e == nil {
		return false
	}
	for k, want := range f {
		got, ok := lookupFilterPath(strings.TrimSpace(k), e, data, len(want))
		if !ok || got != want {
			return false
		}
	}
	return true
}

// lookupFilterPath returns the string an entry with key k compares against. Results longer than
// limit bytes may be reported as not found (they cannot be equal to the wanted value).
func lookupFilterPath(k string, e *Envelope, data DataLookup, limit int) (string, bool) {
	switch k {
	case "kind":
		return e.Kind, true
	case "scope":
		return e.Scope, true
	case "workspace_id":
		return e.WorkspaceID, true
	case "source":
		return e.Source, true
	}
	rest, ok := strings.CutPrefix(k, "data.")
	if !ok {
		return "", false
	}
	var path []string
	for seg := range strings.SplitSeq(rest, ".") {
		seg = strings.TrimSpace(seg)
		if seg == "" {
			return "", false
		}
		path = append(path, seg)
	}
	if data == nil {
		data = e.lookupData
	}
	cur, ok := data(path)
	if !ok {
		return "", false
	}
	return leafString(cur, limit)
}

// lookupData walks e.Data along path.
func (e *Envelope) lookupData(path []string) (any, bool) {
	var cur any = e.Data
	for _, seg := range path {
		var ok bool
		if cur, ok = objectField(cur, seg); !ok {
			return nil, false
		}
	}
	return cur, true
}

// objectField looks key up in v when v is a JSON object (a map with string keys).
func objectField(v any, key string) (any, bool) {
	switch m := v.(type) {
	case map[string]any:
		x, ok := m[key]
		return x, ok
	case map[string]string:
		x, ok := m[key]
		return x, ok
	case nil:
		return nil, false
	}
	rv := reflect.ValueOf(v)
	if rv.Kind() != reflect.Map || rv.Type().Key().Kind() != reflect.String {
		return nil, false
	}
	x := rv.MapIndex(reflect.ValueOf(key).Convert(rv.Type().Key()))
	if !x.IsValid() {
		return nil, false
	}
	return x.Interface(), true
}

// LeafString turns a scalar JSON value into the string filters compare (SPEC §8.5): strings as
// they are; booleans as "true" / "false"; integers in decimal without exponent or fraction (a
// json.Number "42.0" or "4.2e1" and a float64 42 give "42", a json.Number
// "12345678901234567890" keeps all its digits); other numbers in the shortest decimal form
// without exponent ("1.5", "0.001"). ok is false for nil, objects, arrays, NaN, infinities,
// malformed json.Number text and any other Go type.
func LeafString(v any) (s string, ok bool) {
	return leafString(v, maxLeafBytes)
}

// maxLeafBytes bounds the expansion of numbers such as 1e1000000 by LeafString.
const maxLeafBytes = 1 << 16

func leafString(v any, limit int) (string, bool) {
	switch x := v.(type) {
	case string:
		return x, true
	case bool:
		if x {
			return "true", true
		}
		return "false", true
	case json.Number:
		return formatNumberLiteral(string(x), limit)
	}
	s, ok := numberText(v)
	if !ok {
		s, ok = reflectScalarString(v)
	}
	if !ok || len(s) > limit {
		return "", false
	}
	return s, true
}

// reflectScalarString handles named scalar types (type Status string, type Count int, …).
func reflectScalarString(v any) (string, bool) {
	rv := reflect.ValueOf(v)
	switch rv.Kind() {
	case reflect.String:
		return rv.String(), true
	case reflect.Bool:
		return strconv.FormatBool(rv.Bool()), true
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return strconv.FormatInt(rv.Int(), 10), true
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr:
		return strconv.FormatUint(rv.Uint(), 10), true
	case reflect.Float32:
		return formatFloat(rv.Float(), 32)
	case reflect.Float64:
		return formatFloat(rv.Float(), 64)
	}
	return "", false
}
