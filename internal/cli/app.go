package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/agh-dev/agh/internal/client"
	"github.com/agh-dev/agh/internal/daemon"
)

// app holds the connection and output flags shared by every client command (SPEC §17).
type app struct {
	addr, dataDir, output string
	getenv                func(string) string
}

// bind adds the client flags to a top-level command and its subcommands.
func (a *app) bind(c *cobra.Command) *cobra.Command {
	pf := c.PersistentFlags()
	pf.StringVar(&a.addr, "addr", "", "daemon URL, e.g. http://host:2123 (default: the Unix socket; env AGH_ADDR, token AGH_API_TOKEN)")
	pf.StringVar(&a.dataDir, "data-dir", "", "data directory holding agh.sock (default $AGH_HOME or ~/.agh)")
	pf.StringVarP(&a.output, "output", "o", "", "output format: table, json or jsonl (default table on a terminal, json otherwise)")
	c.PersistentPreRunE = func(*cobra.Command, []string) error {
		switch a.output {
		case "", "table", "json", "jsonl":
			return nil
		}
		return usagef("invalid output format %q (table, json or jsonl)", a.output)
	}
	return c
}

// client returns a client of the daemon: TCP with --addr or AGH_ADDR, else the Unix socket.
func (a *app) client() *client.Client {
	if addr := a.remote(); addr != "" {
		return client.NewTCP(addr, a.getenv("AGH_API_TOKEN"))
	}
	return client.NewSocket(a.socket())
}

func (a *app) remote() string {
	addr := a.addr
	if addr == "" {
		addr = a.getenv("AGH_ADDR")
	}
	if addr != "" && !strings.Contains(addr, "://") {
		addr = "http://" + addr
	}
	return addr
}

func (a *app) socket() string {
	return filepath.Join(daemon.DefaultDataDir(a.dataDir, a.getenv), "agh.sock")
}

// call performs an API request and returns the raw 2xx payload. API errors are *client.Error.
func (a *app) call(ctx context.Context, method, path string, body any) (json.RawMessage, error) {
	var raw json.RawMessage
	err := a.client().Do(ctx, method, path, body, &raw)
	var ae *client.Error
	if err != nil && !errors.As(err, &ae) {
		return nil, a.unreachable(err)
	}
	return raw, err
}

// unreachable wraps a transport error with the address the daemon was expected at.
func (a *app) unreachable(err error) error {
	where := a.remote()
	if where == "" {
		where = a.socket()
	}
	return fmt.Errorf("cannot reach the agh daemon at %s: %w", where, err)
}

// format returns the effective output format: -o, else table on a terminal and json otherwise.
func (a *app) format(w io.Writer) string {
	if a.output != "" {
		return a.output
	}
	if f, ok := w.(*os.File); ok {
		if st, err := f.Stat(); err == nil && st.Mode()&os.ModeCharDevice != 0 {
			return "table"
		}
	}
	return "json"
}

// emit prints an API payload: as received for json; for jsonl one line per item of the list at
// listPath (dotted keys), or the compacted payload when listPath is empty; draw renders a table.
func (a *app) emit(cmd *cobra.Command, raw json.RawMessage, listPath string, draw func(*table) error) error {
	out := cmd.OutOrStdout()
	switch a.format(out) {
	case "json":
		_, err := fmt.Fprintf(out, "%s\n", bytes.TrimSpace(raw))
		return err
	case "jsonl":
		items := []json.RawMessage{raw}
		if listPath != "" {
			if err := decodePath(raw, listPath, &items); err != nil {
				return err
			}
		}
		for _, it := range items {
			if err := printCompact(out, it); err != nil {
				return err
			}
		}
		return nil
	}
	t := &table{w: tabwriter.NewWriter(out, 2, 4, 2, ' ', 0)}
	if err := draw(t); err != nil {
		return err
	}
	if err := t.w.Flush(); err != nil {
		return err
	}
	var page struct {
		NextCursor string `json:"next_cursor"`
	}
	if json.Unmarshal(raw, &page) == nil && page.NextCursor != "" {
		fmt.Fprintln(cmd.ErrOrStderr(), "(more items exist: raise --last to see them)")
	}
	return nil
}

func printCompact(w io.Writer, raw json.RawMessage) error {
	var buf bytes.Buffer
	if err := json.Compact(&buf, raw); err != nil {
		return err
	}
	buf.WriteByte('\n')
	_, err := w.Write(buf.Bytes())
	return err
}

