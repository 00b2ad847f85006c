package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/url"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/agh-dev/agh/internal/schedule"
	"github.com/agh-dev/agh/internal/wire"
)

// fields collects a request body from the flags the user gave: flags not given are not sent,
// so server defaults apply (SPEC §17).
type fields struct {
	cmd *cobra.Command
	m   map[string]any
}

func newFields(cmd *cobra.Command) fields { return fields{cmd: cmd, m: map[string]any{}} }

func (f fields) given(flag string) bool { return f.cmd.Flags().Changed(flag) }

func (f fields) str(flag, key, v string) {
	if f.given(flag) {
		f.m[key] = v
	}
}

// parsed sets key to parse(v) when flag was given; a parse failure is a usage error.
func (f fields) parsed(flag, key, v string, parse func(string) (any, error)) error {
	if !f.given(flag) {
		return nil
	}
	x, err := parse(v)
	if err != nil {
		return usagef("--%s: %v", flag, err)
	}
	f.m[key] = x
	return nil
}

// workspace sets workspace_id from --workspace (an id or a registered path) when given.
func (f fields) workspace(a *app, v string) error {
	if !f.given("workspace") {
		return nil
	}
	id, err := a.workspaceID(f.cmd.Context(), v)
	if err != nil {
		return err
	}
	f.m["workspace_id"] = id
	return nil
}

// requireFlags reports the first of names that was not given as a usage error.
func requireFlags(cmd *cobra.Command, names ...string) error {
	for _, n := range names {
		if !cmd.Flags().Changed(n) {
			return usagef("--%s is required (usage: %s)", n, cmd.UseLine())
		}
	}
	return nil
}

// listFlags are the filters of a list command. Plain flags map one-to-one to query parameters;
// --workspace takes an id or a registered path, --since/--until RFC 3339 or a duration ago, and
// --last N becomes limit, --count N count. Only given filters are sent.
type listFlags struct {
	plain                   map[string]*string
	workspace, since, until string
	last, count             int
}

func (l *listFlags) str(c *cobra.Command, flag, param, usage string) *listFlags {
	if l.plain == nil {
		l.plain = map[string]*string{}
	}
	l.plain[param] = c.Flags().String(flag, "", usage)
	return l
}

func (l *listFlags) withWorkspace(c *cobra.Command) *listFlags {
	c.Flags().StringVar(&l.workspace, "workspace", "", "workspace id or registered path")
	return l
}

func (l *listFlags) withWindow(c *cobra.Command) *listFlags {
	c.Flags().StringVar(&l.since, "since", "", `started at or after: RFC 3339 time or a duration ago ("2h")`)
	c.Flags().StringVar(&l.until, "until", "", `started before: RFC 3339 time or a duration ago`)
	return l
}

func (l *listFlags) withLast(c *cobra.Command, what string) *listFlags {
	c.Flags().IntVar(&l.last, "last", 0, "show at most N "+what)
	return l
}

func (l *listFlags) withCount(c *cobra.Command) *listFlags {
	c.Flags().IntVar(&l.count, "count", 0, "number of items (server default 10)")
	return l
}

func (l *listFlags) query(cmd *cobra.Command, a *app) (url.Values, error) {
	q := url.Values{}
	for p, v := range l.plain {
		setQ(q, p, *v)
	}
	if l.workspace != "" {
		id, err := a.workspaceID(cmd.Context(), l.workspace)
		if err != nil {
			return nil, err
		}
		q.Set("workspace_id", id)
	}
	now := time.Now()
	for _, w := range []struct{ flag, v string }{{"since", l.since}, {"until", l.until}} {
		if w.v == "" {
			continue
		}
		t, err := timeAgo(w.v, now)
		if err != nil {
			return nil, usagef("--%s: %v", w.flag, err)
		}
		q.Set(w.flag, t)
	}
	if cmd.Flags().Changed("last") {
		if l.last < 1 {
			return nil, usagef("--last must be a positive integer: %d", l.last)
		}
		q.Set("limit", strconv.Itoa(l.last))
	}
	if cmd.Flags().Changed("count") {
		q.Set("count", strconv.Itoa(l.count))
	}
	return q, nil
}

func setQ(q url.Values, k, v string) {
	if v != "" {
		q.Set(k, v)
	}
}

// timeAgo accepts an RFC 3339 time (sent as given) or a Go duration meaning "that long before now"
// (sent as RFC 3339 UTC).
func timeAgo(v string, now time.Time) (string, error) {
	if _, err := time.Parse(time.RFC3339Nano, v); err == nil {
		return v, nil
	}
	d, err := time.ParseDuration(v)
	if err != nil {
		return "", fmt.Errorf("want an RFC 3339 time or a duration such as 2h: %q", v)
	}
	return now.Add(-d).UTC().Format(time.RFC3339), nil
}

// parseSchedule turns --schedule (cron expression, every:<duration> or at:<time>) and --timezone
// into a schedule object. An at: time without offset (YYYY-MM-DDTHH:MM[:SS]) is read in the
// --timezone zone (default UTC) and sent as RFC 3339 with that zone's offset.
func parseSchedule(s, tz string) (map[string]any, error) {
	switch {
	case s == "":
		return nil, fmt.Errorf("--timezone needs --schedule")
	case strings.HasPrefix(s, "every:"):
		if tz != "" {
			return nil, fmt.Errorf("--timezone does not apply to every: schedules")
		}
		iv := strings.TrimPrefix(s, "every:")
		if _, err := time.ParseDuration(iv); err != nil {
			return nil, fmt.Errorf("every: needs a duration such as 15m: %q", iv)
		}
		return map[string]any{"mode": "every", "interval": iv}, nil
	case strings.HasPrefix(s, "at:"):
		t, err := atTime(strings.TrimPrefix(s, "at:"), tz)
		if err != nil {
			return nil, err
		}
		return map[string]any{"mode": "at", "time": t}, nil
	}
	m := map[string]any{"mode": "cron", "expr": s}
	if tz != "" {
		m["timezone"] = tz
	}
	return m, nil
}

