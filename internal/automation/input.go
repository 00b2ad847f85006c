package automation

import (
	"encoding/json"
	"math"
	"sort"
	"strconv"
	"strings"
	"unicode/utf8"
)

// object reads one decoded JSON (or TOML) object strictly: every key must be consumed by a
// typed getter, known read-only keys are refused, and the first problem wins. Values come from
// encoding/json with UseNumber (json.Number) or from the TOML decoder (int64, float64).
type object struct {
	path     string
	m        map[string]any
	seen     map[string]bool
	err      error
	readOnly []string
}

func newObject(path string, v any) (*object, error) {
	m, ok := v.(map[string]any)
	if !ok {
		return nil, Invalid("%s must be an object", path)
	}
	return &object{path: path, m: m, seen: map[string]bool{}}, nil
}

func (o *object) child(name string) string { return o.path + "." + name }

// has reports whether the key is present (even as null).
func (o *object) has(name string) bool {
	_, ok := o.m[name]
	return ok
}

func (o *object) fail(err error) {
	if o.err == nil {
		o.err = err
	}
}

// raw returns the value of name, marking it seen; nulls are refused unless nullable.
func (o *object) raw(name string, nullable bool) (any, bool) {
	o.seen[name] = true
	v, ok := o.m[name]
	if !ok {
		return nil, false
	}
	if v == nil && !nullable {
		o.fail(Invalid("%s must not be null", o.child(name)))
		return nil, false
	}
	return v, true
}

// str reads an optional string, trimmed unless keepSpace.
func (o *object) str(name string, keepSpace bool) *string {
	v, ok := o.raw(name, false)
	if !ok || v == nil {
		return nil
	}
	s, isStr := v.(string)
	if !isStr {
		o.fail(Invalid("%s must be a string", o.child(name)))
		return nil
	}
	if !keepSpace {
		s = strings.TrimSpace(s)
	}
	return &s
}

func (o *object) boolean(name string) *bool {
	v, ok := o.raw(name, false)
	if !ok || v == nil {
		return nil
	}
	b, isBool := v.(bool)
	if !isBool {
		o.fail(Invalid("%s must be a boolean", o.child(name)))
		return nil
	}
	return &b
}

func (o *object) integer(name string) *int {
	v, ok := o.raw(name, false)
	if !ok || v == nil {
		return nil
	}
	n, good := toInt(v)
	if !good {
		o.fail(Invalid("%s must be an integer", o.child(name)))
		return nil
	}
	return &n
}

func toInt(v any) (int, bool) {
	switch x := v.(type) {
	case json.Number:
		s := string(x)
		if strings.ContainsAny(s, ".eE") {
			return 0, false
		}
		n, err := strconv.ParseInt(s, 10, 64)
		if err != nil || n > math.MaxInt32 || n < math.MinInt32 {
			return 0, false
		}
		return int(n), true
	case int64:
		if x > math.MaxInt32 || x < math.MinInt32 {
			return 0, false
		}
		return int(x), true
	case int:
		return x, true
	}
	return 0, false
}

// obj reads an optional nested object.
func (o *object) obj(name string, nullable bool) (*object, bool) {
	v, ok := o.raw(name, nullable)
	if !ok || v == nil {
		return nil, ok
	}
	c, err := newObject(o.child(name), v)
	if err != nil {
		o.fail(err)
		return nil, false
	}
	return c, true
}

// stringMap reads an optional object of strings (trigger filters).
func (o *object) stringMap(name string, nullable bool) (map[string]string, bool) {
	v, ok := o.raw(name, nullable)
	if !ok {
		return nil, false
	}
	if v == nil {
		return map[string]string{}, true
	}
	m, isMap := v.(map[string]any)
	if !isMap {
		o.fail(Invalid("%s must be an object", o.child(name)))
		return nil, false
	}
	out := make(map[string]string, len(m))
	keys := sortedKeys(m)
	for _, k := range keys {
		s, isStr := m[k].(string)
		if !isStr {
			o.fail(Invalid("%s[%q] must be a string", o.child(name), k))
			return nil, false
		}
		out[k] = s
	}
	return out, true
}

