package webhook

import (
	"encoding/json"
	"unicode/utf8"
)

// RawData is the normalized data of a delivery (SPEC §9.6) read from its raw body on demand:
// filters read a few paths of each delivery, and decoding the whole body into maps was most of
// the CPU of a delivery that a filter turns away. The body is validated at most once.
type RawData struct {
	body    []byte
	meta    Meta
	checked bool // valid holds the body's validity
	valid   bool
}

// NewRawData returns the data Normalize(body, meta) would build, without building it.
func NewRawData(body []byte, meta Meta) *RawData { return &RawData{body: body, meta: meta} }

// Lookup returns the value at path (segments already trimmed) in Normalize(body, meta); see
// [RawData.Lookup].
func Lookup(body []byte, meta Meta, path []string) (any, bool) {
	return NewRawData(body, meta).Lookup(path)
}

// Lookup returns what walking the normalized data along path gives, restricted to the scalar
// leaves filters compare: a string, a bool or a json.Number (its literal text). A missing key,
// a null, an object, an array, or a non-object on the way gives (nil, false). A body that
// Normalize would not decode (invalid JSON, trailing data, not a non-empty object) has only the
// "payload" key and the metadata keys, as in Normalize. TestLookupMatchesNormalize and
// FuzzLookup check the equivalence.
func (d *RawData) Lookup(path []string) (any, bool) {
	if len(path) == 0 {
		return nil, false
	}
	if v, ok := metaValue(d.meta, path[0]); ok {
		if len(path) > 1 {
			return nil, false // a string has no fields
		}
		return v, true
	}
	body := d.body
	if !d.checked {
		d.checked, d.valid = true, validJSON(body)
	}
	if !d.valid {
		return payloadOnly(body, path)
	}
	i := skipSpace(body, 0)
	if body[i] != '{' || body[skipSpace(body, i+1)] == '}' {
		return payloadOnly(body, path) // not an object, or an empty one
	}
	for depth, seg := range path {
		v, found := member(body[i:], seg)
		if !found {
			if depth == 0 && seg == KeyPayload {
				return payloadOnly(d.body, path)
			}
			return nil, false
		}
		if depth == len(path)-1 {
			return scalar(v)
		}
		if v[0] != '{' {
			return nil, false
		}
		body, i = v, 0
	}
	return nil, false // not reached: path is not empty
}

// metaValue returns the value Normalize writes for key over the body's keys, if it writes one.
func metaValue(meta Meta, key string) (string, bool) {
	switch key {
	case KeyEndpoint:
		if meta.Endpoint == "" {
			return Endpoint(meta.Slug, meta.WebhookID), true
		}
		return meta.Endpoint, true
	case KeyEndpointSlug:
		return meta.Slug, true
	case KeyWebhookID:
		return meta.WebhookID, true
	case KeyTimestamp:
		return FormatTime(meta.Timestamp), true
	case KeyDeliveryID:
		return meta.DeliveryID, true
	case KeyGitHubEvent:
		return meta.GitHubEvent, meta.GitHubEvent != ""
	}
	return "", false
}

// payloadOnly looks path up in data that holds no body key but "payload", the raw body.
func payloadOnly(body []byte, path []string) (any, bool) {
	if len(path) == 1 && path[0] == KeyPayload {
		return validUTF8(body), true
	}
	return nil, false
}

// member returns the raw value of the last member named key of obj, a valid JSON object
// (leading white space allowed); the last one, because decoding into a map keeps the last of
// duplicate keys.
func member(obj []byte, key string) (value []byte, found bool) {
	i := skipSpace(obj, 0) + 1 // past '{'
	for {
		i = skipSpace(obj, i)
		if obj[i] == '}' {
			return value, found
		}
		kEnd := skipString(obj, i)
		k := obj[i:kEnd]
		i = skipSpace(obj, kEnd) + 1 // past ':'
		i = skipSpace(obj, i)
		vEnd := skipValue(obj, i)
		if keyEquals(k, key) {
			value, found = obj[i:vEnd], true
		}
		i = skipSpace(obj, vEnd)
		if obj[i] == ',' {
			i++
		}
	}
}

// keyEquals reports whether the quoted JSON string k decodes to key.
func keyEquals(k []byte, key string) bool {
	raw := k[1 : len(k)-1]
	if plain(raw) {
		return string(raw) == key
	}
	var s string
	return json.Unmarshal(k, &s) == nil && s == key
}

// plain reports whether raw, the inside of a JSON string, decodes to itself: no escapes, and
// only ASCII (invalid UTF-8 decodes to U+FFFD).
func plain(raw []byte) bool {
	for _, c := range raw {
		if c == '\\' || c >= utf8.RuneSelf {
			return false
		}
	}
	return true
}

// scalar converts a raw JSON value as json.Decoder with UseNumber would, for the scalar kinds
// filters compare.
func scalar(v []byte) (any, bool) {
	switch v[0] {
	case '"':
		if raw := v[1 : len(v)-1]; plain(raw) {
			return string(raw), true
		}
		var s string
		if json.Unmarshal(v, &s) != nil {
			return nil, false
		}
		return s, true
	case 't':
		return true, true
	case 'f':
		return false, true
	case 'n', '{', '[':
		return nil, false
	}
	return json.Number(v), true
}

