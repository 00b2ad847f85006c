package events

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"text/template"
	"text/template/parse"
)

// MaxRenderedBytes bounds the output of [Template.Render]; a template that writes more fails with
// a render error. The limit protects the daemon from templates such as
// `{{ range 100000000 }}text{{ end }}` (a loop that writes nothing is not bounded).
const MaxRenderedBytes = 1 << 20

// templateName is the name of the main template; it appears in parse and render error details.
const templateName = "prompt"

// printFuncName is the function appended to every printing action of a parsed prompt. It is
// registered after parsing, so prompts cannot call it.
const printFuncName = "_aghPrint"

// Template is a parsed and validated trigger prompt (SPEC §8.6). It is safe for concurrent use.
type Template struct {
	text string
	tmpl *template.Template
}

// stringEnvelopeFields are the envelope fields without children; .Data is the fifth name a
// chain on the envelope may start with.
var stringEnvelopeFields = map[string]bool{"Kind": true, "Scope": true, "WorkspaceID": true, "Source": true}

// promptFuncs are the functions available to prompts in addition to Go's builtins.
func promptFuncs() template.FuncMap {
	return template.FuncMap{
		"json":  jsonFunc,
		"index": indexFunc,
	}
}

// ParsePrompt parses and validates a trigger prompt (SPEC §8.6, §3.3 rule 4). Error texts are the
// `<detail>` of "trigger.prompt is invalid: <detail>":
//
//   - "parse trigger prompt template: <parser detail>" when the text does not parse (an unknown
//     function is a parse error);
//   - `unknown activation envelope field ".<Name>"` when a field chain on the top-level dot or on
//     `$` starts with anything but .Kind, .Scope, .WorkspaceID, .Source or .Data;
//   - `activation envelope field "<Name>" does not have child field "<Child>"` when a chain
//     continues after .Kind, .Scope, .WorkspaceID or .Source.
//
// Checked chains are field chains (`.Data.a`), `$` chains (`$.Kind`) and parenthesized chains
// (`(.Data).a`) evaluated where the dot is the envelope: at top level, in `if` blocks, in the
// pipelines of `range`, `with` and `template` actions and in the `else` branches of `range` and
// `with`. Inside the bodies of `range` and `with` the dot is rebound and chains on it are not
// checked, but `$` chains still are. Not checked: chains on other variables, the bodies of
// templates declared with `define`/`block` (their dot is whatever the caller passes), and `$`
// chains in a prompt that rebinds `$` itself (`{{ $ := … }}`).
func ParsePrompt(text string) (*Template, error) {
	t, err := template.New(templateName).Funcs(promptFuncs()).Parse(text)
	if err != nil {
		return nil, fmt.Errorf("parse trigger prompt template: %w", err)
	}
	if t.Tree != nil && t.Tree.Root != nil {
		c := &chainChecker{dollarRebound: rebindsDollar(t.Tree.Root)}
		if err := c.walk(t.Tree.Root, true); err != nil {
			return nil, err
		}
	}
	t.Funcs(template.FuncMap{printFuncName: printFunc})
	seen := map[*parse.Tree]bool{}
	for _, at := range t.Templates() {
		if at.Tree == nil || seen[at.Tree] {
			continue
		}
		seen[at.Tree] = true
		addPrintFunc(at.Tree, at.Tree.Root)
	}
	return &Template{text: text, tmpl: t}, nil
}

// Text returns the source text of the prompt.
func (t *Template) Text() string { return t.text }

// Render executes the prompt with envelope e (SPEC §8.6) and returns the trimmed output.
//
// The template sees a value with the fields Kind, Scope, WorkspaceID, Source (strings) and Data.
// Missing keys under .Data, at any depth, render as the empty string, and so do JSON nulls and
// chains through them (`{{ .Data.missing.deeper }}`, `{{ index .Data "missing" "deeper" }}`);
// strings render as they are, numbers as their JSON text (the literal of a json.Number, decimal
// for integers, the shortest decimal without exponent for floats), booleans as true/false, and
// objects and arrays in Go's default format (`map[number:42 title:Crash]`, `[a b]`). The `json`
// function renders its argument as compact JSON without HTML escaping (a missing value gives
// `null`).
//
// Errors: any other execution error (field access on a string, number, boolean or array; `index`
// out of range; a failing function; output beyond [MaxRenderedBytes]) → "render prompt: <detail>";
// an output that is empty after trimming → [ErrEmptyRender] ("rendered prompt is empty").
func (t *Template) Render(e *Envelope) (string, error) {
	if e == nil {
		return "", errors.New("render prompt: nil envelope")
	}
	data := renderEnvelope{
		Kind: e.Kind, Scope: e.Scope, WorkspaceID: e.WorkspaceID, Source: e.Source,
		Data: toTemplateObject(e.Data),
	}
	w := &limitedBuffer{max: MaxRenderedBytes}
	if err := t.tmpl.Execute(w, data); err != nil {
		return "", fmt.Errorf("render prompt: %w", err)
	}
	out := strings.TrimSpace(w.buf.String())
	if out == "" {
		return "", ErrEmptyRender
	}
	return out, nil
}