// decodePath decodes the value at a dotted key path of a JSON object ("" for the whole
// payload) into v.
func decodePath(raw json.RawMessage, path string, v any) error {
	for _, key := range strings.Split(path, ".") {
		if key == "" {
			break
		}
		var m map[string]json.RawMessage
		if err := json.Unmarshal(raw, &m); err != nil {
			return fmt.Errorf("unexpected response: %w", err)
		}
		raw = m[key]
	}
	if len(raw) == 0 || string(raw) == "null" {
		return nil
	}
	if err := json.Unmarshal(raw, v); err != nil {
		return fmt.Errorf("unexpected response: %w", err)
	}
	return nil
}

// emitOne prints a single-resource payload {"<key>": T}; detail renders T as a table.
func emitOne[T any](cmd *cobra.Command, a *app, raw json.RawMessage, key string, detail func(*table, T)) error {
	return a.emit(cmd, raw, "", func(t *table) error {
		var v T
		if err := decodePath(raw, key, &v); err != nil {
			return err
		}
		detail(t, v)
		return nil
	})
}

// emitList prints a list payload whose items are at listPath, one table row per item.
func emitList[T any](cmd *cobra.Command, a *app, raw json.RawMessage, listPath string, header []string, row func(T) []string) error {
	return a.emit(cmd, raw, listPath, func(t *table) error {
		var items []T
		if err := decodePath(raw, listPath, &items); err != nil {
			return err
		}
		t.row(header...)
		for _, it := range items {
			t.row(row(it)...)
		}
		return nil
	})
}

// fetch GETs path and returns the payload and its value at key.
func fetch[T any](cmd *cobra.Command, a *app, path, key string) (json.RawMessage, T, error) {
	var v T
	raw, err := a.call(cmd.Context(), "GET", path, nil)
	if err == nil {
		err = decodePath(raw, key, &v)
	}
	return raw, v, err
}

// fetchOne performs a request and prints its single-resource payload.
func fetchOne[T any](cmd *cobra.Command, a *app, method, path string, body any, key string, detail func(*table, T)) error {
	raw, err := a.call(cmd.Context(), method, path, body)
	if err != nil {
		return err
	}
	return emitOne(cmd, a, raw, key, detail)
}

// listing is a command printing a list endpoint: GET path(args) with the query of its filters;
// the items are at key (a dotted path), one table row each.
type listing[T any] struct {
	use, short string
	path       func(args []string) string
	key        string
	header     []string
	row        func(T) []string
}

// cmd builds the command; filters declares its filter flags. The command takes as many arguments
// as use has words after the command name ("history ID" takes one).
func (ls listing[T]) cmd(a *app, filters func(*cobra.Command, *listFlags)) *cobra.Command {
	var l listFlags
	c := &cobra.Command{Use: ls.use, Short: ls.short, Args: nArgs(len(strings.Fields(ls.use)) - 1)}
	if filters != nil {
		filters(c, &l)
	}
	c.RunE = func(cmd *cobra.Command, args []string) error {
		q, err := l.query(cmd, a)
		if err != nil {
			return err
		}
		path := ls.path(args)
		if len(q) > 0 {
			path += "?" + q.Encode()
		}
		raw, err := a.call(cmd.Context(), "GET", path, nil)
		if err != nil {
			return err
		}
		return emitList(cmd, a, raw, ls.key, ls.header, ls.row)
	}
	return c
}

// remove performs a DELETE (204, no payload) and confirms it in table format.
func remove(cmd *cobra.Command, a *app, path, noun, id string) error {
	if _, err := a.call(cmd.Context(), "DELETE", path, nil); err != nil {
		return err
	}
	if a.format(cmd.OutOrStdout()) == "table" {
		fmt.Fprintf(cmd.OutOrStdout(), "deleted %s %s\n", noun, id)
	}
	return nil
}

// table is a tab-aligned text table.
type table struct{ w *tabwriter.Writer }

func (t *table) row(cols ...string) {
	cells := make([]string, len(cols))
	for i, c := range cols {
		cells[i] = strings.ReplaceAll(dash(c), "\t", " ")
	}
	fmt.Fprintln(t.w, strings.Join(cells, "\t"))
}

// field prints a NAME value line of a detail view; opt skips empty values.
func (t *table) field(name, value string) { t.row(name, value) }

func (t *table) opt(name, value string) {
	if value != "" {
		t.row(name, value)
	}
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// when shortens an API time for tables: UTC to the second.
func when(s string) string {
	tm, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return s
	}
	return tm.UTC().Format("2006-01-02 15:04:05Z")
}

// oneLine shortens free text for a table cell.
func oneLine(s string, max int) string {
	s = strings.Join(strings.Fields(s), " ")
	if r := []rune(s); len(r) > max {
		return string(r[:max-1]) + "…"
	}
	return s
}

func yesNo(b bool) string {
	if b {
		return "yes"
	}
	return "no"
}

func escape(id string) string { return url.PathEscape(id) }
