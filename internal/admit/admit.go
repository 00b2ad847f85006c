// Package admit is the single atomic step that turns an activation into a run (SPEC §7.1):
// overlap policy, then fire limit, then the insert, all inside one store transaction that has
// locked the definition.
package admit

import (
	"time"

	"github.com/agh-dev/agh/internal/automation"
	"github.com/agh-dev/agh/internal/store"
)

// Policy is the part of a definition admission reads.
type Policy struct {
	DefinitionID string
	Overlap      string
	FireLimit    automation.FireLimit
}

// Refusal reasons.
const (
	RefusedOverlap   = "overlap"
	RefusedFireLimit = "fire_limit"
)

// Result is the outcome of one admission.
type Result struct {
	// Run is the inserted run; nil when refused.
	Run *automation.Run
	// Refused is "", RefusedOverlap or RefusedFireLimit.
	Refused string
	// ActiveRunIDs lists the active runs that caused an overlap refusal.
	ActiveRunIDs []string
	// FireLimit describes a fire-limit refusal.
	FireLimit *automation.FireLimitedError
	// Superseded are the runs canceled by cancel_previous in the same transaction; their
	// processes must be terminated after commit.
	Superseded []*automation.Run
}

// Admit applies the overlap policy and the fire limit to a new fire (attempt 1) and inserts run
// when both allow it. run must be fully populated (id, fire id, times, status). The caller has
// locked the definition row in tx.
func Admit(tx store.Tx, p Policy, run *automation.Run, now time.Time) (Result, error) {
	var res Result
	var active []*automation.Run
	if p.Overlap == automation.OverlapSkip || p.Overlap == automation.OverlapCancelPrevious {
		var err error
		if active, err = tx.ActiveRuns(p.DefinitionID); err != nil {
			return res, err
		}
	}
	if p.Overlap == automation.OverlapSkip && len(active) > 0 {
		res.Refused = RefusedOverlap
		for _, r := range active {
			res.ActiveRunIDs = append(res.ActiveRunIDs, r.ID)
		}
		return res, nil
	}
	if err := CheckFireLimit(tx, p, now, &res); err != nil || res.Refused != "" {
		return res, err
	}
	if err := tx.InsertRun(run); err != nil {
		return res, err
	}
	res.Run = run
	if p.Overlap == automation.OverlapCancelPrevious {
		for _, r := range active {
			prev := r.Status
			c := *r
			c.Status = automation.RunCanceled
			c.EndedAt = now
			c.Error = "superseded by " + run.ID
			c.ErrorCode = automation.CodeSuperseded
			if c.DispatchedAt.IsZero() {
				c.StopReason = ""
			} else {
				c.StopReason = "cancelled"
			}
			ok, err := tx.UpdateRun(&c, prev)
			if err != nil {
				return res, err
			}
			if ok {
				res.Superseded = append(res.Superseded, &c)
			}
		}
	}
	return res, nil
}

// fireBounder is implemented by stores that can prove cheaply that a definition is below its
// fire limit (SQLite: an in-memory upper bound maintained by the single writer). A false answer
// means "unknown": the exact count decides.
type fireBounder interface {
	FireCountBelow(definitionID string, since, until time.Time, max int) bool
}

// CheckFireLimit sets res.Refused and res.FireLimit when the definition's fire limit is
// reached at now (SPEC §7.4).
func CheckFireLimit(tx store.Tx, p Policy, now time.Time, res *Result) error {
	window := p.FireLimit.WindowDuration()
	if b, ok := tx.(fireBounder); ok && b.FireCountBelow(p.DefinitionID, now.Add(-window), now, p.FireLimit.Max) {
		return nil
	}
	n, earliest, err := tx.CountFires(p.DefinitionID, now.Add(-window), now)
	if err != nil {
		return err
	}
	if n >= p.FireLimit.Max {
		res.Refused = RefusedFireLimit
		res.FireLimit = &automation.FireLimitedError{Count: n, Max: p.FireLimit.Max, Window: window, RetryAt: earliest.Add(window)}
	}
	return nil
}
