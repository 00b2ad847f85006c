package harness

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"time"

	"github.com/agh-dev/agh/internal/automation"
	"github.com/agh-dev/agh/internal/clock"
	"github.com/agh-dev/agh/internal/config"
	"github.com/agh-dev/agh/internal/scheduler"
	"github.com/agh-dev/agh/internal/service"
	"github.com/agh-dev/agh/internal/store"
	"github.com/agh-dev/agh/internal/store/sqlite"
)

// Seeder inserts definitions and runs straight through the store, many per Write, building
// each job exactly as service.CreateJob does (decode, defaults, validation, cursor).
type Seeder struct {
	St  store.Store
	svc *service.Service
	// SpreadEvery, when set, moves the anchor of the i-th of n `every` jobs to
	// now + 1s + i*SpreadEvery/n, so that their slots are spread evenly instead of all
	// falling within the few milliseconds it takes to build the batch.
	SpreadEvery time.Duration
}

// OpenSeeder opens (creating) <dir>/agh.db with the configuration in toml (for agent names
// and defaults). Close it before a daemon opens the directory.
func OpenSeeder(dir, toml string) (*Seeder, *sqlite.Store, error) {
	if err := WriteConfig(dir, toml); err != nil {
		return nil, nil, err
	}
	cfg, err := config.Parse([]byte(toml), os.Getenv, time.Now())
	if err != nil {
		return nil, nil, err
	}
	st, err := sqlite.Open(context.Background(), filepath.Join(dir, "agh.db"), sqlite.Options{})
	if err != nil {
		return nil, nil, err
	}
	return NewSeeder(st, cfg), st, nil
}

// NewSeeder returns a seeder over st.
func NewSeeder(st store.Store, cfg *config.Config) *Seeder {
	return &Seeder{St: st, svc: service.New(st, clock.Real{}, cfg)}
}

// BuildJob validates a create body (JSON) into a job with its cursor and ledger, as
// service.CreateJob does.
func (s *Seeder) BuildJob(ctx context.Context, body string) (*automation.Job, *automation.Cursor, []*automation.LedgerEntry, error) {
	m, err := automation.DecodeJSONObject([]byte(body))
	if err != nil {
		return nil, nil, nil, err
	}
	in, err := automation.DecodeJob("job", m, false)
	if err != nil {
		return nil, nil, nil, err
	}
	job, err := automation.NewJob(in, s.svc.Env(ctx))
	if err != nil {
		return nil, nil, nil, err
	}
	now := time.Now().UTC()
	job.ID = automation.NewID(automation.PrefixJob, now)
	job.CreatedAt, job.UpdatedAt = now, now
	cur, ledger, err := scheduler.NewCursor(job, now, s.svc.Config().Automation.Timezone)
	return job, cur, ledger, err
}

// Jobs inserts n jobs whose create body is body(i), batch per Write, and returns their ids.
func (s *Seeder) Jobs(ctx context.Context, n, batch int, body func(i int) string) ([]string, error) {
	ids := make([]string, 0, n)
	for lo := 0; lo < n; lo += batch {
		hi := min(n, lo+batch)
		type rec struct {
			j *automation.Job
			c *automation.Cursor
			l []*automation.LedgerEntry
		}
		recs := make([]rec, 0, hi-lo)
		for i := lo; i < hi; i++ {
			j, c, l, err := s.BuildJob(ctx, body(i))
			if err != nil {
				return nil, fmt.Errorf("job %d: %w", i, err)
			}
			if s.SpreadEvery > 0 && j.Schedule.Mode == automation.ModeEvery {
				c.AnchorAt = c.AccountedUntil.Add(time.Second + time.Duration(i)*s.SpreadEvery/time.Duration(n))
				spec, err := scheduler.SpecOf(j, s.svc.Config().Automation.Timezone, c.AnchorAt)
				if err != nil {
					return nil, err
				}
				if sl, ok := spec.Next(c.AccountedUntil); ok {
					c.NextRunAt = sl.At.UTC()
				}
			}
			recs = append(recs, rec{j, c, l})
		}
		err := s.St.Write(ctx, func(tx store.Tx) error {
			for _, r := range recs {
				if err := tx.InsertJob(r.j, r.c); err != nil {
					return err
				}
				for _, e := range r.l {
					if err := tx.InsertLedgerEntry(e); err != nil {
						return err
					}
				}
			}
			return nil
		})
		if err != nil {
			return nil, err
		}
		for _, r := range recs {
			ids = append(ids, r.j.ID)
		}
	}
	return ids, nil
}

// RunSeed describes synthetic history.
type RunSeed struct {
	N      int
	Batch  int      // runs per Write
	JobIDs []string // runs are spread evenly over these job ids
	Span   time.Duration
	End    time.Time // started_at is spread over (End-Span, End]
	// Status picks a terminal status for run i; nil = 85% completed, 11% failed, 4% canceled.
	Status func(r *rand.Rand) string
}

// Runs inserts terminal runs (completed/failed/canceled) with started_at spread over the
// span, in job order round robin, batch per Write.
func (s *Seeder) Runs(ctx context.Context, rs RunSeed, progress func(done int)) error {
	if rs.Status == nil {
		rs.Status = func(r *rand.Rand) string {
			switch x := r.IntN(100); {
			case x < 85:
				return automation.RunCompleted
			case x < 96:
				return automation.RunFailed
			default:
				return automation.RunCanceled
			}
		}
	}
	rng := rand.New(rand.NewPCG(1, 2))
	step := rs.Span / time.Duration(rs.N)
	start := rs.End.Add(-rs.Span)
	for lo := 0; lo < rs.N; lo += rs.Batch {
		hi := min(rs.N, lo+rs.Batch)
		runs := make([]*automation.Run, 0, hi-lo)
		for i := lo; i < hi; i++ {
			started := start.Add(time.Duration(i+1) * step).UTC()
			job := rs.JobIDs[i%len(rs.JobIDs)]
			st := rs.Status(rng)
			r := &automation.Run{
				ID: automation.NewID(automation.PrefixRun, started), JobID: job, Status: st, Attempt: 1,
				FireID: automation.NewID(automation.PrefixFire, started), ScheduledAt: started, StartedAt: started,
				DispatchedAt: started.Add(5 * time.Millisecond), EndedAt: started.Add(30 * time.Second),
				Origin: automation.OriginSchedule, AgentName: "echo", Scope: automation.ScopeGlobal, Depth: 1,
				SessionID: "ses_" + automation.NewULID(started), NodeID: "bench", StopReason: "end_turn",
				Prompt: "summarize the repository and open an issue for anything broken",
			}
			if st == automation.RunFailed {
				r.Error, r.ErrorCode, r.StopReason = "exit status 1: boom", "agent_error", ""
			}
			if st == automation.RunCanceled {
				r.Error, r.ErrorCode, r.StopReason = "canceled by request", "canceled", "cancelled"
			}
			runs = append(runs, r)
		}
		err := s.St.Write(ctx, func(tx store.Tx) error {
			for _, r := range runs {
				if err := tx.InsertRun(r); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			return err
		}
		if progress != nil {
			progress(hi)
		}
	}
	return nil
}
