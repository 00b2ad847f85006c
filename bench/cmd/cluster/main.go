// Command cluster measures agh on several nodes sharing one PostgreSQL database (SPEC §15),
// against the SQLite store, by driving real `agh daemon` processes (the binary) over HTTP.
//
//	slots:   N `every 1s` jobs (N large enough to saturate the scheduler) on 1, 2 and 3 nodes
//	         on one PostgreSQL database, and on one SQLite node for reference. After a warm-up,
//	         committed schedule runs per second over a window (runs with origin schedule whose
//	         started_at, taken in the claiming transaction, falls in the window) and the fire
//	         lag (started_at − scheduled_at) p50/p99. To measure the scheduler's claims rather
//	         than the dispatcher, max_concurrent_runs is 1 and the agent is `sleep 3600`: one
//	         run occupies the cap and every other run stays scheduled (with -agent true and
//	         -cap 1000 the same mode measures runs that are also dispatched; the column
//	         "completed runs/s" counts runs that ended completed in the window).
//	create:  M job creations (POST /api/automation/jobs, daily cron) from C connections,
//	         spread over the nodes: creations per second and latency p50/p99.
//	webhook: K webhook deliveries (distinct delivery ids, agh signature) to -triggers triggers
//	         (default 1) from C connections spread over the nodes: deliveries per second and
//	         latency p50/p99. The runs stay scheduled (cap 1, agent `sleep 3600`).
//
// Jobs use misfire_grace_seconds 3600 so that a saturated scheduler, however late, still
// fires every slot (a slot later than the default 60 s grace would be skipped(misfire) and
// not counted). Nodes log at level warn. PostgreSQL runs with fsync and synchronous_commit on
// (-pgfsync=false turns them off, as the tests' throwaway server does).
//
// Each configuration starts on a fresh database (a new PostgreSQL database on one throwaway
// server started by the program; a new data directory for SQLite), and every measurement is
// repeated -rounds times; the table shows the median and every value.
//
//	go run ./bench/cmd/cluster -mode all -rounds 3
//	go run ./bench/cmd/cluster -mode slots -nodes 1,2,3 -jobs 3000 -window 30s -rounds 3
//	go run ./bench/cmd/cluster -mode slots -nodes 1,3 -jobs 300 -agent true -cap 1000 -warmup 5s -window 20s
//	go run ./bench/cmd/cluster -mode webhook -deliveries 2000 -triggers 4
package main

import (
	"flag"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/agh-dev/agh/bench/internal/harness"
	"github.com/agh-dev/agh/internal/webhook"
)

var (
	flagBin     = flag.String("bin", "", "agh binary (default: go build ./cmd/agh into a temporary directory)")
	flagDir     = flag.String("dir", "", "parent of the temporary directories (default $TMPDIR)")
	flagRounds  = flag.Int("rounds", 3, "repetitions of every measurement (the median is reported)")
	flagNodes   = flag.String("nodes", "1,2,3", "slots: PostgreSQL node counts")
	flagJobs    = flag.Int("jobs", 3000, "slots: `every 1s` jobs")
	flagWarmup  = flag.Duration("warmup", 10*time.Second, "slots: time between the last creation and the window")
	flagWindow  = flag.Duration("window", 30*time.Second, "slots: measurement window")
	flagAgent   = flag.String("agent", "sleep 3600", "slots: agent command (split on spaces)")
	flagCap     = flag.Int("cap", 1, "slots: max_concurrent_runs")
	flagCreates = flag.Int("creates", 2000, "create: job creations per round")
	flagHooks   = flag.Int("deliveries", 2000, "webhook: deliveries per round")
	flagConc    = flag.Int("conc", 16, "create, webhook: concurrent connections")
	flagTrigs   = flag.Int("triggers", 1, "webhook: triggers the deliveries are spread over (admissions of one trigger serialize)")
	flagFsync   = flag.Bool("pgfsync", true, "PostgreSQL fsync and synchronous_commit (SQLite always runs synchronous=FULL)")
	flagSQLite  = flag.Bool("sqlite", true, "also measure one SQLite node")
	flagMode    = flag.String("mode", "all", "slots, create, webhook or all")
	flagPGStat  = flag.Bool("pgstat", false, "load pg_stat_statements and print the statements with the most execution time after each PostgreSQL round")
)

