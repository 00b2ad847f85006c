package service

// Metrics receives the counters the service layer produces (SPEC §16.2). The daemon installs
// a Prometheus implementation; the default discards everything.
type Metrics interface {
	LoopGuard()
	OverlapSkipped(origin string)
	FireLimited(origin string)
	Event(source string)
	Webhook(scheme, outcome, reason string)
	Slots(outcome, reason string, n int)
	ReconcileFailed()
	DeliveryLogDropped()
}

type nopMetrics struct{}

func (nopMetrics) LoopGuard()                     {}
func (nopMetrics) OverlapSkipped(string)          {}
func (nopMetrics) FireLimited(string)             {}
func (nopMetrics) Event(string)                   {}
func (nopMetrics) Webhook(string, string, string) {}
func (nopMetrics) Slots(string, string, int)      {}
func (nopMetrics) ReconcileFailed()               {}
func (nopMetrics) DeliveryLogDropped()            {}

// SetMetrics installs the metrics sink (before serving).
func (s *Service) SetMetrics(m Metrics) { s.metricsSink = m }

func (s *Service) metrics() Metrics {
	if s.metricsSink == nil {
		return nopMetrics{}
	}
	return s.metricsSink
}
