package automation

import (
	"crypto/rand"
	"crypto/sha256"
	"strings"
	"sync"
	"time"

	"github.com/oklog/ulid/v2"
)

// Identifier prefixes (SPEC §1.4).
const (
	PrefixJob       = "job_"
	PrefixTrigger   = "trg_"
	PrefixWebhook   = "wbh_"
	PrefixRun       = "run_"
	PrefixFire      = "fire_"
	PrefixTask      = "task_"
	PrefixTaskRun   = "trun_"
	PrefixSession   = "ses_"
	PrefixEvent     = "evt_"
	PrefixDelivery  = "dlv_"
	PrefixWorkspace = "ws_"
)

var (
	entropyMu sync.Mutex
	entropy   = ulid.Monotonic(rand.Reader, 0)
)

// NewULID returns a lowercase ULID for instant t with random entropy. ULIDs made in the same
// millisecond by this process are strictly increasing.
func NewULID(t time.Time) string {
	entropyMu.Lock()
	defer entropyMu.Unlock()
	return strings.ToLower(ulid.MustNew(ulid.Timestamp(t), entropy).String())
}

// NewID returns prefix + NewULID(t).
func NewID(prefix string, t time.Time) string { return prefix + NewULID(t) }

func deterministicULID(ms uint64, h [32]byte) string {
	var u ulid.ULID
	if err := u.SetTime(ms); err != nil {
		panic(err) // ms comes from a validated instant or is 0
	}
	copy(u[6:], h[:10])
	return strings.ToLower(u.String())
}

// DefinitionID returns the deterministic id of a config-sourced definition (SPEC §1.4). kind is
// "job", "trigger" or "webhook"; prefix is the matching id prefix.
func DefinitionID(prefix, kind, scope, workspaceID, name string) string {
	h := sha256.Sum256([]byte(kind + "\n" + scope + "\n" + workspaceID + "\n" + name))
	return prefix + deterministicULID(0, h)
}

// FireID returns the deterministic fire id of the slot at instant slot of job jobID (SPEC §1.4).
func FireID(jobID string, slot time.Time) string {
	h := sha256.Sum256([]byte(jobID + "|" + FormatTime(slot)))
	return PrefixFire + deterministicULID(uint64(slot.UnixMilli()), h)
}

// FormatTime formats t as the API does (SPEC §1.3): UTC, RFC 3339 with the fraction printed
// only when non-zero and without trailing zeros.
func FormatTime(t time.Time) string { return t.UTC().Format(time.RFC3339Nano) }