func main() {
	flag.Parse()
	bin := *flagBin
	if bin == "" {
		dir, err := os.MkdirTemp(*flagDir, "aghbench-bin-")
		check(err)
		defer os.RemoveAll(dir)
		bin = filepath.Join(dir, "agh")
		out, err := exec.Command("go", "build", "-o", bin, "github.com/agh-dev/agh/cmd/agh").CombinedOutput()
		if err != nil {
			check(fmt.Errorf("go build: %v\n%s", err, out))
		}
	}
	fmt.Println("# agh cluster benchmark —", machine())
	fmt.Printf("# rounds %d, PostgreSQL fsync/synchronous_commit %v\n", *flagRounds, *flagFsync)
	var extra []string
	if *flagPGStat {
		extra = []string{"shared_preload_libraries=pg_stat_statements", "pg_stat_statements.track=all"}
	}
	pg, err := startPG(*flagDir, *flagFsync, extra)
	check(err)
	atExit = append(atExit, pg.stop)
	defer pg.stop()
	b := &bench{bin: bin, pg: pg}
	// On SIGINT or SIGTERM: stop the nodes of the configuration being measured, then the server.
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, syscall.SIGINT, syscall.SIGTERM)
	go func() {
		<-sigs
		check(fmt.Errorf("interrupted"))
	}()
	switch *flagMode {
	case "slots":
		b.slots()
	case "create":
		b.creates()
	case "webhook":
		b.webhooks()
	case "all":
		b.slots()
		b.creates()
		b.webhooks()
	default:
		check(fmt.Errorf("unknown mode %q", *flagMode))
	}
}

type bench struct {
	bin string
	pg  *pgServer
	seq int
}

// cluster is the nodes of one configuration and the store they share.
type cluster struct {
	nodes []*node
	dsn   string // PostgreSQL URL, or the SQLite database path
}

// start starts n nodes on a fresh PostgreSQL database, or one SQLite node when n == 0.
func (b *bench) start(n, maxRuns int, agent []string) *cluster {
	b.seq++
	c := &cluster{}
	running.Store(c)
	if n == 0 {
		nd, err := startNode(b.bin, *flagDir, "sqlite", nodeConfig("sqlite", "", maxRuns, agent))
		check(err)
		c.nodes = []*node{nd}
		c.dsn = filepath.Join(nd.dir, "agh.db")
		return c
	}
	url, err := b.pg.createDB(fmt.Sprintf("bench_%d_%d", os.Getpid(), b.seq))
	check(err)
	if *flagPGStat {
		check(b.pg.exec(url, "CREATE EXTENSION IF NOT EXISTS pg_stat_statements; SELECT pg_stat_statements_reset()"))
	}
	c.dsn = url
	for i := 0; i < n; i++ {
		id := fmt.Sprintf("node-%d", i+1)
		nd, err := startNode(b.bin, *flagDir, id, nodeConfig(id, url, maxRuns, agent))
		if err != nil {
			c.stop()
			check(err)
		}
		c.nodes = append(c.nodes, nd)
	}
	return c
}

func (b *bench) stop(c *cluster) {
	if *flagPGStat && strings.HasPrefix(c.dsn, "postgres://") {
		out, err := b.pg.topStatements(c.dsn)
		if err != nil {
			out = err.Error()
		}
		fmt.Fprintln(os.Stderr, out)
	}
	c.stop()
}

func (c *cluster) stop() {
	var wg sync.WaitGroup
	for _, n := range c.nodes {
		wg.Add(1)
		go func() { defer wg.Done(); n.stop() }()
	}
	wg.Wait()
	for _, n := range c.nodes {
		os.RemoveAll(n.dir)
	}
}

func label(n int) string {
	if n == 0 {
		return "SQLite, 1 node"
	}
	if n == 1 {
		return "PostgreSQL, 1 node"
	}
	return fmt.Sprintf("PostgreSQL, %d nodes", n)
}

// ---- slots

func (b *bench) slots() {
	counts := parseCounts(*flagNodes)
	if *flagSQLite {
		counts = append([]int{0}, counts...)
	}
	agent := strings.Fields(*flagAgent)
	fmt.Printf("\n## slots: %d `every 1s` jobs, warm-up %v, window %v, max_concurrent_runs %d, agent %q\n",
		*flagJobs, *flagWarmup, *flagWindow, *flagCap, *flagAgent)
	fmt.Println("| store, nodes | committed schedule runs/s (median) | vs 1 PG node | all rounds | fire lag p50 / p99 (median round) | completed runs/s (median) | job creations/s during set-up |")
	fmt.Println("|---|---|---|---|---|---|---|")
	var base float64
	for _, n := range counts {
		var rates, p50s, p99s, creates, dones []float64
		for r := 0; r < *flagRounds; r++ {
			rate, p50, p99, cr, done := b.slotRound(n, agent)
			rates, p50s, p99s, creates, dones = append(rates, rate), append(p50s, p50), append(p99s, p99), append(creates, cr), append(dones, done)
			fmt.Fprintf(os.Stderr, "slots %s round %d: %.0f runs/s, lag p50 %.0f ms p99 %.0f ms, completed %.0f/s, creates %.0f/s\n", label(n), r+1, rate, p50, p99, done, cr)
		}
		med := median(rates)
		mi := medianIndex(rates)
		if n == 1 {
			base = med
		}
		ratio := "—"
		if n >= 1 && base > 0 {
			ratio = fmt.Sprintf("%.2f×", med/base)
		}
		fmt.Printf("| %s | %.0f | %s | %s | %.0f ms / %.0f ms | %.0f | %.0f |\n", label(n), med, ratio, list(rates), p50s[mi], p99s[mi], median(dones), median(creates))
	}
}

