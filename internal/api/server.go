package api

import (
	"context"
	"log/slog"
	"net/http"
	"sort"
	"strings"
	"sync/atomic"
	"time"

	"github.com/agh-dev/agh/internal/automation"
	"github.com/agh-dev/agh/internal/clock"
	"github.com/agh-dev/agh/internal/service"
	"github.com/agh-dev/agh/internal/wire"
)

// Version is the product version reported by /api/status.
var Version = "0.1.0"

// StatusSource supplies the live parts of GET /api/status.
type StatusSource interface {
	SchedulerRunning() bool
	NextFire() (time.Time, bool)
	LastReloadError() string
}

// Server is the HTTP API.
type Server struct {
	svc       *service.Service
	clock     clock.Clock
	log       *slog.Logger
	status    StatusSource
	startedAt time.Time
	mux       *http.ServeMux
	stopping  atomic.Bool
	limiter   rateLimiter
	// Broker feeds the change stream.
	Broker Broker
	// OpenAPI is the served openapi.json document.
	OpenAPI []byte
}

// New builds the API server.
func New(svc *service.Service, clk clock.Clock, log *slog.Logger, status StatusSource, openapi []byte) *Server {
	s := &Server{svc: svc, clock: clk, log: log, status: status, startedAt: clk.Now(), mux: http.NewServeMux(), OpenAPI: openapi}
	s.routes()
	return s
}

// SetMetricsHandler serves h at GET /metrics (a management route).
func (s *Server) SetMetricsHandler(h http.Handler) {
	s.handle("/metrics", false, map[string]handler{"GET": served(h.ServeHTTP)})
}

// SetConsole serves the web console (SPEC §16.5): h answers GET and HEAD at each of paths ("/"
// and the asset paths) with the headers of SPEC §14.2. Console paths are not management routes
// (no token); every other path keeps the JSON 404.
func (s *Server) SetConsole(h http.Handler, paths []string) {
	get := func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Security-Policy", "default-src 'self'")
		w.Header().Set("X-Frame-Options", "DENY")
		h.ServeHTTP(w, r)
	}
	for _, p := range paths {
		if p == "/" {
			p = "/{$}" // exactly "/", not the catch-all
		}
		s.handle(p, false, map[string]handler{"GET": served(get)})
	}
}

type routeSlotKey struct{}

// WithRouteSlot prepares r so that the matched route pattern can be read after serving it
// (for metrics labels).
func WithRouteSlot(r *http.Request) (*http.Request, func() string) {
	slot := new(string)
	return r.WithContext(context.WithValue(r.Context(), routeSlotKey{}, slot)), func() string { return *slot }
}

// SetStopping makes new requests answer 503 shutting down.
func (s *Server) SetStopping() { s.stopping.Store(true) }

// handler serves one method of a route. It either writes the whole response and returns nil,
// or writes nothing and returns the error to answer with: writeError maps it to the status,
// code and body of SPEC §4.1.
type handler func(w http.ResponseWriter, r *http.Request) error

// served adapts a handler that answers every request itself.
func served(h http.HandlerFunc) handler {
	return func(w http.ResponseWriter, r *http.Request) error {
		h(w, r)
		return nil
	}
}

type route struct {
	methods map[string]handler
	// automation marks routes that answer 503 when automation is disabled.
	automation bool
}

func (s *Server) handle(pattern string, automationRoute bool, methods map[string]handler) {
	rt := &route{methods: methods, automation: automationRoute}
	s.mux.HandleFunc(pattern, func(w http.ResponseWriter, r *http.Request) {
		if slot, ok := r.Context().Value(routeSlotKey{}).(*string); ok {
			*slot = pattern
		}
		h, ok := rt.methods[r.Method]
		if !ok && r.Method == http.MethodHead {
			h, ok = rt.methods[http.MethodGet]
		}
		if !ok {
			allow := make([]string, 0, len(rt.methods))
			for m := range rt.methods {
				allow = append(allow, m)
			}
			sort.Strings(allow)
			w.Header().Set("Allow", strings.Join(allow, ", "))
			s.writeError(w, r, &apiError{status: 405, code: "method_not_allowed", message: "method not allowed"})
			return
		}
		if rt.automation && !s.svc.Config().Automation.Enabled {
			s.writeError(w, r, errUnavailable("automation is disabled"))
			return
		}
		if err := h(w, r); err != nil {
			s.writeError(w, r, err)
		}
	})
}