// ErrEmptyRender is returned by [Template.Render] when the trimmed output is empty (SPEC §8.6).
var ErrEmptyRender = errors.New("rendered prompt is empty")

// renderEnvelope is the dot of a prompt: exactly the five names templates may use (SPEC §2.15).
type renderEnvelope struct {
	Kind        string
	Scope       string
	WorkspaceID string
	Source      string
	Data        templateObject
}

// templateObject is a JSON object as seen by templates. It has no methods, so every key is
// reachable with field syntax (a method would shadow the key of the same name). A missing key
// evaluates to text/template's "no value", which chained field access propagates without error.
type templateObject map[string]any

// templateNull stands for a JSON null. Being a (nil) map, field access and `index` on it yield
// "no value" instead of the "nil pointer evaluating interface {}" error a plain nil would give,
// so a null behaves like a missing key; it marshals as JSON null.
type templateNull map[string]any

// toTemplateObject converts envelope data to the values templates see.
func toTemplateObject(m map[string]any) templateObject {
	out := make(templateObject, len(m))
	for k, v := range m {
		out[k] = toTemplateValue(v)
	}
	return out
}

// toTemplateValue converts one JSON-compatible value: objects to templateObject, arrays to []any,
// null to templateNull, numbers to json.Number holding their JSON text, strings and booleans as
// they are. Other Go values go through a JSON round trip (so a time.Time becomes its string).
func toTemplateValue(v any) any {
	switch x := v.(type) {
	case nil:
		return templateNull(nil)
	case string, bool, json.Number:
		return x
	case map[string]any:
		return toTemplateObject(x)
	case []any:
		out := make([]any, len(x))
		for i, y := range x {
			out[i] = toTemplateValue(y)
		}
		return out
	case map[string]string:
		out := make(templateObject, len(x))
		for k, y := range x {
			out[k] = y
		}
		return out
	case []string:
		out := make([]any, len(x))
		for i, y := range x {
			out[i] = y
		}
		return out
	}
	if s, ok := numberText(v); ok {
		return json.Number(s)
	}
	return viaJSON(v) // NaN and infinities do not marshal and become their fmt text
}

// viaJSON converts an arbitrary Go value by marshaling it and decoding the result with
// json.Number; a value that does not marshal becomes its fmt text.
func viaJSON(v any) any {
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Sprint(v)
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	var out any
	if err := dec.Decode(&out); err != nil {
		return fmt.Sprint(v)
	}
	return toTemplateValue(out)
}

// fromTemplateValue converts back to plain Go JSON values (for Go's default format).
func fromTemplateValue(v any) any {
	switch x := v.(type) {
	case templateNull:
		return nil
	case templateObject:
		out := make(map[string]any, len(x))
		for k, y := range x {
			out[k] = fromTemplateValue(y)
		}
		return out
	case []any:
		out := make([]any, len(x))
		for i, y := range x {
			out[i] = fromTemplateValue(y)
		}
		return out
	}
	return v
}

// printFunc formats the value of a printing action. text/template passes a missing value ("no
// value") as nil.
func printFunc(v any) string {
	switch x := v.(type) {
	case nil, templateNull:
		return ""
	case string:
		return x
	case json.Number:
		return string(x)
	case bool:
		if x {
			return "true"
		}
		return "false"
	case templateObject, []any:
		return fmt.Sprint(fromTemplateValue(x))
	case renderEnvelope:
		// `{{ . }}`: Go's default format of the five visible fields.
		return fmt.Sprint(struct {
			Kind, Scope, WorkspaceID, Source string
			Data                             any
		}{x.Kind, x.Scope, x.WorkspaceID, x.Source, fromTemplateValue(x.Data)})
	}
	return fmt.Sprint(v)
}

// jsonFunc is the `json` template function: compact JSON without HTML escaping.
func jsonFunc(v any) (string, error) {
	b, err := marshalCompact(v)
	if err != nil {
		return "", err
	}
	return string(b), nil
}

