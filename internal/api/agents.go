package api

import (
	"encoding/json"
	"errors"
	"net/http"
	"sort"

	"github.com/agh-dev/agh/internal/store"
)

type agentJSON struct {
	Name           string   `json:"name"`
	Driver         string   `json:"driver"`
	Preset         string   `json:"preset,omitempty"`
	Command        []string `json:"command"`
	EnvKeys        []string `json:"env_keys"`
	Permissions    string   `json:"permissions,omitempty"`
	Timeout        string   `json:"timeout"`
	MaxOutputBytes int      `json:"max_output_bytes"`
}

func (s *Server) listAgents(w http.ResponseWriter, r *http.Request) {
	cfg := s.svc.Config()
	out := []agentJSON{}
	for _, a := range cfg.Agents {
		keys := []string{}
		for k := range a.Env {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		timeout := a.TimeoutText
		if timeout == "" {
			timeout = a.Timeout.String()
		}
		out = append(out, agentJSON{Name: a.Name, Driver: a.Driver, Preset: a.Preset, Command: a.Command,
			EnvKeys: keys, Permissions: a.Permissions, Timeout: timeout, MaxOutputBytes: a.MaxOutputBytes})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	writeJSON(w, 200, map[string]any{"agents": out})
}

func (s *Server) getTranscript(w http.ResponseWriter, r *http.Request) error {
	run, err := s.svc.GetRun(r.Context(), r.PathValue("id"))
	if err != nil {
		return err
	}
	id, agentName := run.ID, run.AgentName
	if run.TaskRunID != "" {
		// A delegated run shows its task run's transcript; human tasks have none.
		id, agentName = run.TaskRunID, ""
		if tr, err := s.svc.Store.GetTaskRun(r.Context(), run.TaskRunID); err == nil {
			agentName = tr.AgentName
		}
	}
	doc, err := s.svc.Store.GetTranscript(r.Context(), id)
	if errors.Is(err, store.ErrNotFound) {
		empty := map[string]any{"run_id": run.ID, "truncated": false, "entries": []any{}}
		if agentName != "" {
			empty["agent_name"], empty["driver"] = agentName, s.driverOf(agentName)
		}
		if run.SessionID != "" {
			empty["session_id"] = run.SessionID
		}
		writeJSON(w, 200, map[string]any{"transcript": empty})
		return nil
	} else if err != nil {
		return err
	}
	writeJSON(w, 200, map[string]any{"transcript": json.RawMessage(doc)})
	return nil
}

func (s *Server) driverOf(agentName string) string {
	if a, ok := s.svc.Config().Agents[agentName]; ok {
		return a.Driver
	}
	return "exec"
}
