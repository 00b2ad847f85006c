// Package api serves the AGH Automation API over net/http: routing, strict JSON decoding, the
// error contract, pagination and the change stream. Business rules live in the service layer.
package api

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/agh-dev/agh/internal/automation"
	"github.com/agh-dev/agh/internal/store"
	"github.com/agh-dev/agh/internal/wire"
)

// MaxBody is the request body limit of management and webhook routes (SPEC §4.1).
const MaxBody = 1 << 20

type ctxKey int

const requestIDKey ctxKey = 1

var clientRequestID = regexp.MustCompile(`^[A-Za-z0-9_-]{1,64}$`)

// RequestID returns the request id of r.
func RequestID(ctx context.Context) string {
	id, _ := ctx.Value(requestIDKey).(string)
	return id
}

// apiError is an HTTP error with the §4.1 contract.
type apiError struct {
	status  int
	code    string
	message string
	runIDs  []string
	retryAt time.Time
	header  map[string]string
}

func (e *apiError) Error() string { return e.message }

func errNotFound(msg string) error { return &apiError{status: 404, code: "not_found", message: msg} }

func errUnavailable(msg string) error {
	return &apiError{status: 503, code: "unavailable", message: msg}
}

// prefixFor returns the validation prefix of a route (SPEC §3.1).
func prefixFor(path string) string {
	if strings.HasPrefix(path, "/api/workspaces") || strings.HasPrefix(path, "/api/tasks") {
		return "validation error: "
	}
	return "automation validation error: "
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(v)
}

// writeError maps err to the documented status, code and body.
func (s *Server) writeError(w http.ResponseWriter, r *http.Request, err error) {
	body := wire.Error{RequestID: RequestID(r.Context())}
	status := http.StatusInternalServerError
	var (
		ve *automation.ValidationError
		nf *automation.NotFoundError
		ce *automation.ConflictError
		fl *automation.FireLimitedError
		oe *automation.OverlapError
		re *automation.ReplayError
		ae *apiError
		mb *http.MaxBytesError
	)
	switch {
	case errors.As(err, &ae):
		status, body.Code, body.Error, body.RunIDs = ae.status, ae.code, ae.message, ae.runIDs
		for k, v := range ae.header {
			w.Header().Set(k, v)
		}
		if !ae.retryAt.IsZero() {
			body.RetryAt = wire.Time(ae.retryAt)
		}
	case errors.As(err, &mb):
		status, body.Code, body.Error = 413, "payload_too_large", "request body too large"
	case errors.As(err, &ve):
		status, body.Code, body.Error = 400, ve.Code, prefixFor(r.URL.Path)+ve.Detail
	case errors.As(err, &nf):
		status, body.Code, body.Error = 404, "not_found", nf.Message
	case errors.As(err, &ce):
		status, body.Code, body.Error = 409, "conflict", ce.Message
	case errors.As(err, &fl):
		status, body.Code, body.Error, body.RetryAt = 409, "fire_limited", fl.Error(), wire.Time(fl.RetryAt)
		var secs int64
		if d := fl.RetryAt.Sub(s.clock.Now()); d > 0 {
			secs = int64((d + time.Second - 1) / time.Second)
		}
		w.Header().Set("Retry-After", strconv.FormatInt(secs, 10))
	case errors.As(err, &oe):
		status, body.Code, body.Error, body.RunIDs = 409, "overlap", oe.Error(), oe.RunIDs
	case errors.As(err, &re):
		status, body.Code, body.Error, body.RunIDs = 409, "replay", re.Error(), re.RunIDs
	case errors.Is(err, store.ErrUnavailable):
		status, body.Code, body.Error = 503, "unavailable", "store unavailable"
	default:
		body.Code, body.Error = "internal", "internal error"
		s.log.Error("request failed", "component", "http", "request_id", body.RequestID, "err", err)
	}
	writeJSON(w, status, body)
}

// readBody reads a JSON request body through the 1 MiB limit.
func readBody(w http.ResponseWriter, r *http.Request) ([]byte, error) {
	r.Body = http.MaxBytesReader(w, r.Body, MaxBody)
	return io.ReadAll(r.Body)
}

// decodeRoot reads a body of the form {"<root>": {...}} or a bare object. The AGH API takes
// definition bodies as bare objects; root names the object in messages.
func decodeBody(w http.ResponseWriter, r *http.Request) (map[string]any, error) {
	b, err := readBody(w, r)
	if err != nil {
		return nil, err
	}
	return automation.DecodeJSONObject(b)
}

// emptyBody accepts an empty body or {} (SPEC §3.8).
func emptyBody(w http.ResponseWriter, r *http.Request, root string) error {
	b, err := readBody(w, r)
	if err != nil {
		return err
	}
	if strings.TrimSpace(string(b)) == "" {
		return nil
	}
	m, err := automation.DecodeJSONObject(b)
	if err != nil {
		return err
	}
	for k := range m {
		return automation.Invalid("%s: unknown field %q", root, k)
	}
	return nil
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }
