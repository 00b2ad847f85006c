package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/agh-dev/agh/internal/testutil"
)

// Browser tests of the embedded console (SPEC §16.5) with Debian's Chromium driven by chromedp.
// AGH_SCREENSHOTS=1 also writes screenshots of the main pages to docs/screenshots/.

var (
	chromiumOnce sync.Once
	chromiumBin  string
	chromiumErr  error
)

// chromium returns the Chromium binary, installing Debian's package when it is missing. A
// machine where that fails fails the test with the reason: the console is never left untested.
func chromium(t *testing.T) string {
	t.Helper()
	chromiumOnce.Do(func() {
		find := func() string {
			for _, p := range []string{"/usr/bin/chromium", "/usr/bin/chromium-browser"} {
				if _, err := os.Stat(p); err == nil {
					return p
				}
			}
			return ""
		}
		if chromiumBin = find(); chromiumBin != "" {
			return
		}
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
		defer cancel()
		apt := func(args ...string) ([]byte, error) {
			cmd := exec.CommandContext(ctx, "apt-get", args...)
			cmd.Env = append(os.Environ(), "DEBIAN_FRONTEND=noninteractive")
			return cmd.CombinedOutput()
		}
		out, err := apt("install", "-y", "-qq", "chromium")
		if err != nil {
			_, _ = apt("update", "-qq")
			out, err = apt("install", "-y", "-qq", "chromium")
		}
		if chromiumBin = find(); chromiumBin == "" {
			chromiumErr = fmt.Errorf("chromium is missing and `apt-get install -y chromium` failed (%v):\n%s", err, out)
		}
	})
	if chromiumErr != nil {
		t.Fatal(chromiumErr)
	}
	return chromiumBin
}

type browser struct {
	t    *testing.T
	ctx  context.Context
	base string
	mu   sync.Mutex
	errs []string
}

// newBrowser starts a headless Chromium with a width×height window on a fresh profile.
func newBrowser(t *testing.T, base string, width, height int) *browser {
	t.Helper()
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(chromium(t)),
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(width, height),
	)
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancel := chromedp.NewContext(allocCtx)
	t.Cleanup(func() { cancel(); cancelAlloc() })
	b := &browser{t: t, ctx: ctx, base: base}
	// The first action starts the browser and binds it to ctx: a shorter-lived context would
	// close it.
	if err := chromedp.Do(ctx); err != nil {
		t.Fatalf("start chromium: %v", err)
	}
	// Page errors fail the test: uncaught exceptions, console.error and CSP violations.
	// Failed requests (the 401s and 400s the tests provoke) are expected.
	go func() {
		for m, err := range chromedp.Console(ctx) {
			if err != nil {
				return
			}
			if (m.Type == chromedp.ConsoleException || m.Type == chromedp.ConsoleError) && !strings.Contains(m.Text, "Failed to load resource") {
				b.mu.Lock()
				b.errs = append(b.errs, m.String())
				b.mu.Unlock()
			}
		}
	}()
	t.Cleanup(b.checkErrors)
	return b
}

func (b *browser) checkErrors() {
	b.mu.Lock()
	defer b.mu.Unlock()
	for _, e := range b.errs {
		b.t.Errorf("browser console: %s", e)
	}
	b.errs = nil
}

func (b *browser) do(what string, actions ...chromedp.Action[chromedp.Void]) {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 15*time.Second)
	defer cancel()
	if err := chromedp.Do(ctx, actions...); err != nil {
		b.t.Fatalf("%s: %v", what, err)
	}
}

func eval[T any](b *browser, expr string) T {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 15*time.Second)
	defer cancel()
	v, err := chromedp.Run(ctx, chromedp.Evaluate[T](expr))
	if err != nil {
		b.t.Fatalf("evaluate %s: %v", expr, err)
	}
	return v
}

// js quotes s as a JavaScript string literal.
func js(s string) string {
	q, _ := json.Marshal(s)
	return string(q)
}