func (b *bench) slotRound(n int, agent []string) (rate, p50, p99, createRate, doneRate float64) {
	c := b.start(n, *flagCap, agent)
	defer b.stop(c)
	hc := newClient(*flagConc)
	t0 := time.Now()
	_, err := harness.Run(*flagConc, *flagJobs, func(i int) error {
		nd := c.nodes[i%len(c.nodes)]
		_, err := callJSON(hc, "POST", nd.base+"/api/automation/jobs", fmt.Sprintf(
			`{"name":"tick-%05d","scope":"global","agent_name":"ok","prompt":"tick","schedule":{"mode":"every","interval":"1s"},`+
				`"misfire_grace_seconds":3600,"fire_limit":{"max":1000000,"window":"1h"}}`, i), 201)
		return err
	})
	check(err)
	createRate = float64(*flagJobs) / time.Since(t0).Seconds()
	time.Sleep(*flagWarmup)
	from := time.Now()
	time.Sleep(*flagWindow)
	to := time.Now()
	cnt, err := countRuns(b.pg, c.dsn, fmt.Sprintf("origin = 'schedule' AND attempt = 1 AND started_at > %d AND started_at <= %d", from.UnixNano(), to.UnixNano()))
	check(err)
	done, err := countRuns(b.pg, c.dsn, fmt.Sprintf("status = 'completed' AND ended_at > %d AND ended_at <= %d", from.UnixNano(), to.UnixNano()))
	check(err)
	p50, p99, err = lagQuantiles(b.pg, c.dsn, from, to)
	check(err)
	secs := to.Sub(from).Seconds()
	return float64(cnt) / secs, p50, p99, createRate, float64(done) / secs
}

// ---- job creation

func (b *bench) creates() {
	counts := []int{1, 3}
	if *flagSQLite {
		counts = append([]int{0}, counts...)
	}
	fmt.Printf("\n## create: %d job creations per round from %d connections (spread over the nodes)\n", *flagCreates, *flagConc)
	fmt.Println("| store, nodes | creations/s (median) | all rounds | latency p50 / p99 (median round) |")
	fmt.Println("|---|---|---|---|")
	for _, n := range counts {
		var rates, p50s, p99s []float64
		for r := 0; r < *flagRounds; r++ {
			c := b.start(n, 1, []string{"true"})
			hc := newClient(*flagConc)
			res, err := harness.Run(*flagConc, *flagCreates, func(i int) error {
				_, err := callJSON(hc, "POST", c.nodes[i%len(c.nodes)].base+"/api/automation/jobs", fmt.Sprintf(
					`{"name":"daily-%05d","scope":"global","agent_name":"ok","prompt":"summarize the repository","schedule":{"mode":"cron","expr":"0 3 * * *"}}`, i), 201)
				return err
			})
			b.stop(c)
			check(err)
			rates, p50s, p99s = append(rates, res.Rate()), append(p50s, pct(res, 50)), append(p99s, pct(res, 99))
			fmt.Fprintf(os.Stderr, "create %s round %d: %.0f/s\n", label(n), r+1, res.Rate())
		}
		mi := medianIndex(rates)
		fmt.Printf("| %s | %.0f | %s | %.1f ms / %.1f ms |\n", label(n), median(rates), list(rates), p50s[mi], p99s[mi])
	}
}

// ---- webhooks

