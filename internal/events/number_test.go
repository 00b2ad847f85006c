package events

import (
	"math"
	"math/big"
	"strconv"
	"strings"
	"testing"

	"pgregory.net/rapid"
)

func TestFormatNumberLiteral(t *testing.T) {
	tests := []struct {
		lit    string
		limit  int
		want   string
		wantOK bool
	}{
		{"0", 10, "0", true},
		{"-0.000", 10, "0", true},
		{"0e99999999999999999999999", 10, "0", true},
		{"0.0e-99999999999999999999999", 10, "0", true},
		{"5e-1", 10, "0.5", true},
		{"-5e-3", 10, "-0.005", true},
		{"123.456e1", 10, "1234.56", true},
		{"123.456e3", 10, "123456", true},
		{"123.456e5", 10, "12345600", true},
		{"123.456e-3", 10, "0.123456", true},
		{"123.456e-5", 10, "0.00123456", true},
		{"100", 3, "100", true},
		{"100", 2, "", false},
		{"-100", 4, "-100", true},
		{"-100", 3, "", false},
		{"0.25", 4, "0.25", true},
		{"0.25", 3, "", false},
		{"-0.25", 4, "", false},
		{"12.5", 4, "12.5", true},
		{"12.5", 3, "", false},
		{"1e99999999999999999999999", 1 << 20, "", false},
		{"1e-99999999999999999999999", 1 << 20, "", false},
		{"0", 0, "", false},
	}
	for _, tt := range tests {
		got, ok := formatNumberLiteral(tt.lit, tt.limit)
		if got != tt.want || ok != tt.wantOK {
			t.Errorf("formatNumberLiteral(%q, %d) = %q, %v; want %q, %v", tt.lit, tt.limit, got, ok, tt.want, tt.wantOK)
		}
	}
}

// checkCanonical asserts the §8.5 shape: no exponent, no superfluous zeros, no negative zero,
// and the same value as lit.
func checkCanonical(t interface{ Fatalf(string, ...any) }, lit, got string) {
	if strings.ContainsAny(got, "eE+") {
		t.Fatalf("%q → %q has an exponent or plus sign", lit, got)
	}
	abs := strings.TrimPrefix(got, "-")
	if abs == "0" && got != "0" {
		t.Fatalf("%q → %q: negative zero", lit, got)
	}
	intPart, frac, hasFrac := strings.Cut(abs, ".")
	if len(intPart) > 1 && intPart[0] == '0' {
		t.Fatalf("%q → %q: leading zero", lit, got)
	}
	if hasFrac && (frac == "" || strings.HasSuffix(frac, "0")) {
		t.Fatalf("%q → %q: superfluous fraction", lit, got)
	}
	want, ok := new(big.Rat).SetString(lit)
	if !ok {
		t.Fatalf("big.Rat cannot parse %q", lit)
	}
	have, ok := new(big.Rat).SetString(got)
	if !ok || have.Cmp(want) != 0 {
		t.Fatalf("%q → %q: value changed", lit, got)
	}
}

// TestPropertyFloatForms: any JSON spelling of a float64's shortest digits gives the same string
// as the float64 itself, and that string parses back to the same float64.
func TestPropertyFloatForms(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		f := rapid.Float64().Draw(t, "f")
		if math.IsInf(f, 0) || math.IsNaN(f) {
			t.Skip("not a JSON number")
		}
		want, ok := formatFloat(f, 64)
		if !ok {
			t.Fatalf("formatFloat(%v) failed", f)
		}
		back, err := strconv.ParseFloat(want, 64)
		if err != nil || back != f {
			t.Fatalf("formatFloat(%v) = %q parses back as %v, %v", f, want, back, err)
		}
		if f == math.Trunc(f) && strings.Contains(want, ".") {
			t.Fatalf("integral %v formatted with a fraction: %q", f, want)
		}
		for _, format := range []byte{'e', 'E', 'g', 'f'} {
			lit := strconv.FormatFloat(f, format, -1, 64)
			got, ok := formatNumberLiteral(lit, 1<<16)
			if !ok || got != want {
				t.Fatalf("literal %q → %q, %v; float64 → %q", lit, got, ok, want)
			}
		}
	})
}

// TestPropertyDecimalLiterals: arbitrary JSON number literals are converted exactly into the
// canonical form, and the conversion is idempotent.
func TestPropertyDecimalLiterals(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		lit := rapid.StringMatching(`-?(0|[1-9][0-9]{0,30})(\.[0-9]{1,30})?([eE][+-]?[0-9]{1,2})?`).Draw(t, "lit")
		got, ok := formatNumberLiteral(lit, 1<<16)
		if !ok {
			t.Fatalf("formatNumberLiteral(%q) failed", lit)
		}
		checkCanonical(t, lit, got)
		again, ok := formatNumberLiteral(got, 1<<16)
		if !ok || again != got {
			t.Fatalf("not idempotent: %q → %q → %q", lit, got, again)
		}
	})
}

// TestPropertyIntegerSpellings: every spelling of an integer (fraction of zeros, exponent,
// shifted decimal point) gives its plain decimal form, beyond the float64 range included.
func TestPropertyIntegerSpellings(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		digits := rapid.StringMatching(`[1-9][0-9]{0,40}`).Draw(t, "digits")
		neg := rapid.Bool().Draw(t, "neg")
		want := digits
		if neg {
			want = "-" + digits
		}
		shift := rapid.IntRange(0, len(digits)+3).Draw(t, "shift")
		zeros := strings.Repeat("0", rapid.IntRange(0, 3).Draw(t, "zeros"))
		var lit string
		switch rapid.IntRange(0, 2).Draw(t, "form") {
		case 0: // 123.000
			lit = digits
			if zeros != "" {
				lit += "." + zeros
			}
		case 1: // 1.23e2, 0.0123e4
			padded := strings.Repeat("0", max(0, shift-len(digits)+1)) + digits
			point := len(padded) - shift
			lit = padded[:point] + "." + padded[point:] + zeros + "e" + strconv.Itoa(shift)
			if shift == 0 {
				lit = padded + "e0"
			}
		case 2: // 12300e-2
			lit = digits + strings.Repeat("0", shift) + "e-" + strconv.Itoa(shift)
		}
		if neg {
			lit = "-" + lit
		}
		got, ok := formatNumberLiteral(lit, 1<<16)
		if !ok || got != want {
			t.Fatalf("formatNumberLiteral(%q) = %q, %v; want %q", lit, got, ok, want)
		}
	})
}