func atTime(v, tz string) (string, error) {
	if _, err := time.Parse(time.RFC3339Nano, v); err == nil {
		return v, nil
	}
	if tz == "" {
		tz = "UTC"
	}
	loc, err := schedule.LoadLocation(tz)
	if err != nil {
		return "", fmt.Errorf("--timezone: unknown time zone %q", tz)
	}
	for _, layout := range []string{"2006-01-02T15:04:05", "2006-01-02T15:04"} {
		if t, err := time.ParseInLocation(layout, v, loc); err == nil {
			return t.Format(time.RFC3339), nil
		}
	}
	return "", fmt.Errorf("at: needs an RFC 3339 time or YYYY-MM-DDTHH:MM[:SS]: %q", v)
}

// parseRetry reads none, backoff (3 retries, 2s) or backoff:<max>:<delay>.
func parseRetry(s string) (any, error) {
	bad := fmt.Errorf("want none, backoff or backoff:<max>:<delay>: %q", s)
	switch s {
	case "none":
		return wire.Retry{Strategy: "none"}, nil
	case "backoff":
		return wire.Retry{Strategy: "backoff", MaxRetries: 3, BaseDelay: "2s"}, nil
	}
	parts := strings.Split(s, ":")
	if len(parts) != 3 || parts[0] != "backoff" {
		return nil, bad
	}
	n, err := strconv.Atoi(parts[1])
	if _, derr := time.ParseDuration(parts[2]); err != nil || derr != nil {
		return nil, bad
	}
	return wire.Retry{Strategy: "backoff", MaxRetries: n, BaseDelay: parts[2]}, nil
}

// parseFireLimit reads MAX/WINDOW, e.g. 12/1h.
func parseFireLimit(s string) (any, error) {
	max, window, ok := strings.Cut(s, "/")
	n, err := strconv.Atoi(max)
	if _, derr := time.ParseDuration(window); !ok || err != nil || derr != nil {
		return nil, fmt.Errorf("want MAX/WINDOW such as 12/1h: %q", s)
	}
	return wire.FireLimit{Max: n, Window: window}, nil
}

// parseFilter reads k=v pairs separated by commas, from one or more --filter flags. An empty
// flag value gives an empty map (which clears the filter on update).
func parseFilter(vals []string) (map[string]string, error) {
	m := map[string]string{}
	for _, v := range vals {
		if v == "" {
			continue
		}
		for _, kv := range strings.Split(v, ",") {
			k, val, ok := strings.Cut(kv, "=")
			if !ok || strings.TrimSpace(k) == "" {
				return nil, fmt.Errorf("want k=v[,k=v]: %q", kv)
			}
			m[k] = val
		}
	}
	return m, nil
}

func filterText(m map[string]string) string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = k + "=" + m[k]
	}
	return strings.Join(parts, ",")
}

// readInput returns the content of a file argument; "-" reads standard input.
func readInput(cmd *cobra.Command, path string) ([]byte, error) {
	if path == "-" {
		return io.ReadAll(cmd.InOrStdin())
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, usageError{err}
	}
	return b, nil
}

// dataFlags are --data JSON and --data-file F (mutually exclusive).
type dataFlags struct{ data, file string }

func (d *dataFlags) bind(c *cobra.Command, usage string) {
	c.Flags().StringVar(&d.data, "data", "", usage)
	c.Flags().StringVar(&d.file, "data-file", "", "read --data from a file (- for standard input)")
}

// read returns the data and whether any was given.
func (d *dataFlags) read(cmd *cobra.Command) ([]byte, bool, error) {
	data, file := cmd.Flags().Changed("data"), cmd.Flags().Changed("data-file")
	switch {
	case data && file:
		return nil, false, usagef("--data and --data-file are mutually exclusive")
	case data:
		return []byte(d.data), true, nil
	case file:
		b, err := readInput(cmd, d.file)
		return b, err == nil, err
	}
	return nil, false, nil
}

// workspaceID resolves a --workspace value: an id is returned as is; a path (absolute, or
// starting with "." or containing "/", which ids never do) is matched against the registered
// workspaces after resolving symlinks.
func (a *app) workspaceID(ctx context.Context, v string) (string, error) {
	if !filepath.IsAbs(v) && !strings.HasPrefix(v, ".") && !strings.Contains(v, "/") {
		return v, nil
	}
	abs, err := filepath.Abs(v)
	if err != nil {
		return "", usageError{err}
	}
	resolved, err := filepath.EvalSymlinks(abs)
	if err != nil {
		resolved = abs
	}
	q := url.Values{"limit": {"500"}}
	for {
		raw, err := a.call(ctx, "GET", "/api/workspaces?"+q.Encode(), nil)
		if err != nil {
			return "", err
		}
		var page struct {
			Workspaces []wire.Workspace `json:"workspaces"`
			NextCursor string           `json:"next_cursor"`
		}
		if err := json.Unmarshal(raw, &page); err != nil {
			return "", fmt.Errorf("unexpected response: %w", err)
		}
		for _, ws := range page.Workspaces {
			if ws.Path == resolved || ws.Path == abs {
				return ws.ID, nil
			}
		}
		if page.NextCursor == "" {
			return "", fmt.Errorf("no workspace is registered at %s", resolved)
		}
		q.Set("cursor", page.NextCursor)
	}
}
