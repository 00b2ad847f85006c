package api

import (
	"net/http"
	"strconv"

	"github.com/agh-dev/agh/internal/automation"
	"github.com/agh-dev/agh/internal/scheduler"
	"github.com/agh-dev/agh/internal/store"
	"github.com/agh-dev/agh/internal/wire"
)

func (s *Server) jobJSON(rec store.JobRecord) wire.Job {
	return wire.FromJob(rec.Job, rec.Cursor, s.svc.Config().Automation.Enabled)
}

func (s *Server) listJobs(w http.ResponseWriter, r *http.Request) error {
	q := r.URL.Query()
	scope, err := parseEnum(q, "scope", automation.ScopeGlobal, automation.ScopeWorkspace)
	if err != nil {
		return err
	}
	source, err := parseEnum(q, "source", automation.SourceConfig, automation.SourceDynamic)
	if err != nil {
		return err
	}
	limit, err := parseLimit(q)
	if err != nil {
		return err
	}
	filter := filterHash("jobs", scope, q.Get("workspace_id"), source)
	key, err := decodeCursor(q, filter, 2)
	if err != nil {
		return err
	}
	jq := store.JobQuery{Scope: scope, WorkspaceID: q.Get("workspace_id"), Source: source, Limit: limit + 1}
	if key != nil {
		jq.AfterName, jq.AfterID = key[0], key[1]
	}
	recs, err := s.svc.ListJobs(r.Context(), jq)
	if err != nil {
		return err
	}
	writePage(w, "jobs", recs, limit, filter,
		func(rec store.JobRecord) []string { return []string{rec.Job.Name, rec.Job.ID} }, s.jobJSON)
	return nil
}

func (s *Server) createJob(w http.ResponseWriter, r *http.Request) error {
	m, err := decodeBody(w, r)
	if err != nil {
		return err
	}
	in, err := automation.DecodeJob("job", m, false)
	if err != nil {
		return err
	}
	rec, err := s.svc.CreateJob(r.Context(), in)
	if err != nil {
		return err
	}
	w.Header().Set("Location", "/api/automation/jobs/"+rec.Job.ID)
	writeJSON(w, http.StatusCreated, map[string]any{"job": s.jobJSON(rec)})
	return nil
}

func (s *Server) getJob(w http.ResponseWriter, r *http.Request) error {
	rec, err := s.svc.GetJob(r.Context(), r.PathValue("id"))
	if err != nil {
		return err
	}
	writeJSON(w, 200, map[string]any{"job": s.jobJSON(rec)})
	return nil
}

func (s *Server) patchJob(w http.ResponseWriter, r *http.Request) error {
	id := r.PathValue("id")
	if _, err := s.svc.GetJob(r.Context(), id); err != nil {
		return err
	}
	m, err := decodeBody(w, r)
	if err != nil {
		return err
	}
	in, err := automation.DecodeJob("job", m, true)
	if err != nil {
		return err
	}
	rec, err := s.svc.PatchJob(r.Context(), id, in)
	if err != nil {
		return err
	}
	writeJSON(w, 200, map[string]any{"job": s.jobJSON(rec)})
	return nil
}