// load opens the console at a route (a full page load).
func (b *browser) load(route string) {
	b.t.Helper()
	b.do("load "+route, chromedp.Navigate(b.base+"/#"+route))
}

// go switches route inside the running page (no reload).
func (b *browser) go_(route string) {
	b.t.Helper()
	eval[chromedp.Void](b, "location.hash = "+js("#"+route))
}

// wait polls a JavaScript condition. Chromedp's Poll compiles its predicate with new Function,
// which the console's CSP forbids, so the condition is evaluated from here.
func (b *browser) wait(cond, what string) {
	b.t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for {
		ctx, cancel := context.WithTimeout(b.ctx, 5*time.Second)
		ok, err := chromedp.Run(ctx, chromedp.Evaluate[bool]("!!("+cond+")"))
		cancel()
		if err == nil && ok {
			return
		}
		if time.Now().After(deadline) {
			b.t.Fatalf("timed out waiting for %s (%s); last error %v; page text:\n%s", what, cond, err, b.text("main"))
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// waitFor waits until selector matches a visible element.
func (b *browser) waitFor(sel string) {
	b.t.Helper()
	b.wait("(e => e && e.getClientRects().length > 0)(document.querySelector("+js(sel)+"))", sel)
}

func (b *browser) text(sel string) string {
	ctx, cancel := context.WithTimeout(b.ctx, 5*time.Second)
	defer cancel()
	s, _ := chromedp.Run(ctx, chromedp.Evaluate[string]("(e => e ? e.innerText : '')(document.querySelector("+js(sel)+"))"))
	return s
}

func (b *browser) count(sel string) int {
	return eval[int](b, "document.querySelectorAll("+js(sel)+").length")
}

func (b *browser) click(sel string) {
	b.t.Helper()
	b.waitFor(sel)
	b.do("click "+sel, chromedp.Click(chromedp.CSS(sel), chromedp.NodeVisible))
}

func (b *browser) typeInto(sel, text string) {
	b.t.Helper()
	b.waitFor(sel)
	eval[chromedp.Void](b, "document.querySelector("+js(sel)+").value = ''")
	b.do("type into "+sel, chromedp.SendKeys(chromedp.CSS(sel), text))
}

// choose picks an option of a select and fires its change event, as a user would.
func (b *browser) choose(sel, value string) {
	b.t.Helper()
	b.waitFor(sel)
	ok := eval[bool](b, `(e => { e.value = `+js(value)+`; e.dispatchEvent(new Event('change', {bubbles: true})); return e.value === `+js(value)+` })(document.querySelector(`+js(sel)+`))`)
	if !ok {
		b.t.Fatalf("%s has no option %q", sel, value)
	}
}

// screenshot writes docs/screenshots/<name>.png when AGH_SCREENSHOTS is set.
func (b *browser) screenshot(name string) {
	b.t.Helper()
	if os.Getenv("AGH_SCREENSHOTS") == "" {
		return
	}
	eval[chromedp.Void](b, "document.activeElement && document.activeElement.blur(); document.getElementById('toasts').replaceChildren(); window.scrollTo(0, 0)")
	time.Sleep(150 * time.Millisecond)
	ctx, cancel := context.WithTimeout(b.ctx, 15*time.Second)
	defer cancel()
	png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	if err != nil {
		b.t.Fatalf("screenshot %s: %v", name, err)
	}
	dir := filepath.Join("..", "docs", "screenshots")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		b.t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, name+".png"), png, 0o644); err != nil {
		b.t.Fatal(err)
	}
}

// markPage sets a value that a page reload would lose; stillSamePage checks it.
func (b *browser) markPage() { eval[chromedp.Void](b, "window.__aghNoReload = true") }

func (b *browser) stillSamePage() {
	b.t.Helper()
	if !eval[bool](b, "window.__aghNoReload === true") {
		b.t.Fatal("the page was reloaded")
	}
}

func TestConsoleStaticFiles(t *testing.T) {
	d := start(t, "")
	get := func(path string) (*http.Response, string) {
		resp, err := http.Get(d.URL() + path)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		return resp, string(b)
	}
	resp, body := get("/")
	if resp.StatusCode != 200 || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/html") ||
		resp.Header.Get("Content-Security-Policy") != "default-src 'self'" || resp.Header.Get("X-Frame-Options") != "DENY" ||
		!strings.Contains(body, `src="/console/app.js"`) {
		t.Fatalf("GET /: %d %v\n%s", resp.StatusCode, resp.Header, body)
	}
	resp, body = get("/console/views/jobs.js")
	if resp.StatusCode != 200 || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/javascript") ||
		resp.Header.Get("Content-Security-Policy") != "default-src 'self'" || strings.Contains(body, "innerHTML") {
		t.Fatalf("GET jobs.js: %d %v", resp.StatusCode, resp.Header)
	}
	// Unknown paths keep the API's JSON 404; other methods are 405.
	for _, p := range []string{"/console/nope.js", "/index.html", "/console/"} {
		if resp, body = get(p); resp.StatusCode != 404 || !strings.Contains(body, `"code":"not_found"`) {
			t.Fatalf("GET %s: %d %s", p, resp.StatusCode, body)
		}
	}
	r, err := http.Post(d.URL()+"/", "application/json", strings.NewReader("{}"))
	if err != nil || r.StatusCode != 405 || r.Header.Get("Allow") != "GET" {
		t.Fatalf("POST /: %v %v", err, r)
	}
	r.Body.Close()
}

func TestConsoleFlow(t *testing.T) {
	cfg := agentCfg("worker", "sh", "-c", `echo "working on: $(cat)"; sleep 0.3; echo done`)
	d := testutil.StartDaemon(t, testutil.Options{Config: cfg})
	c := d.Client
	b := newBrowser(t, d.URL(), 1280, 900)

	b.load("/")
	b.waitFor("#overview")
	b.waitFor("#conn.conn-live")
	b.markPage()

	// Create a job through the form: first an invalid one, whose API message is shown verbatim.
	b.click(`#nav a[data-nav="jobs"]`)
	b.click("#new-job")
	b.waitFor("#job-form")
	b.typeInto("#f-name", "nightly-report")
	b.choose("#f-agent_name", "worker")
	b.typeInto("#f-prompt", "Summarize yesterday's runs.")
	b.typeInto("#f-schedule-expr", "61 * * * *")
	b.click("#save-job")
	b.waitFor("#form-error")
	api := expect(t, c, "POST", "/api/automation/jobs", `{"name":"nightly-report","scope":"global","agent_name":"worker",`+
		`"prompt":"Summarize yesterday's runs.","schedule":{"mode":"cron","expr":"61 * * * *"},"enabled":true}`, 400, "validation_failed", "")
	if got := b.text("#form-error"); got != api["error"] || !strings.HasPrefix(got, "automation validation error: job.schedule.expr is invalid") {
		t.Fatalf("form error %q, API says %q", got, api["error"])
	}
	b.screenshot("job-form")
	b.typeInto("#f-schedule-expr", "30 9 * * 1-5")
	b.typeInto("#f-schedule-timezone", "Europe/Paris")
	b.click("#save-job")
	b.waitFor("#job-detail #preview tbody tr")
	jobs := list(expect(t, c, "GET", "/api/automation/jobs", "", 200, "", ""), "jobs")
	if len(jobs) != 1 {
		t.Fatalf("jobs %v", jobs)
	}
	job := jobs[0].(map[string]any)
	jobID := job["id"].(string)
	fires := list(obj(expect(t, c, "GET", "/api/automation/jobs/"+jobID+"/preview", "", 200, "", ""), "preview"), "fires")
	if n := b.count("#preview tbody tr"); n != 10 || len(fires) != 10 {
		t.Fatalf("next fires: %d rows, API %d", n, len(fires))
	}
	if got, want := b.text("#preview tbody tr td"), fires[0].(map[string]any)["local"].(string); got != want {
		t.Fatalf("first fire %q, want %q", got, want)
	}

	// Run it now and watch it reach completed without a reload.
	b.click("#run-now")
	b.waitFor("#job-detail .runs tbody tr .badge-completed")
	b.stillSamePage()
	runs := list(expect(t, c, "GET", "/api/automation/jobs/"+jobID+"/runs", "", 200, "", ""), "runs")
	if len(runs) != 1 || runs[0].(map[string]any)["status"] != "completed" {
		t.Fatalf("runs %v", runs)
	}
	runID := runs[0].(map[string]any)["id"].(string)
	b.screenshot("job-detail")

	// Its transcript.
	b.click("#job-detail .runs tbody tr a")
	b.waitFor("#run-detail #transcript .entry-stdout")
	tr := b.text("#transcript")
	if !strings.Contains(tr, "Summarize yesterday's runs.") || !strings.Contains(tr, "working on: Summarize yesterday's runs.") || !strings.Contains(tr, "done") {
		t.Fatalf("transcript:\n%s", tr)
	}
	if !strings.Contains(b.text("#run-detail h1"), runID) {
		t.Fatalf("run detail of %s shows %q", runID, b.text("#run-detail h1"))
	}
	b.screenshot("run-transcript")

	// Edit the job: only the changed field is sent.
	b.go_("/jobs/" + jobID + "/edit")
	b.typeInto("#f-prompt", "Summarize last week's runs.")
	b.click("#save-job")
	b.wait(`document.querySelector('#job-detail') && document.querySelector('#job-detail').innerText.includes("Summarize last week's runs.")`, "the edited prompt")
	if j := obj(expect(t, c, "GET", "/api/automation/jobs/"+jobID, "", 200, "", ""), "job"); j["prompt"] != "Summarize last week's runs." || j["schedule"].(map[string]any)["timezone"] != "Europe/Paris" {
		t.Fatalf("edited job %v", j)
	}

	// A job that fires every second: its slot ledger fills live; disable it from the list.
	beat := createJob(t, c, jobFor("worker", "heartbeat", `"schedule":{"mode":"every","interval":"1s"}`))
	b.go_("/jobs/" + beat["id"].(string))
	b.waitFor("#slots tbody tr .badge-fired")
	b.stillSamePage()
	b.go_("/jobs")
	b.click(`#jobs tr[data-id="` + beat["id"].(string) + `"] button.toggle`)
	b.wait(`document.querySelector('#jobs tr[data-id="`+beat["id"].(string)+`"] .badge-disabled')`, "heartbeat disabled")
	if j := obj(expect(t, c, "GET", "/api/automation/jobs/"+beat["id"].(string), "", 200, "", ""), "job"); j["enabled"] != false {
		t.Fatalf("heartbeat still enabled: %v", j)
	}

	// Create a webhook trigger through the form.
	const secret = "console-webhook-secret"
	b.click(`#nav a[data-nav="triggers"]`)
	b.click("#new-trigger")
	b.waitFor("#trigger-form")
	b.typeInto("#f-name", "deploys")
	b.choose("#f-agent_name", "worker")
	b.typeInto("#f-endpoint_slug", "deploys")
	b.typeInto("#f-webhook_secret_value", secret)
	b.typeInto("#f-prompt", "Check the deploy of {{ .Data.service }} to {{ .Data.env }}.")
	b.click("#add-filter")
	b.typeInto(".filter-row input[name='filter.key']", "data.env")
	b.typeInto(".filter-row input[name='filter.value']", "prod")
	b.click("#save-trigger")
	b.waitFor("#trigger-detail #webhook-url")
	triggers := list(expect(t, c, "GET", "/api/automation/triggers", "", 200, "", ""), "triggers")
	if len(triggers) != 1 {
		t.Fatalf("triggers %v", triggers)
	}
	trig := triggers[0].(map[string]any)
	trigID, path := trig["id"].(string), trig["webhook_path"].(string)
	if got := b.text("#webhook-url"); got != d.URL()+path {
		t.Fatalf("webhook URL %q, want %q", got, d.URL()+path)
	}
	if fmt.Sprint(trig["filter"]) != "map[data.env:prod]" || trig["signature_scheme"] != "agh" {
		t.Fatalf("trigger %v", trig)
	}
	example := b.text("#signing-example")
	if !strings.Contains(example, "openssl dgst -sha256 -hmac") || !strings.Contains(example, "URL='"+d.URL()+path+"'") {
		t.Fatalf("signing example:\n%s", example)
	}

	// A signed delivery from the test: the delivery and its run appear without reloading.
	code, m := send(t, c, path, "agh", secret, `{"service":"api","env":"prod"}`, "console-dlv-1", time.Now(), nil)
	if code != 200 || obj(m, "result")["matched"] != float64(1) {
		t.Fatalf("delivery: %d %v", code, m)
	}
	b.waitFor("#deliveries tbody tr .badge-accepted")
	b.waitFor("#trigger-detail .runs tbody tr .badge-completed")
	if !strings.Contains(b.text("#deliveries"), "console-dlv-1") {
		t.Fatalf("delivery log:\n%s", b.text("#deliveries"))
	}
	// The signing example works as printed once the secret is filled in.
	if _, err := exec.LookPath("openssl"); err != nil {
		t.Log("openssl not installed: the shell signing example is not executed")
	} else {
		script := regexp.MustCompile(`(?m)^SECRET='[^']*'`).ReplaceAllString(example, "SECRET='"+secret+"'")
		script = strings.Replace(script, `"action":"opened"`, `"env":"prod"`, 1)
		out, err := exec.Command("bash", "-c", script).CombinedOutput()
		if err != nil || !strings.Contains(string(out), `"matched":1`) {
			t.Fatalf("signing example: %v\n%s\n---\n%s", err, out, script)
		}
		b.wait("document.querySelectorAll('#deliveries tbody tr .badge-accepted').length === 2", "the second delivery")
		b.wait("document.querySelectorAll('#trigger-detail .runs tbody tr').length === 2", "the second run")
	}
	b.stillSamePage()
	b.screenshot("trigger-detail")

	// Edit the trigger: the prompt changes, the endpoint and the secret stay.
	b.go_("/triggers/" + trigID + "/edit")
	b.typeInto("#f-prompt", "Verify the deploy of {{ .Data.service }}.")
	b.click("#save-trigger")
	b.wait(`document.querySelector('#trigger-detail') && document.querySelector('#trigger-detail').innerText.includes("Verify the deploy")`, "the edited trigger")
	edited := obj(expect(t, c, "GET", "/api/automation/triggers/"+trigID, "", 200, "", ""), "trigger")
	if edited["webhook_path"] != path || edited["webhook_secret_hash"] != trig["webhook_secret_hash"] || fmt.Sprint(edited["filter"]) != "map[data.env:prod]" {
		t.Fatalf("edited trigger %v", edited)
	}

	// Runs list with filters.
	b.go_("/runs?trigger_id=" + trigID)
	b.waitFor("#runs tbody tr")
	want := len(list(expect(t, c, "GET", "/api/automation/runs?trigger_id="+trigID, "", 200, "", ""), "runs"))
	if n := b.count("#runs tbody tr"); n != want {
		t.Fatalf("runs filtered by trigger: %d rows, want %d", n, want)
	}
	b.choose("#filter-trigger_id", "")
	all := len(list(expect(t, c, "GET", "/api/automation/runs", "", 200, "", ""), "runs"))
	b.wait(fmt.Sprintf("document.querySelectorAll('#runs tbody tr').length >= %d", all), "all runs")
	b.choose("#filter-status", "failed")
	b.wait(`location.hash === "#/runs?status=failed" && document.querySelector('#runs .empty')`, "no failed runs")

	// Tasks: complete a human task when this daemon serves the task API.
	resp, err := http.Get(d.URL() + "/api/tasks")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode == 200 {
		job := createJob(t, c, `{"name":"approve-release","scope":"global","schedule":{"mode":"cron","expr":"0 3 * * *"},`+
			`"task":{"title":"Approve the release","description":"Check the changelog, then approve.","owner":{"kind":"human","ref":"ops"}}}`)
		run := trigger(t, c, job["id"].(string))
		if run["status"] != "delegated" {
			t.Fatalf("task run %v", run)
		}
		b.go_("/tasks")
		b.waitFor("#tasks .task .complete")
		if !strings.Contains(b.text("#tasks"), "Approve the release") {
			t.Fatalf("tasks:\n%s", b.text("#tasks"))
		}
		b.screenshot("tasks")
		b.typeInto("#tasks .task textarea", "approved by the console test")
		b.click("#tasks .task .complete")
		b.wait("!document.querySelector('#tasks .task')", "the completed task to leave the open inbox")
		tasks := list(expect(t, c, "GET", "/api/tasks?status=done", "", 200, "", ""), "tasks")
		if len(tasks) != 1 || tasks[0].(map[string]any)["result"] != "approved by the console test" {
			t.Fatalf("done tasks %v", tasks)
		}
	} else {
		t.Logf("GET /api/tasks answers %d: this branch has no task API; the inbox must show as empty", resp.StatusCode)
		b.go_("/tasks")
		b.waitFor("#tasks .empty")
		b.screenshot("tasks")
	}

	// Screenshots of the remaining main pages.
	if os.Getenv("AGH_SCREENSHOTS") != "" {
		createJob(t, c, jobFor("worker", "weekly-digest", `"schedule":{"mode":"every","interval":"168h"}`))
		createJob(t, c, jobFor("worker", "hourly-sync", `"schedule":{"mode":"cron","expr":"@hourly"}`, `"enabled":false`))
		b.go_("/")
		b.waitFor("#overview table")
		b.screenshot("overview")
		b.go_("/jobs")
		b.wait("document.querySelectorAll('#jobs tbody tr').length >= 4", "the jobs")
		b.screenshot("jobs")
		b.go_("/triggers")
		b.waitFor("#triggers tbody tr")
		b.screenshot("triggers")
	}
	b.stillSamePage()
}

func TestConsoleNarrowViewport(t *testing.T) {
	d := start(t, "")
	c := d.Client
	long := strings.Repeat("a-very-long-job-name-", 6)
	createJob(t, c, jobBody(long[:120]))
	// API data is shown as text, never parsed as markup.
	const evil = `<img src=x onerror=document.title='pwned'>`
	createJob(t, c, jobBody(evil))
	j := createJob(t, c, jobBody("triage", `"schedule":{"mode":"cron","expr":"*/5 * * * *","timezone":"America/Argentina/Buenos_Aires"}`))
	trigger(t, c, j["id"].(string))
	b := newBrowser(t, d.URL(), 375, 800)
	b.do("emulate a phone", chromedp.EmulateViewport(375, 800, chromedp.EmulateMobile))
	noScroll := "document.documentElement.scrollWidth <= document.documentElement.clientWidth"
	b.load("/jobs")
	b.wait("document.querySelectorAll('#jobs tbody tr').length === 3", "three jobs")
	if !strings.Contains(b.text("#jobs"), evil) || b.count("#jobs img") != 0 || eval[string](b, "document.title") == "pwned" {
		t.Fatal("a job name was rendered as HTML")
	}
	if !eval[bool](b, noScroll) {
		t.Fatalf("the jobs page scrolls horizontally at 375px: scrollWidth %d", eval[int](b, "document.documentElement.scrollWidth"))
	}
	if eval[string](b, "getComputedStyle(document.querySelector('#jobs thead')).display") != "none" {
		t.Fatal("the jobs table is not shown as cards under 700px")
	}
	b.screenshot("jobs-narrow")
	for _, route := range []string{"/", "/jobs/" + j["id"].(string), "/runs", "/triggers", "/jobs/new", "/triggers/new"} {
		b.go_(route)
		b.wait("document.querySelector('#main .page')", route)
		time.Sleep(100 * time.Millisecond) // let the page settle
		if !eval[bool](b, noScroll) {
			t.Errorf("%s scrolls horizontally at 375px", route)
		}
	}
}

func TestConsoleTokenPrompt(t *testing.T) {
	const token = "console-token-0123456789"
	d := testutil.StartDaemon(t, testutil.Options{Config: baseConfig + "\n[api]\ntokens = [\"" + token + "\"]\n"})
	c := d.Client
	c.Token = token
	createJob(t, c, jobBody("guarded"))
	b := newBrowser(t, d.URL(), 1024, 768)
	b.load("/jobs")
	b.waitFor("#token-dialog #token-input")
	b.typeInto("#token-input", "wrong-token-0123456789")
	b.click("#token-submit")
	b.wait(`(d => d && d.open && d.innerText.includes('The token was rejected'))(document.getElementById('token-dialog'))`, "the rejection message")
	b.typeInto("#token-input", token)
	b.click("#token-submit")
	b.waitFor("#jobs tbody tr")
	if !strings.Contains(b.text("#jobs"), "guarded") {
		t.Fatalf("jobs:\n%s", b.text("#jobs"))
	}
	// The stream carries the token too: a job created elsewhere appears live.
	b.waitFor("#conn.conn-live")
	createJob(t, c, jobBody("created-elsewhere"))
	b.wait("document.querySelectorAll('#jobs tbody tr').length === 2", "the job created through the API")
	if eval[string](b, "sessionStorage.getItem('agh.token')") != token {
		t.Fatal("token not kept in sessionStorage")
	}
}

// dropProxy forwards TCP connections to a daemon and can drop them all and refuse new ones,
// as a network outage would.
type dropProxy struct {
	ln      net.Listener
	target  string
	mu      sync.Mutex
	conns   map[net.Conn]struct{}
	refused bool
}

func newDropProxy(t *testing.T, target string) *dropProxy {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &dropProxy{ln: ln, target: target, conns: map[net.Conn]struct{}{}}
	t.Cleanup(func() { ln.Close(); p.outage(true) })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			p.mu.Lock()
			refused := p.refused
			if !refused {
				p.conns[c] = struct{}{}
			}
			p.mu.Unlock()
			if refused {
				c.Close()
				continue
			}
			go p.pipe(c)
		}
	}()
	return p
}

