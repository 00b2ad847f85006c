package api

import (
	"crypto/subtle"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/agh-dev/agh/internal/config"
)

// isManagement reports whether path is a management route (everything but webhooks and the
// console's static files, SPEC §14.1).
func isManagement(path string) bool {
	if strings.HasPrefix(path, "/api/webhooks/") {
		return false
	}
	return strings.HasPrefix(path, "/api/") || path == "/metrics"
}

// TCP wraps the API for the TCP listener: bearer tokens, the loopback Host check and the
// Origin check of SPEC §14.1, plus per-endpoint webhook rate limiting. The Unix socket serves
// the API without these checks (file permissions authenticate it).
func (s *Server) TCP() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if isManagement(r.URL.Path) {
			if err := s.checkAccess(r); err != nil {
				s.ServeError(w, r, err)
				return
			}
		} else if strings.HasPrefix(r.URL.Path, "/api/webhooks/") {
			if wait, ok := s.limiter.allow(r.URL.Path, s.svc.Config().Automation.WebhookRateLimit, s.clock.Now()); !ok {
				w.Header().Set("Retry-After", itoa(int64((wait+time.Second-1)/time.Second)))
				s.ServeError(w, r, &apiError{status: 429, code: "rate_limited", message: "too many webhook requests"})
				return
			}
		}
		s.ServeHTTP(w, r)
	})
}

// ServeError writes an error with a request id (used before routing).
func (s *Server) ServeError(w http.ResponseWriter, r *http.Request, err error) {
	s.withRequestID(w, r, func(w http.ResponseWriter, r *http.Request) { s.writeError(w, r, err) })
}

func (s *Server) checkAccess(r *http.Request) error {
	cfg := s.svc.Config()
	tokens := cfg.API.Tokens
	if len(tokens) > 0 {
		auth := r.Header.Get("Authorization")
		got, ok := strings.CutPrefix(auth, "Bearer ")
		valid := false
		for _, t := range tokens {
			// Compare every token in constant time so timing reveals neither match nor position.
			if ok && subtle.ConstantTimeCompare([]byte(got), []byte(t)) == 1 {
				valid = true
			}
		}
		if !valid {
			return &apiError{status: 401, code: "unauthorized", message: "missing or invalid API token", header: map[string]string{"WWW-Authenticate": "Bearer"}}
		}
	} else if !loopbackHost(r.Host) {
		return &apiError{status: 403, code: "forbidden", message: "non-loopback Host header rejected"}
	}
	if origin := r.Header.Get("Origin"); origin != "" && origin != "http://"+r.Host {
		return &apiError{status: 403, code: "forbidden", message: "cross-origin request rejected"}
	}
	return nil
}

func loopbackHost(hostport string) bool {
	host := hostport
	if h, _, err := net.SplitHostPort(hostport); err == nil {
		host = h
	}
	host = strings.Trim(host, "[]")
	if host == "" {
		return false
	}
	return config.IsLoopback(host)
}

// rateLimiter is a token bucket per webhook path.
type rateLimiter struct {
	mu      sync.Mutex
	buckets map[string]*bucket
}

type bucket struct {
	tokens float64
	last   time.Time
}

// allow takes one token from the path's bucket (capacity 2×rate, refilled at rate per
// second). rate <= 0 disables limiting. It returns the wait until a token is available.
func (l *rateLimiter) allow(path string, rate int, now time.Time) (time.Duration, bool) {
	if rate <= 0 {
		return 0, true
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.buckets == nil || len(l.buckets) > 10000 {
		l.buckets = map[string]*bucket{}
	}
	capacity := float64(2 * rate)
	b, ok := l.buckets[path]
	if !ok {
		b = &bucket{tokens: capacity, last: now}
		l.buckets[path] = b
	}
	b.tokens += now.Sub(b.last).Seconds() * float64(rate)
	if b.tokens > capacity {
		b.tokens = capacity
	}
	b.last = now
	if b.tokens >= 1 {
		b.tokens--
		return 0, true
	}
	return time.Duration((1 - b.tokens) / float64(rate) * float64(time.Second)), false
}
