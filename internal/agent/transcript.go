package agent

import (
	"encoding/json"
	"sync"
	"time"
	"unicode/utf8"
)

// Transcript entry types (SPEC §2.12).
const (
	TypePrompt         = "prompt"
	TypeAgentMessage   = "agent_message"
	TypeAgentThought   = "agent_thought"
	TypeToolCall       = "tool_call"
	TypeToolCallUpdate = "tool_call_update"
	TypePlan           = "plan"
	TypePermission     = "permission"
	TypeFS             = "fs"
	TypeStdout         = "stdout"
	TypeStderr         = "stderr"
	TypeStop           = "stop"
	TypeError          = "error"
)

// DefaultMaxOutputBytes is the transcript budget used when none is given.
const DefaultMaxOutputBytes = 1 << 20

// Entry is one transcript entry (SPEC §2.12). At is serialized as UTC
// RFC 3339 with trimmed fractional seconds.
type Entry struct {
	Seq        int             `json:"seq"`
	At         time.Time       `json:"at"`
	Type       string          `json:"type"`
	Text       string          `json:"text,omitempty"`
	ToolCallID string          `json:"tool_call_id,omitempty"`
	Title      string          `json:"title,omitempty"`
	Kind       string          `json:"kind,omitempty"`
	Status     string          `json:"status,omitempty"`
	Data       json.RawMessage `json:"data,omitempty"`
	Decision   string          `json:"decision,omitempty"`
	Op         string          `json:"op,omitempty"`
	Path       string          `json:"path,omitempty"`
	Allowed    *bool           `json:"allowed,omitempty"`
	StopReason string          `json:"stop_reason,omitempty"`
}

// MarshalJSON encodes the entry with At in UTC, formatted like
// time.RFC3339Nano.
func (e Entry) MarshalJSON() ([]byte, error) {
	return json.Marshal(entryJSON{
		Seq: e.Seq, At: e.At.UTC().Format(time.RFC3339Nano), Type: e.Type, Text: e.Text,
		ToolCallID: e.ToolCallID, Title: e.Title, Kind: e.Kind, Status: e.Status, Data: e.Data,
		Decision: e.Decision, Op: e.Op, Path: e.Path, Allowed: e.Allowed, StopReason: e.StopReason,
	})
}

// entryJSON is Entry with At as a string, in the same field order.
type entryJSON struct {
	Seq        int             `json:"seq"`
	At         string          `json:"at"`
	Type       string          `json:"type"`
	Text       string          `json:"text,omitempty"`
	ToolCallID string          `json:"tool_call_id,omitempty"`
	Title      string          `json:"title,omitempty"`
	Kind       string          `json:"kind,omitempty"`
	Status     string          `json:"status,omitempty"`
	Data       json.RawMessage `json:"data,omitempty"`
	Decision   string          `json:"decision,omitempty"`
	Op         string          `json:"op,omitempty"`
	Path       string          `json:"path,omitempty"`
	Allowed    *bool           `json:"allowed,omitempty"`
	StopReason string          `json:"stop_reason,omitempty"`
}

// budgetSize is what an entry costs against the budget: its text and its raw
// data. prompt, stop and error entries are exempt.
func budgetSize(e *Entry) int { return len(e.Text) + len(e.Data) }

func exempt(typ string) bool { return typ == TypePrompt || typ == TypeStop || typ == TypeError }

func joinable(typ string) bool { return typ == TypeAgentMessage || typ == TypeAgentThought }

// Transcript collects the entries of one session (SPEC §10.6). It is safe for
// concurrent use.
//
// Budget: the bytes of Text and Data of all entries except prompt, stop and
// error count against maxOutputBytes. The entry that crosses the limit is cut
// at the limit (text is cut at a UTF-8 boundary; raw data, which cannot be
// cut, is dropped from that entry), Truncated becomes true, and later entries
// are dropped, except stop and error entries, which are always recorded.
type Transcript struct {
	mu        sync.Mutex
	now       func() time.Time
	max       int
	used      int
	entries   []Entry
	truncated bool
	open      bool // the last entry is a message/thought that further chunks join
	version   uint64
}

// NewTranscript returns an empty transcript with the given budget
// (<= 0 means DefaultMaxOutputBytes) and clock (nil means time.Now).
func NewTranscript(maxOutputBytes int, now func() time.Time) *Transcript {
	if maxOutputBytes <= 0 {
		maxOutputBytes = DefaultMaxOutputBytes
	}
	if now == nil {
		now = time.Now
	}
	return &Transcript{now: now, max: maxOutputBytes}
}

// Add appends an entry, assigning Seq and At (At only when zero).
// Consecutive agent_message (agent_thought) entries are joined into one
// entry until another entry type intervenes.
func (t *Transcript) Add(e Entry) {
	t.mu.Lock()
	defer t.mu.Unlock()

	if !exempt(e.Type) {
		if t.truncated {
			return
		}
		if size := budgetSize(&e); t.used+size > t.max {
			room := t.max - t.used
			e.Text = cutUTF8(e.Text, room)
			if len(e.Text)+len(e.Data) > room {
				e.Data = nil
			}
			t.truncated = true
			t.used = t.max
			t.version++
			if e.Text == "" && e.Data == nil && joinable(e.Type) {
				return
			}
		} else {
			t.used += size
		}
	}

	if joinable(e.Type) && t.open && t.entries[len(t.entries)-1].Type == e.Type {
		last := &t.entries[len(t.entries)-1]
		last.Text += e.Text
		t.version++
		return
	}
	if e.At.IsZero() {
		e.At = t.now()
	}
	e.At = e.At.UTC()
	e.Seq = len(t.entries) + 1
	t.entries = append(t.entries, e)
	t.open = joinable(e.Type)
	t.version++
}

// Snapshot returns a copy of the entries and whether the budget was exceeded.
func (t *Transcript) Snapshot() (entries []Entry, truncated bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	return append([]Entry(nil), t.entries...), t.truncated
}

// Truncated reports whether the budget was exceeded.
func (t *Transcript) Truncated() bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.truncated
}

// Version increments on every change; callers flush the transcript to the
// store when it differs from the last flushed version.
func (t *Transcript) Version() uint64 {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.version
}

// cutUTF8 returns the longest prefix of s of at most n bytes that does not
// split a UTF-8 sequence.
func cutUTF8(s string, n int) string {
	if n <= 0 {
		return ""
	}
	if len(s) <= n {
		return s
	}
	i := n
	for i > 0 && i > n-utf8.UTFMax && !utf8.RuneStart(s[i]) {
		i--
	}
	if !utf8.RuneStart(s[i]) {
		i = n // not valid UTF-8 anyway; cut at the byte limit
	}
	return s[:i]
}