func (p *dropProxy) pipe(c net.Conn) {
	up, err := net.Dial("tcp", p.target)
	if err != nil {
		c.Close()
		return
	}
	p.mu.Lock()
	p.conns[up] = struct{}{}
	p.mu.Unlock()
	go func() { _, _ = io.Copy(up, c); up.Close() }()
	_, _ = io.Copy(c, up)
	c.Close()
}

// outage closes every connection; while refuse is true new ones are closed at once.
func (p *dropProxy) outage(refuse bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.refused = refuse
	for c := range p.conns {
		c.Close()
		delete(p.conns, c)
	}
}

func TestConsoleReconnect(t *testing.T) {
	d := start(t, "")
	c := d.Client
	createJob(t, c, jobBody("before-outage"))
	proxy := newDropProxy(t, d.D.Addr)
	b := newBrowser(t, "http://"+proxy.ln.Addr().String(), 1024, 768)
	b.load("/jobs")
	b.waitFor("#jobs tbody tr")
	b.waitFor("#conn.conn-live")
	b.markPage()
	// While the console is cut off, a job is created: the stream cannot deliver it.
	proxy.outage(true)
	b.waitFor("#conn.conn-reconnecting")
	createJob(t, c, jobBody("during-outage"))
	time.Sleep(300 * time.Millisecond)
	// After the reconnect the console re-reads its lists.
	proxy.outage(false)
	b.waitFor("#conn.conn-live")
	b.wait("document.querySelectorAll('#jobs tbody tr').length === 2", "the job created during the outage")
	b.stillSamePage()
	// And live updates flow again.
	createJob(t, c, jobBody("after-outage"))
	b.wait("document.querySelectorAll('#jobs tbody tr').length === 3", "the job created after the outage")
}
