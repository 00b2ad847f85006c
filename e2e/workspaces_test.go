package e2e

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/agh-dev/agh/internal/testutil"
)

func TestWorkspacesAPI(t *testing.T) {
	cfgDir := t.TempDir()
	d := start(t, "\n[[workspaces]]\nid = \"cfg\"\npath = \""+cfgDir+"\"\n")
	c := d.Client
	dir := t.TempDir()
	link := filepath.Join(t.TempDir(), "link")
	if err := os.Symlink(dir, link); err != nil {
		t.Fatal(err)
	}
	ws := obj(expect(t, c, "POST", "/api/workspaces", `{"id":"web","path":"`+link+`"}`, 201, "", ""), "workspace")
	real, _ := filepath.EvalSymlinks(dir)
	if ws["path"] != real || ws["source"] != "dynamic" {
		t.Fatalf("workspace %v", ws)
	}
	gen := obj(expect(t, c, "POST", "/api/workspaces", `{"path":"`+t.TempDir()+`"}`, 201, "", ""), "workspace")
	if !strings.HasPrefix(gen["id"].(string), "ws_") {
		t.Fatalf("generated id %v", gen["id"])
	}
	const vp = "validation error: "
	expect(t, c, "POST", "/api/workspaces", `{"id":"web","path":"`+t.TempDir()+`"}`, 409, "conflict", "workspace id already exists")
	expect(t, c, "POST", "/api/workspaces", `{"id":"web2","path":"`+dir+`"}`, 409, "conflict", `workspace path already registered as "web"`)
	expect(t, c, "POST", "/api/workspaces", `{"id":"Web App","path":"/tmp"}`, 400, "validation_failed", vp+`workspace.id is invalid: "Web App"`)
	expect(t, c, "POST", "/api/workspaces", `{"id":"x"}`, 400, "validation_failed", vp+"workspace.path is required")
	expect(t, c, "POST", "/api/workspaces", `{"path":"repos/web"}`, 400, "validation_failed", vp+`workspace.path must be absolute: "repos/web"`)
	expect(t, c, "POST", "/api/workspaces", `{"path":"/srv/none"}`, 400, "validation_failed", vp+`workspace.path is not a directory: "/srv/none"`)
	expect(t, c, "GET", "/api/workspaces/nope", "", 404, "not_found", "workspace not found")
	expect(t, c, "DELETE", "/api/workspaces/cfg", "", 400, "read_only", vp+"config-defined workspaces cannot be deleted")
	createJob(t, c, `{"name":"w","scope":"workspace","workspace_id":"web","agent_name":"echo","prompt":"p","schedule":{"mode":"every","interval":"1h"}}`)
	expect(t, c, "DELETE", "/api/workspaces/web", "", 409, "conflict", "workspace is in use by 1 automation definitions")
	list := list(expect(t, c, "GET", "/api/workspaces", "", 200, "", ""), "workspaces")
	if len(list) != 3 || list[0].(map[string]any)["id"] != "cfg" {
		t.Fatalf("workspaces %v", list)
	}
	expect(t, c, "DELETE", "/api/workspaces/"+gen["id"].(string), "", 204, "", "")
}

// TestGracefulShutdownInterruptsAndRetries stops the daemon while an agent runs past the
// shutdown grace: the run is failed "interrupted" and its retry is waiting after restart.
func TestGracefulShutdownInterruptsAndRetries(t *testing.T) {
	d := testutil.StartDaemon(t, testutil.Options{Config: "[automation]\nshutdown_grace = \"500ms\"\n" + agentCfg("hang", "sleep", "30")})
	c := d.Client
	j := createJob(t, c, jobFor("hang", "hang", `"retry":{"strategy":"backoff","max_retries":1,"base_delay":"1h"}`))
	r := trigger(t, c, j["id"].(string))
	waitRun(t, c, r["id"].(string), 10*time.Second, status("running"))
	start := time.Now()
	d.Restart()
	if el := time.Since(start); el > 15*time.Second {
		t.Fatalf("shutdown took %v", el)
	}
	got := obj(expect(t, d.Client, "GET", "/api/automation/runs/"+r["id"].(string), "", 200, "", ""), "run")
	if got["status"] != "failed" || got["error"] != "interrupted" || got["error_code"] != "interrupted" {
		t.Fatalf("run after shutdown %v", got)
	}
	runs := list(expect(t, d.Client, "GET", "/api/automation/runs?fire_id="+got["fire_id"].(string), "", 200, "", ""), "runs")
	if len(runs) != 2 || runs[0].(map[string]any)["status"] != "scheduled" {
		t.Fatalf("retry after shutdown %v", runs)
	}
}
