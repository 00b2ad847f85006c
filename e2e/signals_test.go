package e2e

import (
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/agh-dev/agh/internal/testutil"
)

// TestSIGHUPReloadsConfiguration drives the real binary: a SIGHUP adds a config job, an invalid
// file is rejected (and reported) while the running configuration stays in force, and SIGTERM
// exits 0.
func TestSIGHUPReloadsConfiguration(t *testing.T) {
	p := testutil.StartProcess(t, testutil.ProcOptions{Config: baseConfig})
	c := p.Client
	write := func(extra string) {
		if err := os.WriteFile(filepath.Join(p.DataDir, "config.toml"), []byte(baseConfig+extra), 0o600); err != nil {
			t.Fatal(err)
		}
		if err := syscall.Kill(p.Pid(), syscall.SIGHUP); err != nil {
			t.Fatal(err)
		}
	}
	write("\n[[automation.jobs]]\nname = \"hup\"\nscope = \"global\"\nagent = \"echo\"\nprompt = \"p\"\nschedule = { mode = \"every\", interval = \"1h\" }\n")
	waitFor(t, "the config job", 5*time.Second, func() bool {
		return len(list(expect(t, c, "GET", "/api/automation/jobs?source=config", "", 200, "", ""), "jobs")) == 1
	})
	write("\n[automation]\nmax_jobs = 1\n")
	waitFor(t, "the reload error", 5*time.Second, func() bool {
		st := expect(t, c, "GET", "/api/status", "", 200, "", "")
		e, _ := st["last_reload_error"].(string)
		return strings.Contains(e, "max_jobs")
	})
	if n := len(list(expect(t, c, "GET", "/api/automation/jobs?source=config", "", 200, "", ""), "jobs")); n != 1 {
		t.Fatalf("rejected reload changed the jobs: %d", n)
	}
	if code := p.Stop(); code != 0 {
		t.Fatalf("SIGTERM exit %d", code)
	}
}