// finish refuses unknown and read-only keys; it returns the first error seen.
func (o *object) finish() error {
	if o.err != nil {
		return o.err
	}
	ro := map[string]bool{}
	for _, k := range o.readOnly {
		ro[k] = true
	}
	for _, k := range sortedKeys(o.m) {
		if !o.seen[k] && !ro[k] {
			return Invalid("%s: unknown field %q", o.path, k)
		}
	}
	for _, k := range sortedKeys(o.m) {
		if ro[k] {
			return Invalid("%s is read-only", o.child(k))
		}
	}
	return nil
}

func sortedKeys(m map[string]any) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// DecodeJSONObject parses a request body into a generic object with json.Number numbers. The
// error detail follows SPEC §3.1.
func DecodeJSONObject(body []byte) (map[string]any, error) {
	if len(strings.TrimSpace(string(body))) == 0 {
		return nil, Invalid("request body is required")
	}
	if !utf8.Valid(body) {
		return nil, Invalid("invalid JSON body: body is not valid UTF-8")
	}
	dec := json.NewDecoder(strings.NewReader(string(body)))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, Invalid("invalid JSON body: %s", err.Error())
	}
	if dec.More() {
		return nil, Invalid("invalid JSON body: unexpected data after the JSON value")
	}
	m, ok := v.(map[string]any)
	if !ok {
		return nil, Invalid("invalid JSON body: body must be a JSON object")
	}
	return m, nil
}

// WorkspaceInput is a decoded POST /api/workspaces body.
type WorkspaceInput struct{ ID, Path string }

// DecodeWorkspace reads a workspace create body (root "workspace").
func DecodeWorkspace(m map[string]any) (*WorkspaceInput, error) {
	o, err := newObject("workspace", m)
	if err != nil {
		return nil, err
	}
	o.readOnly = []string{"source", "created_at", "updated_at"}
	in := &WorkspaceInput{ID: deref(o.str("id", false)), Path: deref(o.str("path", false))}
	return in, o.finish()
}

// EventInput is a decoded POST /api/events body (SPEC §3.8).
type EventInput struct {
	Kind, Scope, WorkspaceID string
	Data                     map[string]any
}

// DecodeEvent reads a POST /api/events body (root "event").
func DecodeEvent(m map[string]any) (*EventInput, error) {
	o, err := newObject("event", m)
	if err != nil {
		return nil, err
	}
	in := &EventInput{Kind: deref(o.str("kind", false)), Scope: deref(o.str("scope", false)),
		WorkspaceID: deref(o.str("workspace_id", false))}
	if v, ok := o.raw("data", true); ok && v != nil {
		d, isMap := v.(map[string]any)
		if !isMap {
			o.fail(Invalid("event.data must be an object"))
		}
		in.Data = d
	}
	if err := o.finish(); err != nil {
		return nil, err
	}
	if in.Kind == "" {
		return nil, Invalid("event.kind is required")
	}
	return in, nil
}

// ValidateEventScope checks an event's scope and workspace like a definition's.
func ValidateEventScope(scope, workspaceID string, env Env) error {
	return validateScope("event", scope, workspaceID, env)
}

// DefinitionInput holds the fields job and trigger bodies share; nil fields were absent.
type DefinitionInput struct {
	Name, Scope, WorkspaceID, AgentName, Prompt *string
}

// definition reads the shared fields of a job or trigger body rooted at root. A PATCH may not
// change the scope.
func (o *object) definition(root string, patch bool) DefinitionInput {
	d := DefinitionInput{Name: o.str("name", false)}
	if patch && o.has("scope") {
		o.fail(Invalid("%s.scope cannot be changed", root))
	}
	d.Scope = o.str("scope", false)
	d.WorkspaceID = o.str("workspace_id", false)
	d.AgentName = o.str("agent_name", false)
	d.Prompt = o.str("prompt", true)
	return d
}