// indexFunc replaces the builtin `index`: like it, it indexes maps, slices, arrays and strings,
// but a missing item (a missing key or null met earlier) gives "no value" instead of an error,
// and a json.Number holding an integer is accepted as a slice index.
func indexFunc(item reflect.Value, indexes ...reflect.Value) (reflect.Value, error) {
	for _, ix := range indexes {
		item = indirectValue(item)
		if !item.IsValid() {
			return reflect.Value{}, nil
		}
		if item.Kind() == reflect.Pointer {
			return reflect.Value{}, errors.New("index of nil pointer")
		}
		ix = indirectValue(ix)
		switch item.Kind() {
		case reflect.Map:
			if item.Type().Key().Kind() != reflect.String {
				return reflect.Value{}, fmt.Errorf("can't index item of type %s", item.Type())
			}
			if !ix.IsValid() || ix.Kind() != reflect.String {
				return reflect.Value{}, fmt.Errorf("cannot index map with %s", describeValue(ix))
			}
			x := item.MapIndex(reflect.ValueOf(ix.String()).Convert(item.Type().Key()))
			if !x.IsValid() {
				return reflect.Value{}, nil
			}
			item = x
		case reflect.Slice, reflect.Array, reflect.String:
			i, err := sliceIndex(ix, item.Len())
			if err != nil {
				return reflect.Value{}, err
			}
			item = item.Index(i)
		default:
			return reflect.Value{}, fmt.Errorf("can't index item of type %s", item.Type())
		}
	}
	return item, nil
}

func describeValue(v reflect.Value) string {
	if !v.IsValid() {
		return "nil"
	}
	return "type " + v.Type().String()
}

// sliceIndex converts an index argument, like the builtin, plus integral json.Number values.
func sliceIndex(ix reflect.Value, n int) (int, error) {
	var x int64
	switch ix.Kind() {
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		x = ix.Int()
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr:
		u := ix.Uint()
		if u > 1<<62 {
			return 0, fmt.Errorf("index out of range: %d", u)
		}
		x = int64(u)
	case reflect.String:
		num, ok := ix.Interface().(json.Number)
		if !ok {
			return 0, fmt.Errorf("cannot index slice/array with type %s", ix.Type())
		}
		v, err := num.Int64()
		if err != nil {
			return 0, fmt.Errorf("cannot index slice/array with %s", num)
		}
		x = v
	case reflect.Invalid:
		return 0, errors.New("cannot index slice/array with nil")
	default:
		return 0, fmt.Errorf("cannot index slice/array with type %s", ix.Type())
	}
	if x < 0 || x >= int64(n) {
		return 0, fmt.Errorf("index out of range: %d", x)
	}
	return int(x), nil
}

// indirectValue follows interfaces and non-nil pointers. A nil interface gives the invalid
// value; a nil pointer is returned as is.
func indirectValue(v reflect.Value) reflect.Value {
	for v.IsValid() {
		switch v.Kind() {
		case reflect.Interface:
			if v.IsNil() {
				return reflect.Value{}
			}
		case reflect.Pointer:
			if v.IsNil() {
				return v
			}
		default:
			return v
		}
		v = v.Elem()
	}
	return v
}

// addPrintFunc appends `| _aghPrint` to every printing action (an action without variable
// declaration or assignment) so that printFunc decides how values are written.
func addPrintFunc(tree *parse.Tree, n parse.Node) {
	switch n := n.(type) {
	case *parse.ListNode:
		if n == nil {
			return
		}
		for _, c := range n.Nodes {
			addPrintFunc(tree, c)
		}
	case *parse.ActionNode:
		if len(n.Pipe.Decl) == 0 {
			id := parse.NewIdentifier(printFuncName).SetTree(tree).SetPos(n.Pos)
			n.Pipe.Cmds = append(n.Pipe.Cmds, &parse.CommandNode{
				NodeType: parse.NodeCommand, Pos: n.Pos, Args: []parse.Node{id},
			})
		}
	case *parse.IfNode:
		addPrintFunc(tree, n.List)
		addPrintFunc(tree, n.ElseList)
	case *parse.RangeNode:
		addPrintFunc(tree, n.List)
		addPrintFunc(tree, n.ElseList)
	case *parse.WithNode:
		addPrintFunc(tree, n.List)
		addPrintFunc(tree, n.ElseList)
	}
}

// rebindsDollar reports whether any pipeline in the tree declares or assigns the variable `$`.
func rebindsDollar(root parse.Node) bool {
	found := false
	var visitPipe func(p *parse.PipeNode)
	var visit func(n parse.Node)
	visitArgs := func(args []parse.Node) {
		for _, a := range args {
			switch a := a.(type) {
			case *parse.PipeNode:
				visitPipe(a)
			case *parse.ChainNode:
				if p, ok := a.Node.(*parse.PipeNode); ok {
					visitPipe(p)
				}
			}
		}
	}
	visitPipe = func(p *parse.PipeNode) {
		if p == nil {
			return
		}
		for _, d := range p.Decl {
			if len(d.Ident) > 0 && d.Ident[0] == "$" {
				found = true
			}
		}
		for _, c := range p.Cmds {
			visitArgs(c.Args)
		}
	}
	visit = func(n parse.Node) {
		switch n := n.(type) {
		case *parse.ListNode:
			if n == nil {
				return
			}
			for _, c := range n.Nodes {
				visit(c)
			}
		case *parse.ActionNode:
			visitPipe(n.Pipe)
		case *parse.IfNode:
			visitPipe(n.Pipe)
			visit(n.List)
			visit(n.ElseList)
		case *parse.RangeNode:
			visitPipe(n.Pipe)
			visit(n.List)
			visit(n.ElseList)
		case *parse.WithNode:
			visitPipe(n.Pipe)
			visit(n.List)
			visit(n.ElseList)
		case *parse.TemplateNode:
			visitPipe(n.Pipe)
		}
	}
	visit(root)
	return found
}