func (s *Server) deleteJob(w http.ResponseWriter, r *http.Request) error {
	if err := s.svc.DeleteJob(r.Context(), r.PathValue("id"), false); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (s *Server) triggerJob(w http.ResponseWriter, r *http.Request) error {
	id := r.PathValue("id")
	// An unknown job is a 404 even when the body is also wrong. With a good body the admission
	// transaction reports the unknown job itself, so the hot path reads the job once.
	if err := emptyBody(w, r, "job"); err != nil {
		if _, gerr := s.svc.GetJob(r.Context(), id); gerr != nil {
			err = gerr
		}
		return err
	}
	run, err := s.svc.TriggerJob(r.Context(), id)
	if err != nil {
		return err
	}
	writeJSON(w, 200, map[string]any{"run": wire.FromRun(run)})
	return nil
}

func (s *Server) listJobRuns(w http.ResponseWriter, r *http.Request) error {
	id := r.PathValue("id")
	if _, err := s.svc.GetJob(r.Context(), id); err != nil {
		return err
	}
	return s.serveRuns(w, r, store.RunQuery{JobID: id}, false)
}

func (s *Server) listRuns(w http.ResponseWriter, r *http.Request) error {
	q := r.URL.Query()
	return s.serveRuns(w, r, store.RunQuery{JobID: q.Get("job_id"), TriggerID: q.Get("trigger_id")}, true)
}

func (s *Server) serveRuns(w http.ResponseWriter, r *http.Request, rq store.RunQuery, global bool) error {
	q := r.URL.Query()
	var err error
	if rq.Status, err = parseEnum(q, "status", automation.RunStatuses...); err != nil {
		return err
	}
	if rq.Since, err = parseTimeParam(q, "since"); err != nil {
		return err
	}
	if rq.Until, err = parseTimeParam(q, "until"); err != nil {
		return err
	}
	if !rq.Since.IsZero() && !rq.Until.IsZero() && rq.Until.Before(rq.Since) {
		return automation.Invalid("until must not be earlier than since")
	}
	limit, err := parseLimit(q)
	if err != nil {
		return err
	}
	rq.FireID = q.Get("fire_id")
	filter := filterHash("runs", rq.JobID, rq.TriggerID, rq.Status, rq.FireID, q.Get("since"), q.Get("until"))
	key, err := decodeCursor(q, filter, 2)
	if err != nil {
		return err
	}
	if key != nil {
		if rq.BeforeStartedAt, err = parseTimeKey(key[0]); err != nil {
			return err
		}
		rq.BeforeID = key[1]
	}
	rq.Limit = limit + 1
	runs, err := s.svc.Store.ListRuns(r.Context(), rq)
	if err != nil {
		return err
	}
	writePage(w, "runs", runs, limit, filter,
		func(r *automation.Run) []string { return []string{timeKey(r.StartedAt), r.ID} }, wire.FromRun)
	return nil
}

func (s *Server) getRun(w http.ResponseWriter, r *http.Request) error {
	run, err := s.svc.GetRun(r.Context(), r.PathValue("id"))
	if err != nil {
		return err
	}
	writeJSON(w, 200, map[string]any{"run": wire.FromRun(run)})
	return nil
}

func (s *Server) cancelRun(w http.ResponseWriter, r *http.Request) error {
	id := r.PathValue("id")
	if _, err := s.svc.GetRun(r.Context(), id); err != nil {
		return err
	}
	if err := emptyBody(w, r, "run"); err != nil {
		return err
	}
	run, err := s.svc.CancelRun(r.Context(), id)
	if err != nil {
		return err
	}
	writeJSON(w, 200, map[string]any{"run": wire.FromRun(run)})
	return nil
}

func (s *Server) listSlots(w http.ResponseWriter, r *http.Request) error {
	id := r.PathValue("id")
	if _, err := s.svc.GetJob(r.Context(), id); err != nil {
		return err
	}
	q := r.URL.Query()
	limit, err := parseLimit(q)
	if err != nil {
		return err
	}
	filter := filterHash("slots", id)
	key, err := decodeCursor(q, filter, 2)
	if err != nil {
		return err
	}
	lq := store.LedgerQuery{JobID: id, Limit: limit + 1}
	if key != nil {
		if lq.BeforeSlot, err = parseTimeKey(key[0]); err != nil {
			return err
		}
		if lq.BeforeSeq, err = strconv.ParseInt(key[1], 10, 64); err != nil {
			return automation.Invalid("cursor is invalid")
		}
	}
	entries, err := s.svc.Store.ListLedger(r.Context(), lq)
	if err != nil {
		return err
	}
	writePage(w, "slots", entries, limit, filter,
		func(e automation.LedgerEntry) []string {
			return []string{timeKey(e.SlotAt), strconv.FormatInt(e.Seq, 10)}
		},
		func(e automation.LedgerEntry) wire.LedgerEntry { return wire.FromLedger(&e) })
	return nil
}

func (s *Server) previewJob(w http.ResponseWriter, r *http.Request) error {
	rec, err := s.svc.GetJob(r.Context(), r.PathValue("id"))
	if err != nil {
		return err
	}
	count := 10
	if v := r.URL.Query().Get("count"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 100 {
			return automation.Invalid("count must be an integer between 1 and 100: %q", v)
		}
		count = n
	}
	tz := s.svc.Config().Automation.Timezone
	spec, err := scheduler.SpecOf(rec.Job, tz, rec.Cursor.AnchorAt)
	if err != nil {
		return err
	}
	p := wire.Preview{JobID: rec.Job.ID, Timezone: rec.Cursor.Timezone, Enabled: rec.Job.Enabled, Fires: []wire.PreviewItem{}}
	after := s.clock.Now()
	if rec.Job.Schedule.Mode == automation.ModeAt && !rec.Cursor.LastScheduledAt.IsZero() {
		after = maxT(after, rec.Cursor.LastScheduledAt)
	}
	for len(p.Fires) < count {
		sl, ok := spec.Next(after)
		if !ok {
			break
		}
		item := wire.PreviewItem{At: wire.Time(sl.At), Local: sl.Local.Format("2006-01-02T15:04:05.999999999Z07:00"), DST: sl.DST}
		if !sl.Nominal.IsZero() {
			item.NominalLocal = sl.Nominal.Format("2006-01-02T15:04:05")
		}
		p.Fires = append(p.Fires, item)
		after = sl.At
	}
	writeJSON(w, 200, map[string]any{"preview": p})
	return nil
}
