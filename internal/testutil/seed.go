package testutil

import (
	"math/rand/v2"
	"os"
	"strconv"
	"testing"
	"time"
)

// Seed returns the seed of a randomized test: the decimal value of the environment variable
// name when it is set, else a fresh one from the clock. The seed is logged so that a failing
// run can be reproduced with name=<seed>.
func Seed(t testing.TB, name string) uint64 {
	t.Helper()
	seed := uint64(time.Now().UnixNano())
	if v := os.Getenv(name); v != "" {
		n, err := strconv.ParseUint(v, 10, 64)
		if err != nil {
			t.Fatalf("%s=%q is not an unsigned decimal integer", name, v)
		}
		seed = n
	}
	t.Logf("seed %d (reproduce with %s=%d)", seed, name, seed)
	return seed
}

// NewRand returns a generator seeded with seed and stream: distinct streams of one seed are
// independent, so concurrent goroutines can each own one.
func NewRand(seed, stream uint64) *rand.Rand {
	return rand.New(rand.NewPCG(seed, stream))
}

// EnvInt returns the integer value of the environment variable name, or def when it is unset
// or empty; a value that is not an integer ≥ min fails the test.
func EnvInt(t testing.TB, name string, def, min int) int {
	t.Helper()
	v := os.Getenv(name)
	if v == "" {
		return def
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < min {
		t.Fatalf("%s=%q must be an integer ≥ %d", name, v, min)
	}
	return n
}