func skipSpace(b []byte, i int) int {
	for i < len(b) && (b[i] == ' ' || b[i] == '\t' || b[i] == '\n' || b[i] == '\r') {
		i++
	}
	return i
}

// skipString returns the index just past the JSON string starting at b[i] ('"').
func skipString(b []byte, i int) int {
	for i++; ; i++ {
		switch b[i] {
		case '\\':
			i++
		case '"':
			return i + 1
		}
	}
}

// skipValue returns the index just past the JSON value starting at b[i]; b is valid JSON.
func skipValue(b []byte, i int) int {
	switch b[i] {
	case '"':
		return skipString(b, i)
	case '{', '[':
		depth := 0
		for ; ; i++ {
			switch b[i] {
			case '"':
				i = skipString(b, i) - 1
			case '{', '[':
				depth++
			case '}', ']':
				if depth--; depth == 0 {
					return i + 1
				}
			}
		}
	}
	for i < len(b) {
		switch b[i] {
		case ',', '}', ']', ' ', '\t', '\n', '\r':
			return i
		}
		i++
	}
	return i
}

// maxDepth is encoding/json's nesting limit: deeper documents are invalid to it.
const maxDepth = 10000

// validJSON reports whether b is one JSON value with optional white space around it, exactly
// as json.Valid does (strings may hold any bytes but control characters, as there), in one
// pass without json.Valid's per-byte state function calls, which cost more than the rest of a
// filtered delivery's lookup.
func validJSON(b []byte) bool {
	i, ok := validValue(b, skipSpace(b, 0), 0)
	return ok && skipSpace(b, i) == len(b)
}

// validValue checks the value starting at b[i] and returns the index just past it.
func validValue(b []byte, i, depth int) (int, bool) {
	if i >= len(b) {
		return i, false
	}
	switch c := b[i]; {
	case c == '{' || c == '[':
		if depth++; depth > maxDepth {
			return i, false
		}
		return validContainer(b, i, depth)
	case c == '"':
		return validString(b, i)
	case c == '-' || c >= '0' && c <= '9':
		return validNumber(b, i)
	case c == 't':
		return validLiteral(b, i, "true")
	case c == 'f':
		return validLiteral(b, i, "false")
	case c == 'n':
		return validLiteral(b, i, "null")
	}
	return i, false
}

// validContainer checks the object or array starting at b[i].
func validContainer(b []byte, i, depth int) (int, bool) {
	object := b[i] == '{'
	end := byte(']')
	if object {
		end = '}'
	}
	i = skipSpace(b, i+1)
	if i < len(b) && b[i] == end {
		return i + 1, true
	}
	for {
		var ok bool
		if object {
			if i >= len(b) || b[i] != '"' {
				return i, false
			}
			if i, ok = validString(b, i); !ok {
				return i, false
			}
			if i = skipSpace(b, i); i >= len(b) || b[i] != ':' {
				return i, false
			}
			i = skipSpace(b, i+1)
		}
		if i, ok = validValue(b, i, depth); !ok {
			return i, false
		}
		if i = skipSpace(b, i); i >= len(b) {
			return i, false
		}
		switch b[i] {
		case ',':
			i = skipSpace(b, i+1)
		case end:
			return i + 1, true
		default:
			return i, false
		}
	}
}

// validString checks the string starting at b[i] ('"').
func validString(b []byte, i int) (int, bool) {
	for i++; i < len(b); i++ {
		switch c := b[i]; {
		case c == '"':
			return i + 1, true
		case c < 0x20:
			return i, false
		case c == '\\':
			if i++; i >= len(b) {
				return i, false
			}
			switch b[i] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
			case 'u':
				if i+4 >= len(b) {
					return i, false
				}
				for _, h := range b[i+1 : i+5] {
					if !isHex(h) {
						return i, false
					}
				}
				i += 4
			default:
				return i, false
			}
		}
	}
	return i, false
}

func isHex(c byte) bool { return c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F' }

// validNumber checks the number starting at b[i] against the JSON grammar.
func validNumber(b []byte, i int) (int, bool) {
	digits := func(i int) (int, bool) {
		start := i
		for i < len(b) && b[i] >= '0' && b[i] <= '9' {
			i++
		}
		return i, i > start
	}
	if b[i] == '-' {
		i++
	}
	if i < len(b) && b[i] == '0' {
		i++
	} else {
		var ok bool
		if i, ok = digits(i); !ok {
			return i, false
		}
	}
	if i < len(b) && b[i] == '.' {
		var ok bool
		if i, ok = digits(i + 1); !ok {
			return i, false
		}
	}
	if i < len(b) && (b[i] == 'e' || b[i] == 'E') {
		i++
		if i < len(b) && (b[i] == '+' || b[i] == '-') {
			i++
		}
		var ok bool
		if i, ok = digits(i); !ok {
			return i, false
		}
	}
	return i, true
}

func validLiteral(b []byte, i int, lit string) (int, bool) {
	if len(b)-i < len(lit) || string(b[i:i+len(lit)]) != lit {
		return i, false
	}
	return i + len(lit), true
}
