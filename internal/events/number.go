package events

import (
	"encoding/json"
	"math"
	"strconv"
	"strings"
)

// formatNumberLiteral turns the text of a JSON number into the filter form of SPEC §8.5: integers
// in decimal without exponent or fraction ("42.0" and "4.2e1" give "42"), other numbers in the
// shortest decimal form without exponent ("1.50" gives "1.5", "1e-3" gives "0.001"). The
// conversion is exact (decimal arithmetic on the literal, no float64 rounding), so a large
// integer such as 12345678901234567890 keeps all its digits. Negative zero gives "0".
//
// It reports false when lit is not a JSON number or when the result would be longer than limit
// bytes (which bounds the work for literals such as "1e1000000000").
func formatNumberLiteral(lit string, limit int) (string, bool) {
	s := lit
	neg := false
	if strings.HasPrefix(s, "-") {
		neg = true
		s = s[1:]
	}
	intEnd := digitsPrefix(s)
	if intEnd == 0 {
		return "", false
	}
	intPart, s := s[:intEnd], s[intEnd:]
	fracPart := ""
	if strings.HasPrefix(s, ".") {
		n := digitsPrefix(s[1:])
		if n == 0 {
			return "", false
		}
		fracPart, s = s[1:1+n], s[1+n:]
	}
	var exp int64
	if s != "" {
		if s[0] != 'e' && s[0] != 'E' {
			return "", false
		}
		s = s[1:]
		expNeg := false
		if s != "" && (s[0] == '+' || s[0] == '-') {
			expNeg = s[0] == '-'
			s = s[1:]
		}
		if s == "" || digitsPrefix(s) != len(s) {
			return "", false
		}
		// Saturate: any exponent beyond ±2^40 gives a result longer than any sane limit
		// unless the mantissa is zero, which is handled below.
		for i := 0; i < len(s); i++ {
			if exp < 1<<40 {
				exp = exp*10 + int64(s[i]-'0')
			}
		}
		if expNeg {
			exp = -exp
		}
	}

	// value = digits × 10^exp10
	digits := strings.TrimLeft(intPart+fracPart, "0")
	if digits == "" {
		if limit < 1 {
			return "", false
		}
		return "0", true
	}
	exp10 := exp - int64(len(fracPart))
	trimmed := strings.TrimRight(digits, "0")
	exp10 += int64(len(digits) - len(trimmed))
	digits = trimmed

	sign := 0
	if neg {
		sign = 1
	}
	var b strings.Builder
	if exp10 >= 0 {
		n := int64(sign) + int64(len(digits)) + exp10
		if n > int64(limit) {
			return "", false
		}
		b.Grow(int(n))
		if neg {
			b.WriteByte('-')
		}
		b.WriteString(digits)
		for range exp10 {
			b.WriteByte('0')
		}
		return b.String(), true
	}
	fracDigits := -exp10 // > 0
	intDigits := int64(len(digits)) - fracDigits
	var n int64
	if intDigits > 0 {
		n = int64(sign) + int64(len(digits)) + 1
	} else {
		n = int64(sign) + 2 + fracDigits // "0." + zeros + digits
	}
	if n > int64(limit) {
		return "", false
	}
	b.Grow(int(n))
	if neg {
		b.WriteByte('-')
	}
	if intDigits > 0 {
		b.WriteString(digits[:intDigits])
		b.WriteByte('.')
		b.WriteString(digits[intDigits:])
	} else {
		b.WriteString("0.")
		for range -intDigits {
			b.WriteByte('0')
		}
		b.WriteString(digits)
	}
	return b.String(), true
}

func digitsPrefix(s string) int {
	i := 0
	for i < len(s) && s[i] >= '0' && s[i] <= '9' {
		i++
	}
	return i
}

// formatFloat gives the §8.5 form of a float: shortest decimal that round-trips, without
// exponent; integral values have no fraction. NaN and infinities are not JSON numbers and
// report false.
func formatFloat(f float64, bitSize int) (string, bool) {
	if math.IsNaN(f) || math.IsInf(f, 0) {
		return "", false
	}
	if f == 0 {
		return "0", true // also for -0
	}
	return strconv.FormatFloat(f, 'f', -1, bitSize), true
}

// numberText returns the text of a numeric Go value as used by filters (§8.5) and templates
// (§8.6): json.Number literals are passed through unchanged here (templates print the literal;
// filters canonicalize it with formatNumberLiteral), integers in decimal, floats as formatFloat.
// ok is false when v is not a number.
func numberText(v any) (s string, ok bool) {
	switch n := v.(type) {
	case json.Number:
		return string(n), true
	case float64:
		return formatFloat(n, 64)
	case float32:
		return formatFloat(float64(n), 32)
	case int:
		return strconv.FormatInt(int64(n), 10), true
	case int8:
		return strconv.FormatInt(int64(n), 10), true
	case int16:
		return strconv.FormatInt(int64(n), 10), true
	case int32:
		return strconv.FormatInt(int64(n), 10), true
	case int64:
		return strconv.FormatInt(n, 10), true
	case uint:
		return strconv.FormatUint(uint64(n), 10), true
	case uint8:
		return strconv.FormatUint(uint64(n), 10), true
	case uint16:
		return strconv.FormatUint(uint64(n), 10), true
	case uint32:
		return strconv.FormatUint(uint64(n), 10), true
	case uint64:
		return strconv.FormatUint(n, 10), true
	case uintptr:
		return strconv.FormatUint(uint64(n), 10), true
	}
	return "", false
}