// chainChecker validates field chains on the activation envelope (SPEC §8.6).
type chainChecker struct {
	dollarRebound bool
}

// walk checks node n; top reports whether the dot is the envelope there.
func (c *chainChecker) walk(n parse.Node, top bool) error {
	switch n := n.(type) {
	case *parse.ListNode:
		if n == nil {
			return nil
		}
		for _, x := range n.Nodes {
			if err := c.walk(x, top); err != nil {
				return err
			}
		}
	case *parse.ActionNode:
		return c.pipe(n.Pipe, top)
	case *parse.IfNode:
		return c.branch(&n.BranchNode, top, top)
	case *parse.RangeNode:
		return c.branch(&n.BranchNode, top, false)
	case *parse.WithNode:
		return c.branch(&n.BranchNode, top, false)
	case *parse.TemplateNode:
		return c.pipe(n.Pipe, top)
	}
	return nil
}

// branch checks an if/range/with node: the pipeline and the else branch see the outer dot, the
// body sees bodyTop.
func (c *chainChecker) branch(b *parse.BranchNode, top, bodyTop bool) error {
	if err := c.pipe(b.Pipe, top); err != nil {
		return err
	}
	if err := c.walk(b.List, bodyTop); err != nil {
		return err
	}
	return c.walk(b.ElseList, top)
}

func (c *chainChecker) pipe(p *parse.PipeNode, top bool) error {
	if p == nil {
		return nil
	}
	for _, cmd := range p.Cmds {
		for _, arg := range cmd.Args {
			if err := c.arg(arg, top); err != nil {
				return err
			}
		}
	}
	return nil
}

func (c *chainChecker) arg(n parse.Node, top bool) error {
	switch n := n.(type) {
	case *parse.FieldNode:
		if top {
			return checkEnvelopeChain(n.Ident)
		}
	case *parse.VariableNode:
		if n.Ident[0] == "$" && !c.dollarRebound {
			return checkEnvelopeChain(n.Ident[1:])
		}
	case *parse.PipeNode:
		return c.pipe(n, top)
	case *parse.ChainNode:
		if err := c.arg(n.Node, top); err != nil {
			return err
		}
		if base, ok := c.envelopeBase(n.Node, top); ok {
			return checkEnvelopeChain(append(append([]string(nil), base...), n.Field...))
		}
	}
	return nil
}

// envelopeBase resolves the operand of a chain such as `(.Data).a` or `($).Kind` to the field
// path on the envelope it denotes, when it is one.
func (c *chainChecker) envelopeBase(n parse.Node, top bool) ([]string, bool) {
	switch n := n.(type) {
	case *parse.PipeNode:
		if len(n.Decl) == 0 && len(n.Cmds) == 1 && len(n.Cmds[0].Args) == 1 {
			return c.envelopeBase(n.Cmds[0].Args[0], top)
		}
	case *parse.DotNode:
		if top {
			return nil, true
		}
	case *parse.FieldNode:
		if top {
			return n.Ident, true
		}
	case *parse.VariableNode:
		if n.Ident[0] == "$" && !c.dollarRebound {
			return n.Ident[1:], true
		}
	case *parse.ChainNode:
		if base, ok := c.envelopeBase(n.Node, top); ok {
			return append(append([]string(nil), base...), n.Field...), true
		}
	}
	return nil, false
}

// checkEnvelopeChain validates a field chain on the envelope (names after the dot or `$`).
func checkEnvelopeChain(chain []string) error {
	if len(chain) == 0 {
		return nil
	}
	name := chain[0]
	switch {
	case name == "Data":
		return nil
	case stringEnvelopeFields[name]:
		if len(chain) > 1 {
			return fmt.Errorf("activation envelope field %q does not have child field %q", name, chain[1])
		}
		return nil
	}
	return fmt.Errorf("unknown activation envelope field %q", "."+name)
}

// limitedBuffer is an io.Writer that fails once more than max bytes are written.
type limitedBuffer struct {
	buf bytes.Buffer
	max int
}

func (w *limitedBuffer) Write(p []byte) (int, error) {
	if w.buf.Len()+len(p) > w.max {
		return 0, fmt.Errorf("rendered prompt exceeds %d bytes", w.max)
	}
	return w.buf.Write(p)
}
