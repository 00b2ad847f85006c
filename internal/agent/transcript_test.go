package agent

import (
	"encoding/json"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"pgregory.net/rapid"
)

func fakeClock() func() time.Time {
	t0 := time.Date(2026, 3, 8, 7, 0, 0, 0, time.FixedZone("X", 3600))
	n := 0
	return func() time.Time {
		n++
		return t0.Add(time.Duration(n) * 250 * time.Millisecond)
	}
}

func TestTranscriptJoinsConsecutiveChunks(t *testing.T) {
	tr := NewTranscript(0, fakeClock())
	v0 := tr.Version()
	for _, e := range []Entry{
		{Type: TypePrompt, Text: "p"},
		{Type: TypeAgentMessage, Text: "a"},
		{Type: TypeAgentMessage, Text: "b"},
		{Type: TypeAgentThought, Text: "t1"},
		{Type: TypeAgentThought, Text: "t2"},
		{Type: TypeAgentMessage, Text: "c"},
		{Type: TypeFS, Op: "read", Path: "/x"},
		{Type: TypeAgentMessage, Text: "d"},
		{Type: TypeStop, StopReason: "end_turn"},
	} {
		tr.Add(e)
	}
	entries, truncated := tr.Snapshot()
	if truncated {
		t.Fatal("truncated")
	}
	var got []string
	for _, e := range entries {
		got = append(got, e.Type+"="+e.Text)
	}
	want := "prompt=p|agent_message=ab|agent_thought=t1t2|agent_message=c|fs=|agent_message=d|stop="
	if joined(got) != want {
		t.Fatalf("got  %s\nwant %s", joined(got), want)
	}
	if tr.Version()-v0 != 9 {
		t.Fatalf("version advanced by %d, want one per change", tr.Version()-v0)
	}
	// The joined entry keeps the time of its first chunk.
	if entries[1].At != time.Date(2026, 3, 8, 6, 0, 0, 500e6, time.UTC) {
		t.Fatalf("at %v", entries[1].At)
	}
}

func TestEntryJSON(t *testing.T) {
	allowed := false
	e := Entry{Seq: 3, At: time.Date(2026, 3, 8, 8, 0, 0, 250e6, time.FixedZone("X", 3600)), Type: TypeFS, Op: "write", Path: "/w/a", Allowed: &allowed}
	b, err := json.Marshal(e)
	if err != nil {
		t.Fatal(err)
	}
	want := `{"seq":3,"at":"2026-03-08T07:00:00.25Z","type":"fs","op":"write","path":"/w/a","allowed":false}`
	if string(b) != want {
		t.Fatalf("got  %s\nwant %s", b, want)
	}
	var back Entry
	if err := json.Unmarshal(b, &back); err != nil || !back.At.Equal(e.At) || *back.Allowed {
		t.Fatalf("round trip %+v %v", back, err)
	}
	b, _ = json.Marshal(Entry{Seq: 1, At: time.Date(2026, 3, 8, 7, 0, 0, 0, time.UTC), Type: TypeToolCall, ToolCallID: "t", Data: json.RawMessage(`{"a":1}`)})
	if want := `{"seq":1,"at":"2026-03-08T07:00:00Z","type":"tool_call","tool_call_id":"t","data":{"a":1}}`; string(b) != want {
		t.Fatalf("got  %s\nwant %s", b, want)
	}
}

func TestTranscriptBudget(t *testing.T) {
	tr := NewTranscript(10, fakeClock())
	tr.Add(Entry{Type: TypePrompt, Text: strings.Repeat("p", 100)}) // exempt
	tr.Add(Entry{Type: TypeStdout, Text: "123456"})
	tr.Add(Entry{Type: TypeError, Text: "exempt error"})
	tr.Add(Entry{Type: TypeStdout, Text: "78€9"}) // crosses: cut to "78" (the euro sign does not fit whole)
	tr.Add(Entry{Type: TypeStdout, Text: "dropped"})
	tr.Add(Entry{Type: TypeToolCall, ToolCallID: "x", Data: json.RawMessage(`{}`)})
	tr.Add(Entry{Type: TypeError, Text: "still recorded"})
	tr.Add(Entry{Type: TypeStop, StopReason: "end_turn"})
	entries, truncated := tr.Snapshot()
	if !truncated || !tr.Truncated() {
		t.Fatal("not truncated")
	}
	var got []string
	for _, e := range entries {
		got = append(got, e.Type+"="+e.Text)
	}
	if want := "prompt=" + strings.Repeat("p", 100) + "|stdout=123456|error=exempt error|stdout=78|error=still recorded|stop="; joined(got) != want {
		t.Fatalf("got  %s\nwant %s", joined(got), want)
	}
}

