// Package client is a small typed client of the agh HTTP API, used by the CLI and by the
// black-box tests. It talks over the daemon's Unix socket or TCP.
package client

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"time"
)

// Error is a non-2xx API answer.
type Error struct {
	Status    int
	Code      string   `json:"code"`
	Message   string   `json:"error"`
	RequestID string   `json:"request_id"`
	RunIDs    []string `json:"run_ids"`
	RetryAt   string   `json:"retry_at"`
	Body      []byte   `json:"-"`
}

func (e *Error) Error() string { return fmt.Sprintf("%d %s: %s", e.Status, e.Code, e.Message) }

// Client calls one daemon.
type Client struct {
	// Base is the URL prefix, e.g. "http://127.0.0.1:2123" or "http://agh" for the socket.
	Base  string
	Token string
	HTTP  *http.Client
}

// NewSocket returns a client that dials the Unix socket at path.
func NewSocket(path string) *Client {
	tr := &http.Transport{DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
		var d net.Dialer
		return d.DialContext(ctx, "unix", path)
	}}
	return &Client{Base: "http://agh", HTTP: &http.Client{Transport: tr, Timeout: 60 * time.Second}}
}

// NewTCP returns a client of the daemon at base URL (http://host:port).
func NewTCP(base, token string) *Client {
	return &Client{Base: strings.TrimRight(base, "/"), Token: token, HTTP: &http.Client{Timeout: 60 * time.Second}}
}

// Response is a raw API answer.
type Response struct {
	Status int
	Header http.Header
	Body   []byte
}

// Raw performs a request with an optional raw body and returns the answer whatever its status.
func (c *Client) Raw(ctx context.Context, method, path string, body []byte, header http.Header) (*Response, error) {
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.Base+path, rd)
	if err != nil {
		return nil, err
	}
	for k, vs := range header {
		for _, v := range vs {
			req.Header.Add(k, v)
		}
	}
	if body != nil && req.Header.Get("Content-Type") == "" {
		req.Header.Set("Content-Type", "application/json")
	}
	if c.Token != "" {
		req.Header.Set("Authorization", "Bearer "+c.Token)
	}
	resp, err := c.HTTP.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, err
	}
	return &Response{Status: resp.StatusCode, Header: resp.Header, Body: b}, nil
}

// Do sends in (marshaled as JSON unless nil) and decodes a 2xx answer into out (unless nil).
// Non-2xx answers are returned as *Error.
func (c *Client) Do(ctx context.Context, method, path string, in, out any) error {
	var body []byte
	if in != nil {
		var err error
		if body, err = json.Marshal(in); err != nil {
			return err
		}
	}
	resp, err := c.Raw(ctx, method, path, body, nil)
	if err != nil {
		return err
	}
	if resp.Status < 200 || resp.Status > 299 {
		e := &Error{Status: resp.Status, Body: resp.Body}
		if json.Unmarshal(resp.Body, e) != nil || e.Message == "" {
			e.Message = strings.TrimSpace(string(resp.Body))
		}
		return e
	}
	if out != nil && len(resp.Body) > 0 {
		return json.Unmarshal(resp.Body, out)
	}
	return nil
}
