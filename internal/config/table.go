package config

import (
	"fmt"
	"math"
	"regexp"
	"sort"
	"strings"
	"time"
)

// errorf returns a configuration error; every message starts with "config: ".
func errorf(format string, args ...any) error {
	return fmt.Errorf("config: "+format, args...)
}

func unknownKey(path string) error { return errorf("unknown key %q", path) }

// table is one TOML table read strictly. path is its dotted path ("" for the root table).
type table struct {
	path string
	m    map[string]any
}

func (t table) key(k string) string {
	if t.path == "" {
		return k
	}
	return t.path + "." + k
}

// checkKeys refuses keys not in allowed; the first unknown key in sorted order wins.
func (t table) checkKeys(allowed ...string) error {
	ok := make(map[string]bool, len(allowed))
	for _, k := range allowed {
		ok[k] = true
	}
	for _, k := range sortedKeys(t.m) {
		if !ok[k] {
			return unknownKey(t.key(k))
		}
	}
	return nil
}

func (t table) has(k string) bool {
	_, ok := t.m[k]
	return ok
}

func (t table) str(k string) (string, bool, error) {
	v, ok := t.m[k]
	if !ok {
		return "", false, nil
	}
	s, isStr := v.(string)
	if !isStr {
		return "", false, errorf("%s must be a string", t.key(k))
	}
	return s, true, nil
}

func (t table) boolean(k string) (bool, bool, error) {
	v, ok := t.m[k]
	if !ok {
		return false, false, nil
	}
	b, isBool := v.(bool)
	if !isBool {
		return false, false, errorf("%s must be a boolean", t.key(k))
	}
	return b, true, nil
}

func (t table) integer(k string) (int64, bool, error) {
	v, ok := t.m[k]
	if !ok {
		return 0, false, nil
	}
	n, isInt := v.(int64)
	if !isInt {
		return 0, false, errorf("%s must be an integer", t.key(k))
	}
	return n, true, nil
}

// intRange reads an optional integer in [lo, hi] into dst.
func (t table) intRange(k string, lo, hi int64, dst *int) error {
	n, ok, err := t.integer(k)
	if err != nil || !ok {
		return err
	}
	if n < lo || n > hi {
		return errorf("%s must be between %d and %d: %d", t.key(k), lo, hi, n)
	}
	*dst = int(n)
	return nil
}

func (t table) sub(k string) (table, bool, error) {
	v, ok := t.m[k]
	if !ok {
		return table{}, false, nil
	}
	m, isMap := v.(map[string]any)
	if !isMap {
		return table{}, false, errorf("%s must be a table", t.key(k))
	}
	return table{path: t.key(k), m: m}, true, nil
}

func (t table) array(k string) ([]any, bool, error) {
	v, ok := t.m[k]
	if !ok {
		return nil, false, nil
	}
	a, isArr := v.([]any)
	if !isArr {
		return nil, false, errorf("%s must be an array", t.key(k))
	}
	return a, true, nil
}

// tables reads an optional array of tables ([[k]]).
func (t table) tables(k string) ([]table, error) {
	a, ok, err := t.array(k)
	if err != nil || !ok {
		return nil, err
	}
	out := make([]table, len(a))
	for i, v := range a {
		p := fmt.Sprintf("%s[%d]", t.key(k), i)
		m, isMap := v.(map[string]any)
		if !isMap {
			return nil, errorf("%s must be a table", p)
		}
		out[i] = table{path: p, m: m}
	}
	return out, nil
}

// duration reads an optional Go duration string in [lo, hi] (texts loText, hiText) into dst.
func (t table) duration(k string, lo, hi time.Duration, loText, hiText string, dst *time.Duration) (string, error) {
	s, ok, err := t.str(k)
	if err != nil || !ok {
		return "", err
	}
	d, err := time.ParseDuration(s)
	if err != nil {
		return "", errorf("%s is invalid: %s", t.key(k), strings.TrimPrefix(err.Error(), "time: "))
	}
	if d < lo || d > hi {
		if hi == maxDuration {
			return "", errorf("%s must be at least %s: %s", t.key(k), loText, s)
		}
		return "", errorf("%s must be between %s and %s: %s", t.key(k), loText, hiText, s)
	}
	*dst = d
	return s, nil
}

// maxDuration is the largest representable duration, an "unbounded" upper limit.
const maxDuration = time.Duration(math.MaxInt64)

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

var envNameRE = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)

// envRef splits an "env:NAME" reference. ok is false for literal values.
func envRef(v string) (name string, ok bool) {
	if !strings.HasPrefix(v, "env:") {
		return "", false
	}
	return strings.TrimPrefix(v, "env:"), true
}

// resolve returns a literal value as is, or reads an env:NAME reference through getenv (a
// missing or empty variable is an error). The value is never part of an error message.
// name is the referenced variable ("" for literals).
func resolve(path, v string, getenv func(string) string) (value, name string, err error) {
	n, ok := envRef(v)
	if !ok {
		return v, "", nil
	}
	if !envNameRE.MatchString(n) {
		return "", "", errorf("%s has an invalid environment variable name: %q", path, v)
	}
	val := getenv(n)
	if val == "" {
		return "", "", errorf("%s references environment variable %s, which is not set or empty", path, n)
	}
	return val, n, nil
}
