// Package agenttest provides test helpers for code that runs agents: it
// builds the scripted ACP fixture agent (internal/agent/fixture) once per test
// binary and writes fixture scripts.
//
// Typical use:
//
//	func TestMain(m *testing.M) { os.Exit(agenttest.Main(m)) }
//
//	func TestX(t *testing.T) {
//		bin := agenttest.Fixture(t)
//		script := agenttest.Script(t, "handshake", "message hi", "stop end_turn")
//		cfg := agent.Config{Driver: "acp", Command: []string{bin, script}, Permissions: "allow"}
//		…
//	}
package agenttest

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

// FixturePackage is the import path of the fixture agent.
const FixturePackage = "github.com/agh-dev/agh/internal/agent/fixture"

var (
	once     sync.Once
	buildDir string
	binPath  string
	buildErr error
)

// Fixture returns the path of the fixture agent binary, building it on first
// use (go build into a temporary directory, removed by Main/Cleanup).
func Fixture(t testing.TB) string {
	t.Helper()
	once.Do(build)
	if buildErr != nil {
		t.Fatalf("build fixture agent: %v", buildErr)
	}
	return binPath
}

func build() {
	buildDir, buildErr = os.MkdirTemp("", "agh-fixture-")
	if buildErr != nil {
		return
	}
	goBin, err := exec.LookPath("go")
	if err != nil {
		goBin = filepath.Join(os.Getenv("GOROOT"), "bin", "go") // not on PATH: the toolchain's
	}
	binPath = filepath.Join(buildDir, "fixture")
	out, err := exec.Command(goBin, "build", "-o", binPath, FixturePackage).CombinedOutput()
	if err != nil {
		buildErr = fmt.Errorf("%v: %s", err, out)
	}
}

// Cleanup removes the built fixture, if any.
func Cleanup() {
	if buildDir != "" {
		os.RemoveAll(buildDir)
	}
}

// Main runs the tests and removes the built fixture afterwards; use it from
// TestMain: os.Exit(agenttest.Main(m)).
func Main(m *testing.M) int {
	code := m.Run()
	Cleanup()
	return code
}

// Script writes a fixture script made of the given lines to a temporary file
// and returns its path.
func Script(t testing.TB, lines ...string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "script.txt")
	if err := os.WriteFile(p, []byte(strings.Join(lines, "\n")+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}
