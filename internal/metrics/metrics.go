// Package metrics defines agh's Prometheus metrics (SPEC §16.2). No label carries ids, names,
// paths, secrets or free text: route labels are route patterns.
package metrics

import (
	"context"
	"net/http"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/agh-dev/agh/internal/automation"
)

// Metrics holds the registry and every metric of the daemon.
type Metrics struct {
	Registry *prometheus.Registry

	runsTotal       *prometheus.CounterVec
	runsGauge       *prometheus.GaugeVec
	runDuration     *prometheus.HistogramVec
	dispatchLag     *prometheus.HistogramVec
	slotsTotal      *prometheus.CounterVec
	fireLimited     *prometheus.CounterVec
	overlapSkipped  *prometheus.CounterVec
	retries         prometheus.Counter
	loopGuard       prometheus.Counter
	reconcileFailed prometheus.Counter
	webhookTotal    *prometheus.CounterVec
	webhookDuration prometheus.Histogram
	deliveryDropped prometheus.Counter
	eventsTotal     *prometheus.CounterVec
	tasksTotal      *prometheus.CounterVec
	channelTotal    *prometheus.CounterVec
	httpTotal       *prometheus.CounterVec
	httpDuration    *prometheus.HistogramVec
	reloads         *prometheus.CounterVec
	storeLatency    *prometheus.HistogramVec
	clockSkew       prometheus.Gauge
	runs            RunCounter
}

// RunCounter reports the number of runs in a status (for the scheduled/running gauge).
type RunCounter func(ctx context.Context) (map[string]int, error)

// New registers every metric. version and store label agh_build_info.
func New(version, store string, runs RunCounter) *Metrics {
	r := prometheus.NewRegistry()
	r.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	m := &Metrics{Registry: r}
	f := func(c prometheus.Collector) { r.MustRegister(c) }
	build := prometheus.NewGauge(prometheus.GaugeOpts{Name: "agh_build_info", Help: "Build information (value 1).",
		ConstLabels: prometheus.Labels{"version": version, "store": store}})
	build.Set(1)
	f(build)
	m.runsTotal = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "agh_automation_runs_total", Help: "Runs that reached a terminal status."}, []string{"origin", "status"})
	m.runsGauge = prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "agh_automation_runs", Help: "Active runs by status (queue depth and running)."}, []string{"status"})
	buckets := []float64{.1, .5, 1, 5, 15, 60, 300, 900, 1800, 3600}
	m.runDuration = prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "agh_automation_run_duration_seconds", Help: "dispatched_at to ended_at.", Buckets: buckets}, []string{"origin", "status"})
	m.dispatchLag = prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "agh_automation_dispatch_lag_seconds", Help: "dispatched_at minus scheduled_at (fire lag).",
		Buckets: []float64{.001, .005, .01, .02, .05, .1, .5, 1, 5, 30}}, []string{"origin"})
	m.slotsTotal = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "agh_automation_slots_total", Help: "Schedule slots by ledger outcome."}, []string{"outcome", "reason"})
	m.fireLimited = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "agh_automation_fire_limited_total", Help: "Activations refused by a fire limit."}, []string{"origin"})
	m.overlapSkipped = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "agh_automation_overlap_skipped_total", Help: "Activations refused by overlap policy skip."}, []string{"origin"})
	m.retries = prometheus.NewCounter(prometheus.CounterOpts{Name: "agh_automation_retries_total", Help: "Retry attempts inserted."})
	m.loopGuard = prometheus.NewCounter(prometheus.CounterOpts{Name: "agh_automation_loop_guard_total", Help: "Envelopes not fired because of the loop guard."})
	m.reconcileFailed = prometheus.NewCounter(prometheus.CounterOpts{Name: "agh_scheduler_reconcile_failures_total", Help: "Reconciliations that failed to commit."})
	m.webhookTotal = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "agh_webhook_requests_total", Help: "Webhook requests by verification outcome."}, []string{"scheme", "outcome", "reason"})
	m.webhookDuration = prometheus.NewHistogram(prometheus.HistogramOpts{Name: "agh_webhook_request_duration_seconds", Help: "Webhook request handling time.",
		Buckets: []float64{.0005, .001, .002, .005, .01, .025, .05, .1, .5}})
	m.deliveryDropped = prometheus.NewCounter(prometheus.CounterOpts{Name: "agh_webhook_delivery_log_dropped_total",
		Help: "Delivery-log records of non-admitting deliveries dropped because the background queue was full."})
	m.eventsTotal = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "agh_events_total", Help: "Envelopes published."}, []string{"source"})
	m.tasksTotal = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "agh_tasks_total", Help: "Tasks that reached a final status."}, []string{"status"})
	m.channelTotal = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "agh_channel_notifications_total", Help: "Channel notifications by result."}, []string{"result"})
	m.httpTotal = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "agh_http_requests_total", Help: "HTTP requests."}, []string{"route", "method", "code"})
	m.httpDuration = prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "agh_http_request_duration_seconds", Help: "HTTP request duration.",
		Buckets: []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, 1}}, []string{"route", "method"})
	m.reloads = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "agh_config_reloads_total", Help: "Configuration reloads."}, []string{"result"})
	m.storeLatency = prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "agh_store_write_duration_seconds", Help: "Store write transaction latency, including group-commit wait.",
		Buckets: []float64{.0001, .0005, .001, .002, .005, .01, .025, .05, .1, .5}}, []string{"store"})
	m.clockSkew = prometheus.NewGauge(prometheus.GaugeOpts{Name: "agh_clock_skew_seconds", Help: "Node clock minus database clock (PostgreSQL only)."})
	for _, c := range []prometheus.Collector{m.runsTotal, m.runsGauge, m.runDuration, m.dispatchLag, m.slotsTotal, m.fireLimited,
		m.overlapSkipped, m.retries, m.loopGuard, m.reconcileFailed, m.webhookTotal, m.webhookDuration, m.deliveryDropped, m.eventsTotal,
		m.tasksTotal, m.channelTotal, m.httpTotal, m.httpDuration, m.reloads, m.storeLatency} {
		f(c)
	}
	if store == "postgres" {
		f(m.clockSkew)
	}
	m.runs = runs
	return m
}

