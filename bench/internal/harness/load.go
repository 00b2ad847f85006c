package harness

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"sync"
	"sync/atomic"
	"time"
)

// NewHTTPClient returns a client that keeps up to conc idle connections to one host.
func NewHTTPClient(conc int) *http.Client {
	tr := &http.Transport{MaxIdleConns: conc * 2, MaxIdleConnsPerHost: conc * 2, MaxConnsPerHost: 0,
		IdleConnTimeout: time.Minute, DisableCompression: true}
	return &http.Client{Transport: tr, Timeout: 60 * time.Second}
}

// Result is the outcome of a load run.
type Result struct {
	N       int
	Elapsed time.Duration
	Lat     []time.Duration
}

// Rate is requests per second.
func (r Result) Rate() float64 { return float64(r.N) / r.Elapsed.Seconds() }

// Run performs n calls of fn(i) from conc goroutines and records each call's latency. The
// first error stops the run.
func Run(conc, n int, fn func(i int) error) (Result, error) {
	lat := make([]time.Duration, n)
	var next atomic.Int64
	var firstErr atomic.Value
	var wg sync.WaitGroup
	start := time.Now()
	for g := 0; g < conc; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1) - 1)
				if i >= n || firstErr.Load() != nil {
					return
				}
				t := time.Now()
				if err := fn(i); err != nil {
					firstErr.CompareAndSwap(nil, fmt.Errorf("call %d: %w", i, err))
					return
				}
				lat[i] = time.Since(t)
			}
		}()
	}
	wg.Wait()
	el := time.Since(start)
	if err, _ := firstErr.Load().(error); err != nil {
		return Result{}, err
	}
	return Result{N: n, Elapsed: el, Lat: lat}, nil
}

// Do sends one request and fails unless the status is want. The body is drained so the
// connection is reused.
func Do(c *http.Client, method, url string, body []byte, want int) ([]byte, error) {
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequest(method, url, rd)
	if err != nil {
		return nil, err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := c.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != want {
		return b, fmt.Errorf("%s %s: status %d, want %d: %.300s", method, url, resp.StatusCode, want, b)
	}
	return b, nil
}
