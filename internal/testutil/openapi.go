package testutil

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"sync"
	"testing"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"
	"github.com/getkin/kin-openapi/routers/gorillamux"

	"github.com/agh-dev/agh/internal/api"
)

var (
	specOnce   sync.Once
	specRouter routers.Router
	specErr    error
)

func loadSpec() (routers.Router, error) {
	specOnce.Do(func() {
		loader := openapi3.NewLoader()
		doc, err := loader.LoadFromData(api.OpenAPIDocument())
		if err != nil {
			specErr = err
			return
		}
		if err = doc.Validate(context.Background()); err != nil {
			specErr = err
			return
		}
		specRouter, specErr = gorillamux.NewRouter(doc)
	})
	return specRouter, specErr
}

// validatingTransport checks every response against openapi.json and fails the test on a
// mismatch: undocumented route, method or status, or a body that does not match its schema.
type validatingTransport struct {
	t    testing.TB
	next http.RoundTripper
}

// NewValidatingTransport wraps next with OpenAPI response validation.
func NewValidatingTransport(t testing.TB, next http.RoundTripper) http.RoundTripper {
	return &validatingTransport{t: t, next: next}
}

func (v *validatingTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := v.next.RoundTrip(req)
	if err != nil {
		return resp, err
	}
	if resp.Header.Get("Content-Type") == "text/event-stream" {
		return resp, nil
	}
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		return nil, err
	}
	resp.Body = io.NopCloser(bytes.NewReader(body))
	ValidateResponse(v.t, req, resp.StatusCode, resp.Header, body)
	return resp, nil
}

// ValidateResponse checks one response against openapi.json.
func ValidateResponse(t testing.TB, req *http.Request, status int, header http.Header, body []byte) {
	t.Helper()
	router, err := loadSpec()
	if err != nil {
		t.Errorf("openapi.json is invalid: %v", err)
		return
	}
	// Route matching uses the path only; unknown paths are documented 404s we skip.
	r2 := req.Clone(context.Background())
	r2.Host = "localhost"
	r2.URL.Host = "localhost"
	r2.URL.Scheme = "http"
	route, params, err := router.FindRoute(r2)
	if err != nil {
		if status == http.StatusNotFound || status == http.StatusMethodNotAllowed {
			return
		}
		t.Errorf("openapi: %s %s (%d) matches no documented operation: %v", req.Method, req.URL.Path, status, err)
		return
	}
	in := &openapi3filter.RequestValidationInput{Request: r2, PathParams: params, Route: route,
		Options: &openapi3filter.Options{ExcludeRequestBody: true, ExcludeRequestQueryParams: true, AuthenticationFunc: openapi3filter.NoopAuthenticationFunc}}
	out := &openapi3filter.ResponseValidationInput{RequestValidationInput: in, Status: status, Header: header,
		Options: &openapi3filter.Options{IncludeResponseStatus: true, MultiError: false}}
	out.SetBodyBytes(body)
	if err := openapi3filter.ValidateResponse(context.Background(), out); err != nil {
		t.Errorf("openapi: %s %s → %d does not match the spec: %v\nbody: %s", req.Method, req.URL.Path, status, err, truncate(body))
	}
}

func truncate(b []byte) string {
	if len(b) > 2000 {
		return string(b[:2000]) + "…"
	}
	return string(b)
}