// Handler serves the registry in the Prometheus text format, refreshing the run gauges first.
func (m *Metrics) Handler() http.Handler {
	h := promhttp.HandlerFor(m.Registry, promhttp.HandlerOpts{})
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if m.runs != nil {
			if counts, err := m.runs(r.Context()); err == nil {
				m.runsGauge.WithLabelValues(automation.RunScheduled).Set(float64(counts[automation.RunScheduled]))
				m.runsGauge.WithLabelValues(automation.RunRunning).Set(float64(counts[automation.RunRunning]))
			}
		}
		h.ServeHTTP(w, r)
	})
}

// RunTerminal records a run that reached a terminal status.
func (m *Metrics) RunTerminal(r *automation.Run) {
	m.runsTotal.WithLabelValues(r.Origin, r.Status).Inc()
	if !r.DispatchedAt.IsZero() && !r.EndedAt.IsZero() {
		m.runDuration.WithLabelValues(r.Origin, r.Status).Observe(r.EndedAt.Sub(r.DispatchedAt).Seconds())
	}
}

// RunStarted records the dispatch lag of a run that entered running.
func (m *Metrics) RunStarted(r *automation.Run) {
	m.dispatchLag.WithLabelValues(r.Origin).Observe(r.DispatchedAt.Sub(r.ScheduledAt).Seconds())
}

// Retry counts an inserted retry.
func (m *Metrics) Retry() { m.retries.Inc() }

// LoopGuard, OverlapSkipped, FireLimited, Event, Webhook, Slots and ReconcileFailed implement
// service.Metrics.
func (m *Metrics) LoopGuard()                   { m.loopGuard.Inc() }
func (m *Metrics) OverlapSkipped(origin string) { m.overlapSkipped.WithLabelValues(origin).Inc() }
func (m *Metrics) FireLimited(origin string)    { m.fireLimited.WithLabelValues(origin).Inc() }
func (m *Metrics) Event(source string)          { m.eventsTotal.WithLabelValues(source).Inc() }
func (m *Metrics) Webhook(scheme, outcome, reason string) {
	m.webhookTotal.WithLabelValues(scheme, outcome, reason).Inc()
}
func (m *Metrics) Slots(outcome, reason string, n int) {
	m.slotsTotal.WithLabelValues(outcome, reason).Add(float64(n))
}
func (m *Metrics) ReconcileFailed() { m.reconcileFailed.Inc() }

// DeliveryLogDropped counts a delivery record dropped because the delivery-log queue was full.
func (m *Metrics) DeliveryLogDropped() { m.deliveryDropped.Inc() }

// Task counts a task that reached a final status.
func (m *Metrics) Task(status string) { m.tasksTotal.WithLabelValues(status).Inc() }

// Channel counts a delivered or abandoned notification.
func (m *Metrics) Channel(result string) { m.channelTotal.WithLabelValues(result).Inc() }

// Reload counts a configuration reload ("applied" or "rejected").
func (m *Metrics) Reload(result string) { m.reloads.WithLabelValues(result).Inc() }

// StoreWrite observes one store write.
func (m *Metrics) StoreWrite(store string, d time.Duration) {
	m.storeLatency.WithLabelValues(store).Observe(d.Seconds())
}

// ClockSkew sets the measured clock skew.
func (m *Metrics) ClockSkew(s float64) { m.clockSkew.Set(s) }

// WebhookDuration observes the handling time of a webhook request.
func (m *Metrics) WebhookDuration(d time.Duration) { m.webhookDuration.Observe(d.Seconds()) }

// HTTP wraps h to count requests by route pattern, method and status. prepare returns the
// request to pass on and a function that reports the matched route pattern afterwards.
func (m *Metrics) HTTP(h http.Handler, prepare func(*http.Request) (*http.Request, func() string)) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		sw := &statusWriter{ResponseWriter: w, code: 200}
		r, pattern := prepare(r)
		h.ServeHTTP(sw, r)
		route := pattern()
		if route == "" {
			route = "unmatched"
		}
		m.httpTotal.WithLabelValues(route, r.Method, strconv.Itoa(sw.code)).Inc()
		m.httpDuration.WithLabelValues(route, r.Method).Observe(time.Since(start).Seconds())
		if len(route) > 14 && route[:14] == "/api/webhooks/" {
			m.WebhookDuration(time.Since(start))
		}
	})
}

type statusWriter struct {
	http.ResponseWriter
	code int
}

func (s *statusWriter) WriteHeader(code int) {
	s.code = code
	s.ResponseWriter.WriteHeader(code)
}

func (s *statusWriter) Unwrap() http.ResponseWriter { return s.ResponseWriter }