func (b *bench) webhooks() {
	counts := []int{1, 3}
	if *flagSQLite {
		counts = append([]int{0}, counts...)
	}
	fmt.Printf("\n## webhook: %d deliveries per round (distinct delivery ids) to %d trigger(s) from %d connections (spread over the nodes)\n", *flagHooks, *flagTrigs, *flagConc)
	fmt.Println("| store, nodes | deliveries/s (median) | all rounds | latency p50 / p99 (median round) |")
	fmt.Println("|---|---|---|---|")
	const secret = "bench-webhook-secret"
	body := []byte(`{"action":"opened","issue":{"number":42,"title":"Crash on start"}}`)
	for _, n := range counts {
		var rates, p50s, p99s []float64
		for r := 0; r < *flagRounds; r++ {
			c := b.start(n, 1, []string{"sleep", "3600"})
			hc := newClient(*flagConc)
			var paths []string
			for k := 0; k < *flagTrigs; k++ {
				tr, err := callJSON(hc, "POST", c.nodes[k%len(c.nodes)].base+"/api/automation/triggers",
					fmt.Sprintf(`{"name":"hook-%d","scope":"global","agent_name":"ok","event":"webhook","endpoint_slug":"hook","webhook_secret_value":"`+secret+`",`+
						`"fire_limit":{"max":1000000,"window":"1h"},"prompt":"Issue #{{ .Data.issue.number }} ({{ .Data.delivery_id }})"}`, k), 201)
				check(err)
				paths = append(paths, tr["trigger"].(map[string]any)["webhook_path"].(string))
			}
			// Wait until every node knows the triggers (a badly signed delivery is 401, not 404).
			for _, path := range paths {
				for _, nd := range c.nodes {
					for {
						code, _, err := call(hc, "POST", nd.base+path, body, webhook.Sign("agh", []byte("x"), body, time.Now(), "probe"))
						check(err)
						if code == 401 {
							break
						}
						time.Sleep(20 * time.Millisecond)
					}
				}
			}
			tag := rand.Uint64()
			res, err := harness.Run(*flagConc, *flagHooks, func(i int) error {
				h := webhook.Sign("agh", []byte(secret), body, time.Now(), fmt.Sprintf("d-%x-%d", tag, i))
				code, rb, err := call(hc, "POST", c.nodes[i%len(c.nodes)].base+paths[i%len(paths)], body, h)
				if err == nil && code != 200 {
					err = fmt.Errorf("delivery %d: %d %s", i, code, rb)
				}
				return err
			})
			b.stop(c)
			check(err)
			rates, p50s, p99s = append(rates, res.Rate()), append(p50s, pct(res, 50)), append(p99s, pct(res, 99))
			fmt.Fprintf(os.Stderr, "webhook %s round %d: %.0f/s p50 %.1f ms\n", label(n), r+1, res.Rate(), pct(res, 50))
		}
		mi := medianIndex(rates)
		fmt.Printf("| %s | %.0f | %s | %.1f ms / %.1f ms |\n", label(n), median(rates), list(rates), p50s[mi], p99s[mi])
	}
}

// ---- helpers

// pct is a latency percentile of a load run, in milliseconds.
func pct(r harness.Result, p float64) float64 {
	return float64(harness.Percentile(r.Lat, p)) / 1e6
}

func parseCounts(s string) []int {
	var out []int
	for _, f := range strings.Split(s, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || n < 1 {
			check(fmt.Errorf("bad -nodes %q", s))
		}
		out = append(out, n)
	}
	return out
}

func median(xs []float64) float64 { return xs[medianIndex(xs)] }

// medianIndex is the index of the median (the lower middle for an even count).
func medianIndex(xs []float64) int {
	idx := make([]int, len(xs))
	for i := range idx {
		idx[i] = i
	}
	slices.SortFunc(idx, func(a, b int) int {
		switch {
		case xs[a] < xs[b]:
			return -1
		case xs[a] > xs[b]:
			return 1
		}
		return 0
	})
	return idx[(len(idx)-1)/2]
}

func list(xs []float64) string {
	s := make([]string, len(xs))
	for i, x := range xs {
		s[i] = strconv.FormatFloat(x, 'f', 0, 64)
	}
	return strings.Join(s, ", ")
}

func machine() string {
	cpu := "?"
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for _, line := range strings.Split(string(b), "\n") {
			if strings.HasPrefix(line, "model name") {
				_, v, _ := strings.Cut(line, ":")
				cpu = strings.TrimSpace(v)
				break
			}
		}
	}
	load := "?"
	if b, err := os.ReadFile("/proc/loadavg"); err == nil {
		load = strings.Join(strings.Fields(string(b))[:3], " ")
	}
	pgv := "?"
	if m, _ := filepath.Glob("/usr/lib/postgresql/*/bin/postgres"); len(m) > 0 {
		if out, err := exec.Command(m[len(m)-1], "--version").Output(); err == nil {
			pgv = strings.TrimSpace(string(out))
		}
	}
	return fmt.Sprintf("%s, nproc %d, %s %s/%s, %s, loadavg %s, %s", cpu, runtime.NumCPU(), runtime.Version(),
		runtime.GOOS, runtime.GOARCH, pgv, load, time.Now().UTC().Format("2006-01-02 15:04 UTC"))
}

// atExit is run by check before it exits, after the nodes of the running configuration are
// stopped.
var (
	atExit  []func()
	running atomic.Value // *cluster
)

func check(err error) {
	if err != nil {
		fmt.Fprintln(os.Stderr, "cluster bench:", err)
		if c, _ := running.Load().(*cluster); c != nil {
			c.stop()
		}
		for _, f := range atExit {
			f()
		}
		os.Exit(1)
	}
}
