package events_test

import (
	"encoding/json"
	"fmt"
	"strings"

	"github.com/agh-dev/agh/internal/events"
)

func webhookData() map[string]any {
	dec := json.NewDecoder(strings.NewReader(`{"action": "opened", "issue": {"number": 42, "title": "Crash on start"}, "github_event": "issues"}`))
	dec.UseNumber() // webhook normalization keeps the literal text of numbers
	var data map[string]any
	if err := dec.Decode(&data); err != nil {
		panic(err)
	}
	return data
}

func ExampleParsePrompt() {
	tmpl, err := events.ParsePrompt(`Issue #{{ .Data.issue.number }} was {{ .Data.action }} ({{ .Data.github_event }}).`)
	if err != nil {
		fmt.Println(err)
		return
	}
	e := &events.Envelope{Kind: events.KindWebhook, Scope: "global", Source: events.SourceWebhook, Data: webhookData()}
	out, err := tmpl.Render(e)
	fmt.Println(out, err)

	_, err = events.ParsePrompt(`{{ .Scope.Name }}`)
	fmt.Println(err)
	// Output:
	// Issue #42 was opened (issues). <nil>
	// activation envelope field "Scope" does not have child field "Name"
}

func ExampleFilter_Match() {
	f, err := events.NormalizeFilter("trigger.filter", map[string]string{"data.action": " opened ", "data.issue.number": "42"})
	if err != nil {
		fmt.Println(err)
		return
	}
	e := &events.Envelope{Kind: events.KindWebhook, Scope: "global", Source: events.SourceWebhook, Data: webhookData()}
	fmt.Println(f.Match(e))

	_, err = events.NormalizeFilter("trigger.filter", map[string]string{"payload.action": "opened"})
	fmt.Println(err)
	// Output:
	// true
	// trigger.filter["payload.action"]: unsupported filter path "payload.action"
}

func ExampleBus() {
	bus := events.NewBus()
	bus.Subscribe(func(e *events.Envelope) {
		if e.LoopGuarded() {
			fmt.Println(e.Kind, "skipped(loop_guard)")
			return
		}
		fmt.Println(e.Kind, "depth", e.Depth)
	})
	bus.Publish(&events.Envelope{Kind: events.KindSessionStopped, Depth: 2})
	bus.Publish(&events.Envelope{Kind: events.KindSessionStopped, Depth: 3})
	bus.Close() // delivers what was published, then stops
	// Output:
	// session.stopped depth 2
	// session.stopped skipped(loop_guard)
}
