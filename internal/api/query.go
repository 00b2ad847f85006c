package api

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/agh-dev/agh/internal/automation"
)

// Limits of list endpoints (SPEC §3.6).
const (
	DefaultLimit = 50
	MaxLimit     = 500
)

func parseLimit(q url.Values) (int, error) {
	v := q.Get("limit")
	if v == "" {
		return DefaultLimit, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 1 {
		return 0, automation.Invalid("limit must be a positive integer: %q", v)
	}
	if n > MaxLimit {
		n = MaxLimit
	}
	return n, nil
}

func parseEnum(q url.Values, name string, values ...string) (string, error) {
	v := q.Get(name)
	if v == "" {
		return "", nil
	}
	for _, ok := range values {
		if v == ok {
			return v, nil
		}
	}
	quoted := make([]string, len(values))
	for i, x := range values {
		quoted[i] = strconv.Quote(x)
	}
	list := strings.Join(quoted, ", ")
	if len(quoted) == 2 {
		list = quoted[0] + " or " + quoted[1]
	} else if len(quoted) > 2 {
		list = strings.Join(quoted[:len(quoted)-1], ", ") + ", or " + quoted[len(quoted)-1]
	}
	return "", automation.Invalid("%s must be one of %s: %q", name, list, v)
}

func parseTimeParam(q url.Values, name string) (time.Time, error) {
	v := q.Get(name)
	if v == "" {
		return time.Time{}, nil
	}
	t, err := time.Parse(time.RFC3339Nano, v)
	if err != nil {
		return time.Time{}, automation.Invalid("%s is invalid: %q", name, v)
	}
	return t, nil
}

// pageToken is an opaque keyset position bound to the filters it was issued for.
type pageToken struct {
	Filter string   `json:"f"`
	Key    []string `json:"k"`
}

func filterHash(parts ...string) string {
	h := sha256.Sum256([]byte(strings.Join(parts, "\x00")))
	return hex.EncodeToString(h[:8])
}

func encodeCursor(filter string, key ...string) string {
	b, _ := json.Marshal(pageToken{Filter: filter, Key: key})
	return base64.RawURLEncoding.EncodeToString(b)
}

// decodeCursor returns the keyset position of the cursor parameter, or nil when absent.
func decodeCursor(q url.Values, filter string, n int) ([]string, error) {
	v := q.Get("cursor")
	if v == "" {
		return nil, nil
	}
	b, err := base64.RawURLEncoding.DecodeString(v)
	var t pageToken
	if err != nil || json.Unmarshal(b, &t) != nil || t.Filter != filter || len(t.Key) != n {
		return nil, automation.Invalid("cursor is invalid")
	}
	return t.Key, nil
}

func timeKey(t time.Time) string { return strconv.FormatInt(t.UnixNano(), 10) }

func parseTimeKey(s string) (time.Time, error) {
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		return time.Time{}, automation.Invalid("cursor is invalid")
	}
	return time.Unix(0, n).UTC(), nil
}

func maxT(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}

// writePage answers a list endpoint (SPEC §4.1). items were fetched with limit+1 rows: an extra
// row means another page exists, and next_cursor is the keyset position of the last item kept.
func writePage[T, W any](w http.ResponseWriter, listKey string, items []T, limit int, filter string,
	key func(T) []string, render func(T) W) {
	out := make([]W, 0, min(len(items), limit))
	resp := map[string]any{}
	if len(items) > limit {
		items = items[:limit]
		resp["next_cursor"] = encodeCursor(filter, key(items[limit-1])...)
	}
	for _, it := range items {
		out = append(out, render(it))
	}
	resp[listKey] = out
	writeJSON(w, 200, resp)
}
