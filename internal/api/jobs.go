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

func (s *Server) listJobs(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	scope, err := parseEnum(q, "scope", automation.ScopeGlobal, automation.ScopeWorkspace)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	source, err := parseEnum(q, "source", automation.SourceConfig, automation.SourceDynamic)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	limit, err := parseLimit(q)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	filter := filterHash("jobs", scope, q.Get("workspace_id"), source)
	key, err := decodeCursor(q, filter, 2)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	jq := store.JobQuery{Scope: scope, WorkspaceID: q.Get("workspace_id"), Source: source, Limit: limit + 1}
	if key != nil {
		jq.AfterName, jq.AfterID = key[0], key[1]
	}
	recs, err := s.svc.ListJobs(r.Context(), jq)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	writePage(w, "jobs", recs, limit, filter,
		func(rec store.JobRecord) []string { return []string{rec.Job.Name, rec.Job.ID} }, s.jobJSON)
}

func (s *Server) createJob(w http.ResponseWriter, r *http.Request) {
	m, err := decodeBody(w, r)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	in, err := automation.DecodeJob("job", m, false)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	rec, err := s.svc.CreateJob(r.Context(), in)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	w.Header().Set("Location", "/api/automation/jobs/"+rec.Job.ID)
	writeJSON(w, http.StatusCreated, map[string]any{"job": s.jobJSON(rec)})
}

func (s *Server) getJob(w http.ResponseWriter, r *http.Request) {
	rec, err := s.svc.GetJob(r.Context(), r.PathValue("id"))
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, 200, map[string]any{"job": s.jobJSON(rec)})
}

func (s *Server) patchJob(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	if _, err := s.svc.GetJob(r.Context(), id); err != nil {
		s.writeError(w, r, err)
		return
	}
	m, err := decodeBody(w, r)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	in, err := automation.DecodeJob("job", m, true)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	rec, err := s.svc.PatchJob(r.Context(), id, in)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, 200, map[string]any{"job": s.jobJSON(rec)})
}

func (s *Server) deleteJob(w http.ResponseWriter, r *http.Request) {
	if err := s.svc.DeleteJob(r.Context(), r.PathValue("id"), false); err != nil {
		s.writeError(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func (s *Server) triggerJob(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	// An unknown job is a 404 even when the body is also wrong. With a good body the admission
	// transaction reports the unknown job itself, so the hot path reads the job once.
	if err := emptyBody(w, r, "job"); err != nil {
		if _, gerr := s.svc.GetJob(r.Context(), id); gerr != nil {
			err = gerr
		}
		s.writeError(w, r, err)
		return
	}
	run, err := s.svc.TriggerJob(r.Context(), id)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, 200, map[string]any{"run": wire.FromRun(run)})
}

func (s *Server) listJobRuns(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	if _, err := s.svc.GetJob(r.Context(), id); err != nil {
		s.writeError(w, r, err)
		return
	}
	s.serveRuns(w, r, store.RunQuery{JobID: id}, false)
}

func (s *Server) listRuns(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	s.serveRuns(w, r, store.RunQuery{JobID: q.Get("job_id"), TriggerID: q.Get("trigger_id")}, true)
}

func (s *Server) serveRuns(w http.ResponseWriter, r *http.Request, rq store.RunQuery, global bool) {
	q := r.URL.Query()
	var err error
	if rq.Status, err = parseEnum(q, "status", automation.RunStatuses...); err != nil {
		s.writeError(w, r, err)
		return
	}
	if rq.Since, err = parseTimeParam(q, "since"); err != nil {
		s.writeError(w, r, err)
		return
	}
	if rq.Until, err = parseTimeParam(q, "until"); err != nil {
		s.writeError(w, r, err)
		return
	}
	if !rq.Since.IsZero() && !rq.Until.IsZero() && rq.Until.Before(rq.Since) {
		s.writeError(w, r, automation.Invalid("until must not be earlier than since"))
		return
	}
	limit, err := parseLimit(q)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	rq.FireID = q.Get("fire_id")
	filter := filterHash("runs", rq.JobID, rq.TriggerID, rq.Status, rq.FireID, q.Get("since"), q.Get("until"))
	key, err := decodeCursor(q, filter, 2)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	if key != nil {
		if rq.BeforeStartedAt, err = parseTimeKey(key[0]); err != nil {
			s.writeError(w, r, err)
			return
		}
		rq.BeforeID = key[1]
	}
	rq.Limit = limit + 1
	runs, err := s.svc.Store.ListRuns(r.Context(), rq)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	writePage(w, "runs", runs, limit, filter,
		func(r *automation.Run) []string { return []string{timeKey(r.StartedAt), r.ID} }, wire.FromRun)
}

func (s *Server) getRun(w http.ResponseWriter, r *http.Request) {
	run, err := s.svc.GetRun(r.Context(), r.PathValue("id"))
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, 200, map[string]any{"run": wire.FromRun(run)})
}

func (s *Server) cancelRun(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	if _, err := s.svc.GetRun(r.Context(), id); err != nil {
		s.writeError(w, r, err)
		return
	}
	if err := emptyBody(w, r, "run"); err != nil {
		s.writeError(w, r, err)
		return
	}
	run, err := s.svc.CancelRun(r.Context(), id)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, 200, map[string]any{"run": wire.FromRun(run)})
}

func (s *Server) listSlots(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	if _, err := s.svc.GetJob(r.Context(), id); err != nil {
		s.writeError(w, r, err)
		return
	}
	q := r.URL.Query()
	limit, err := parseLimit(q)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	filter := filterHash("slots", id)
	key, err := decodeCursor(q, filter, 2)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	lq := store.LedgerQuery{JobID: id, Limit: limit + 1}
	if key != nil {
		if lq.BeforeSlot, err = parseTimeKey(key[0]); err != nil {
			s.writeError(w, r, err)
			return
		}
		if lq.BeforeSeq, err = strconv.ParseInt(key[1], 10, 64); err != nil {
			s.writeError(w, r, automation.Invalid("cursor is invalid"))
			return
		}
	}
	entries, err := s.svc.Store.ListLedger(r.Context(), lq)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	writePage(w, "slots", entries, limit, filter,
		func(e automation.LedgerEntry) []string {
			return []string{timeKey(e.SlotAt), strconv.FormatInt(e.Seq, 10)}
		},
		func(e automation.LedgerEntry) wire.LedgerEntry { return wire.FromLedger(&e) })
}

func (s *Server) previewJob(w http.ResponseWriter, r *http.Request) {
	rec, err := s.svc.GetJob(r.Context(), r.PathValue("id"))
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	count := 10
	if v := r.URL.Query().Get("count"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 100 {
			s.writeError(w, r, automation.Invalid("count must be an integer between 1 and 100: %q", v))
			return
		}
		count = n
	}
	tz := s.svc.Config().Automation.Timezone
	spec, err := scheduler.SpecOf(rec.Job, tz, rec.Cursor.AnchorAt)
	if err != nil {
		s.writeError(w, r, err)
		return
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
}