func TestTranscriptBudgetDataEntry(t *testing.T) {
	tr := NewTranscript(10, nil)
	tr.Add(Entry{Type: TypeAgentMessage, Text: "12345"})
	tr.Add(Entry{Type: TypeToolCall, ToolCallID: "t1", Title: "big", Data: json.RawMessage(`{"x":"yyyyyy"}`)})
	entries, truncated := tr.Snapshot()
	if !truncated || len(entries) != 2 || entries[1].Data != nil || entries[1].ToolCallID != "t1" {
		t.Fatalf("entries %+v truncated %v", entries, truncated)
	}
}

func TestTranscriptBudgetCutsJoinedMessage(t *testing.T) {
	tr := NewTranscript(8, nil)
	tr.Add(Entry{Type: TypeAgentMessage, Text: "hello "})
	tr.Add(Entry{Type: TypeAgentMessage, Text: "world"})
	tr.Add(Entry{Type: TypeAgentMessage, Text: "more"})
	entries, truncated := tr.Snapshot()
	if !truncated || len(entries) != 1 || entries[0].Text != "hello wo" {
		t.Fatalf("entries %+v truncated %v", entries, truncated)
	}
}

// TestTranscriptBudgetProperty: whatever is added, the budgeted bytes never
// exceed the limit, exempt entries are all kept, the recorded text of each
// kept entry is a prefix of what was added, and truncated is set exactly when
// the input exceeded the budget.
func TestTranscriptBudgetProperty(t *testing.T) {
	types := []string{TypeAgentMessage, TypeAgentThought, TypeStdout, TypeStderr, TypeToolCall, TypeError, TypeStop, TypeFS}
	rapid.Check(t, func(t *rapid.T) {
		max := rapid.IntRange(1, 200).Draw(t, "max")
		tr := NewTranscript(max, nil)
		n := rapid.IntRange(0, 40).Draw(t, "n")
		input, exempt := 0, 0
		for i := 0; i < n; i++ {
			e := Entry{Type: rapid.SampledFrom(types).Draw(t, "type")}
			switch e.Type {
			case TypeToolCall:
				e.Data = json.RawMessage(`{"k":"` + strings.Repeat("d", rapid.IntRange(0, 30).Draw(t, "data")) + `"}`)
				input += len(e.Data)
			case TypeStop:
				e.StopReason = "end_turn"
				exempt++
			case TypeFS:
			default:
				e.Text = rapid.StringN(0, 40, -1).Draw(t, "text")
				if e.Type == TypeError {
					exempt++
				} else {
					input += len(e.Text)
				}
			}
			tr.Add(e)
		}
		entries, truncated := tr.Snapshot()
		used, kept := 0, 0
		for i, e := range entries {
			if e.Seq != i+1 {
				t.Fatalf("seq %d at %d", e.Seq, i)
			}
			if e.Type == TypeError || e.Type == TypeStop {
				kept++
				continue
			}
			used += len(e.Text) + len(e.Data)
			if !utf8.ValidString(e.Text) {
				t.Fatalf("invalid UTF-8 after cut: %q", e.Text)
			}
		}
		if used > max {
			t.Fatalf("used %d > max %d", used, max)
		}
		if kept != exempt {
			t.Fatalf("kept %d exempt entries of %d", kept, exempt)
		}
		if truncated != (input > max) {
			t.Fatalf("truncated=%v with input %d, max %d", truncated, input, max)
		}
	})
}

func TestCutUTF8(t *testing.T) {
	for _, tc := range []struct {
		s    string
		n    int
		want string
	}{
		{"abc", 5, "abc"}, {"abc", 2, "ab"}, {"a€", 3, "a"}, {"a€", 4, "a€"}, {"€", 0, ""}, {"\xff\xff\xff\xff\xff", 3, "\xff\xff\xff"},
	} {
		if got := cutUTF8(tc.s, tc.n); got != tc.want {
			t.Errorf("cutUTF8(%q, %d) = %q, want %q", tc.s, tc.n, got, tc.want)
		}
	}
}