func (s *Server) routes() {
	s.handle("/api/status", false, map[string]handler{"GET": s.getStatus})
	s.handle("/api/openapi.json", false, map[string]handler{"GET": served(s.getOpenAPI)})
	s.handle("/api/automation/jobs", true, map[string]handler{"GET": s.listJobs, "POST": s.createJob})
	s.handle("/api/automation/jobs/{id}", true, map[string]handler{"GET": s.getJob, "PATCH": s.patchJob, "DELETE": s.deleteJob})
	s.handle("/api/automation/jobs/{id}/runs", true, map[string]handler{"GET": s.listJobRuns})
	s.handle("/api/automation/jobs/{id}/trigger", true, map[string]handler{"POST": s.triggerJob})
	s.handle("/api/automation/jobs/{id}/slots", true, map[string]handler{"GET": s.listSlots})
	s.handle("/api/automation/jobs/{id}/preview", true, map[string]handler{"GET": s.previewJob})
	s.handle("/api/automation/triggers", true, map[string]handler{"GET": s.listTriggers, "POST": s.createTrigger})
	s.handle("/api/automation/triggers/{id}", true, map[string]handler{"GET": s.getTrigger, "PATCH": s.patchTrigger, "DELETE": s.deleteTrigger})
	s.handle("/api/automation/triggers/{id}/runs", true, map[string]handler{"GET": s.listTriggerRuns})
	s.handle("/api/automation/triggers/{id}/deliveries", true, map[string]handler{"GET": s.listDeliveries})
	s.handle("/api/webhooks/global/{endpoint}", true, map[string]handler{"POST": s.deliverWebhook(automation.ScopeGlobal)})
	s.handle("/api/webhooks/workspaces/{workspace}/{endpoint}", true, map[string]handler{"POST": s.deliverWebhook(automation.ScopeWorkspace)})
	s.handle("/api/events", true, map[string]handler{"POST": s.publishEvent})
	s.handle("/api/automation/stream", true, map[string]handler{"GET": served(s.stream)})
	s.handle("/api/automation/runs", true, map[string]handler{"GET": s.listRuns})
	s.handle("/api/automation/runs/{id}", true, map[string]handler{"GET": s.getRun})
	s.handle("/api/automation/runs/{id}/cancel", true, map[string]handler{"POST": s.cancelRun})
	s.handle("/api/automation/runs/{id}/transcript", true, map[string]handler{"GET": s.getTranscript})
	s.handle("/api/tasks", true, map[string]handler{"GET": s.listTasks})
	s.handle("/api/tasks/{id}", true, map[string]handler{"GET": s.getTask})
	s.handle("/api/tasks/{id}/complete", true, map[string]handler{"POST": s.completeTask})
	s.handle("/api/tasks/{id}/cancel", true, map[string]handler{"POST": s.cancelTask})
	s.handle("/api/agents", false, map[string]handler{"GET": served(s.listAgents)})
	s.handle("/api/workspaces", false, map[string]handler{"GET": s.listWorkspaces, "POST": s.createWorkspace})
	s.handle("/api/workspaces/{id}", false, map[string]handler{"GET": s.getWorkspace, "DELETE": s.deleteWorkspace})
	s.mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		s.writeError(w, r, errNotFound("not found"))
	})
}

// ServeHTTP applies the request id, the shutdown gate and routing.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s.withRequestID(w, r, func(w http.ResponseWriter, r *http.Request) {
		if s.stopping.Load() {
			s.writeError(w, r, errUnavailable("shutting down"))
			return
		}
		s.mux.ServeHTTP(w, r)
	})
}

func (s *Server) withRequestID(w http.ResponseWriter, r *http.Request, next http.HandlerFunc) {
	if RequestID(r.Context()) != "" {
		next(w, r)
		return
	}
	id := r.Header.Get("X-Request-ID")
	if !clientRequestID.MatchString(id) {
		id = automation.NewULID(s.clock.Now())
	}
	w.Header().Set("X-Request-ID", id)
	next(w, r.WithContext(context.WithValue(r.Context(), requestIDKey, id)))
}

func (s *Server) getOpenAPI(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	_, _ = w.Write(s.OpenAPI)
}

func (s *Server) getStatus(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	cfg := s.svc.Config()
	st := wire.Status{
		Version: Version, NodeID: cfg.NodeID, Store: s.svc.Store.Kind(), StartedAt: wire.Time(s.startedAt),
		LastReloadError: s.status.LastReloadError(),
		Automation: wire.AutomationStatus{
			Enabled: cfg.Automation.Enabled, Paused: cfg.Automation.Paused,
			SchedulerRunning:  cfg.Automation.Enabled && s.status.SchedulerRunning() && !s.stopping.Load(),
			MaxConcurrentRuns: cfg.Automation.MaxConcurrentRuns,
			Runs:              map[string]int{"scheduled": 0, "running": 0},
		},
	}
	defs, err := s.svc.Store.CountDefinitions(ctx)
	if err != nil {
		return err
	}
	st.Automation.Jobs.Total, st.Automation.Jobs.Enabled = defs.Jobs, defs.EnabledJobs
	st.Automation.Triggers.Total, st.Automation.Triggers.Enabled = defs.Triggers, defs.EnabledTriggers
	counts, err := s.svc.Store.CountRunsByStatus(ctx)
	if err != nil {
		return err
	}
	st.Automation.Runs["scheduled"] = counts[automation.RunScheduled]
	st.Automation.Runs["running"] = counts[automation.RunRunning]
	if cfg.Automation.Enabled {
		if t, ok := s.status.NextFire(); ok {
			st.Automation.NextFire = wire.Time(t)
		}
	}
	writeJSON(w, 200, st)
	return nil
}
