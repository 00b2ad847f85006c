// Command webhook benchmarks agh's signed-webhook intake against the physical ceiling of this
// machine, measured in the same run (issue 5, "Benchmark"; results in bench/WEBHOOK.md).
//
// In one process it starts, for every phase, a fresh server:
//
//	hmac     a bare net/http handler that only verifies the agh signature of a 1 KiB body
//	insert   the same plus one row inserted through agh's group-committing SQLite writer
//	nomatch  the agh daemon (in-process, real wiring) with a webhook trigger whose filter does not match
//	match    the agh daemon with a matching trigger: every delivery admits a durable run
//
// and drives it with a closed-loop generator (N keep-alive connections, each sending its next
// signed delivery as soon as the previous answer arrived) for a fixed duration, then with an
// open-loop generator at a fixed offered rate for latency. Every delivery has a unique
// delivery id; signatures are computed before the timed region. The whole sequence is
// repeated and medians are reported; ratios are taken within each repetition, so the
// baselines see the same machine load as agh.
//
//	go run ./bench/cmd/webhook -reps 5
//	go run ./bench/cmd/webhook -micro      # store operations whose cost grows with the data
//
// The results and their analysis are in bench/WEBHOOK.md.
package main

import (
	"bytes"
	"flag"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/agh-dev/agh/internal/store/sqlite"
)

var (
	flagReps     = flag.Int("reps", 3, "repetitions of the whole sequence (medians are reported; 0 with -profile only profiles)")
	flagDuration = flag.Duration("duration", 5*time.Second, "measured duration of each closed-loop phase")
	flagWarmup   = flag.Duration("warmup", time.Second, "unmeasured warmup before each phase")
	flagConns    = flag.Int("conns", 64, "closed-loop connections")
	flagRate     = flag.Float64("rate", 2000, "open-loop offered rate (deliveries/s)")
	flagOpenDur  = flag.Duration("open-duration", 10*time.Second, "measured duration of each open-loop phase")
	flagOpenConn = flag.Int("open-conns", 64, "open-loop connection pool size")
	flagDrain    = flag.Duration("drain", 5*time.Second, "open loop: time a saturated server gets after the schedule ends before the unsent requests are dropped")
	flagPhases   = flag.String("phases", "hmac,insert,nomatch,match", "servers to measure")
	flagClosed   = flag.Bool("closed", true, "run the closed-loop phases")
	flagOpen     = flag.Bool("open", true, "run the open-loop phases")
	flagWriter   = flag.Duration("writer", 3*time.Second, "duration of each writer micro-benchmark (0 = skip)")
	flagProfile  = flag.String("profile", "", "after the repetitions, run nomatch and match once more under the CPU profiler and write <dir>/<phase>.pprof")
	flagKeep     = flag.Bool("keep", false, "keep the temporary directory (databases, daemon logs)")
	flagMicro    = flag.Bool("micro", false, "only run the store micro-benchmarks (micro.go) and exit")
)

var secret = []byte("bench-webhook-secret-0123456789")

// phaseResult is one measured phase of one repetition.
type phaseResult struct {
	phase   string // hmac, insert, nomatch, match
	loop    string // closed or open
	rate    float64
	p50     time.Duration
	p99     time.Duration
	ok, bad uint64
	dropped uint64        // open loop: requests dropped at the drain deadline
	sent    uint64        // requests sent, warmup included
	cpu     time.Duration // process CPU per delivery (servers and generator)
	batch   float64       // average group-commit size (writes per transaction), 0 if unknown
	disk    float64       // bytes the process wrote to storage per successful delivery (WAL and checkpoints)
	note    string
}

func main() {
	flag.Parse()
	phases := strings.Split(*flagPhases, ",")
	tmp, err := os.MkdirTemp("", "agh-bench-webhook-")
	check(err)
	if !*flagKeep {
		defer os.RemoveAll(tmp)
	} else {
		fmt.Println("data in", tmp)
	}
	host, _ := os.Hostname()
	fmt.Printf("agh webhook benchmark  %s  %s/%s  GOMAXPROCS=%d NumCPU=%d  %s  host=%s\n", runtime.Version(), runtime.GOOS, runtime.GOARCH,
		runtime.GOMAXPROCS(0), runtime.NumCPU(), cpuModel(), host)
	if *flagMicro {
		fmt.Println()
		check(runMicro(tmp))
		return
	}
	fmt.Printf("closed loop: %d conns, %v (+%v warmup); open loop: %.0f/s for %v over %d conns; body %d B; reps %d\n\n",
		*flagConns, *flagDuration, *flagWarmup, *flagRate, *flagOpenDur, *flagOpenConn, bodySize, *flagReps)

	var all [][]phaseResult
	var writers [][]writerResult
	for rep := 1; rep <= *flagReps; rep++ {
		fmt.Printf("rep %d  load average %s  cpu pressure %s\n", rep, loadAvg(), cpuPressure())
		var rs []phaseResult
		for _, ph := range phases {
			if !*flagClosed {
				break
			}
			r, err := runPhase(tmp, rep, ph, "closed")
			check(err)
			rs = append(rs, r)
			printResult(rep, r)
		}
		if *flagOpen {
			for _, ph := range phases {
				r, err := runPhase(tmp, rep, ph, "open")
				check(err)
				rs = append(rs, r)
				printResult(rep, r)
			}
		}
		if *flagWriter > 0 {
			var ws []writerResult
			for _, n := range []int{1, *flagConns} {
				w, err := benchWriter(filepath.Join(tmp, fmt.Sprintf("writer-r%d", rep)), n, *flagWriter)
				check(err)
				ws = append(ws, w)
				fmt.Printf("rep %d  writer %3d goroutines: %8.0f writes/s  %6.1f writes/commit\n", rep, n, w.writesPerSec, w.batchSize())
			}
			writers = append(writers, ws)
		}
		all = append(all, rs)
		fmt.Println()
	}
	if len(all) > 0 {
		report(all, writers)
	}

	if *flagProfile != "" {
		check(os.MkdirAll(*flagProfile, 0o755))
		for _, ph := range []string{"nomatch", "match"} {
			f, err := os.Create(filepath.Join(*flagProfile, ph+".pprof"))
			check(err)
			check(pprof.StartCPUProfile(f))
			r, err := runPhase(tmp, 0, ph, "closed")
			pprof.StopCPUProfile()
			f.Close()
			check(err)
			fmt.Printf("profiled %s: %.0f/s, %d deliveries sent (warmup included) -> %s\n", ph, r.rate, r.sent, f.Name())
		}
	}
}

// runPhase starts a fresh server for phase, drives it and stops it.
func runPhase(tmp string, rep int, phase, loop string) (phaseResult, error) {
	runtime.GC()
	time.Sleep(200 * time.Millisecond)
	dir := filepath.Join(tmp, fmt.Sprintf("r%d-%s-%s", rep, phase, loop))
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return phaseResult{}, err
	}
	var (
		t     target
		stop  func() error
		agh   *aghDaemon
		stats func() sqlite.WriterStats
	)
	switch phase {
	case "hmac", "insert":
		bdir := ""
		if phase == "insert" {
			bdir = dir
		}
		b, err := startBaseline(secret, bdir)
		if err != nil {
			return phaseResult{}, err
		}
		t = b.target(phase)
		stop = func() error { b.close(); return nil }
		if b.store != nil {
			stats = b.store.Stats
		}
	case "nomatch", "match":
		a, err := startAgh(dir, secret, phase == "match")
		if err != nil {
			return phaseResult{}, err
		}
		agh = a
		t = a.target(phase)
		stop = a.stop
		stats = a.writerStats
	default:
		return phaseResult{}, fmt.Errorf("unknown phase %q", phase)
	}
	p := signPayload(secret, time.Now())
	idPrefix := fmt.Sprintf("bench-r%d-%s-%s-", rep, phase, loop)
	var w0 sqlite.WriterStats
	if stats != nil {
		w0 = stats()
	}
	disk0 := writeBytes()
	var (
		res *result
		err error
	)
	if loop == "closed" {
		res, err = closedLoop(t, p, idPrefix, *flagConns, *flagWarmup, *flagDuration, 200)
	} else {
		res, err = openLoop(t, p, idPrefix, *flagOpenConn, *flagRate, *flagWarmup, *flagOpenDur, *flagDrain, 200)
	}
	if err != nil {
		_ = stop()
		return phaseResult{}, err
	}
	out := phaseResult{phase: phase, loop: loop, rate: res.rate(), p50: res.pct(0.50), p99: res.pct(0.99), ok: res.ok, bad: res.bad, cpu: res.cpuPer(), sent: res.sent, dropped: res.dropped}
	if d := writeBytes() - disk0; d >= 0 && res.sent > 0 {
		out.disk = float64(d) / float64(res.sent) // warmup deliveries wrote too
	}
	if res.dropped > 0 {
		out.note = fmt.Sprintf("saturated: %d of %d scheduled deliveries not sent by the drain deadline", res.dropped, res.ok+res.bad+res.dropped)
	}
	if res.bad > 0 {
		out.note = fmt.Sprintf("codes %v first error %v body %.200s", res.codes, res.firstErr, res.firstBody)
	}
	switch {
	case res.firstBody == nil:
	case phase == "nomatch":
		if !bytes.Contains(res.firstBody, []byte(`"matched":0`)) {
			out.note += fmt.Sprintf(" unexpected body %.200s", res.firstBody)
		}
	case phase == "match":
		if !bytes.Contains(res.firstBody, []byte(`"matched":1`)) {
			out.note += fmt.Sprintf(" unexpected body %.200s", res.firstBody)
		}
	}
	if stats != nil {
		s := stats()
		if b := s.Batches - w0.Batches; b > 0 {
			out.batch = float64(s.Writes-w0.Writes) / float64(b)
		}
	}
	if agh != nil {
		if phase == "match" {
			// Every 200 admitted a durable run: the store must hold at least as many runs as
			// measured successes (warmup deliveries add more).
			counts := agh.runCounts()
			n := 0
			for _, c := range counts {
				n += c
			}
			if uint64(n) < res.ok {
				out.note += fmt.Sprintf(" only %d runs stored for %d accepted deliveries", n, res.ok)
			}
		}
	}
	if err := stop(); err != nil {
		return out, err
	}
	if !*flagKeep {
		_ = os.RemoveAll(dir)
	}
	return out, nil
}

func printResult(rep int, r phaseResult) {
	batch := ""
	if r.batch > 0 {
		batch = fmt.Sprintf("  %5.1f writes/commit", r.batch)
	}
	fmt.Printf("rep %d  %-7s %-6s %8.0f/s  p50 %8s  p99 %8s  cpu %6.1fµs/delivery  disk %5.1f KiB/delivery  ok %7d bad %d%s %s\n", rep, r.phase, r.loop, r.rate,
		fmtDur(r.p50), fmtDur(r.p99), us(r.cpu), r.disk/1024, r.ok, r.bad, batch, r.note)
}

// latKey orders latencies for medians, a saturated quantile (-1) above every finite one.
func latKey(d time.Duration) float64 {
	if d < 0 {
		return math.Inf(1)
	}
	return float64(d)
}

func fmtLat(x float64) string {
	if math.IsInf(x, 1) {
		return "saturated"
	}
	return fmtDur(time.Duration(x))
}

func us(d time.Duration) float64 { return float64(d) / float64(time.Microsecond) }

func fmtDur(d time.Duration) string {
	if d < 0 {
		return "saturated"
	}
	return fmt.Sprintf("%.2fms", float64(d)/float64(time.Millisecond))
}

func median(xs []float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	s := slices.Clone(xs)
	slices.Sort(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

// report prints the medians over repetitions as Markdown.
func report(all [][]phaseResult, writers [][]writerResult) {
	type key struct{ phase, loop string }
	get := func(rs []phaseResult, k key) (phaseResult, bool) {
		for _, r := range rs {
			if r.phase == k.phase && r.loop == k.loop {
				return r, true
			}
		}
		return phaseResult{}, false
	}
	var keys []key
	for _, r := range all[0] {
		keys = append(keys, key{r.phase, r.loop})
	}
	out := tabwriter.NewWriter(os.Stdout, 0, 0, 1, ' ', tabwriter.Debug)
	fmt.Printf("medians of %d repetitions (ratios are medians of per-repetition ratios)\n\n", len(all))
	fmt.Fprintln(out, "| server\t loop\t deliveries/s\t p50\t p99\t CPU µs/delivery\t ÷ hmac\t ÷ insert\t writes/commit\t")
	fmt.Fprintln(out, "|---\t---\t---:\t---:\t---:\t---:\t---:\t---:\t---:\t")
	for _, k := range keys {
		var rate, p50, p99, cpu, rh, ri, batch []float64
		for _, rs := range all {
			r, _ := get(rs, k)
			rate = append(rate, r.rate)
			p50 = append(p50, latKey(r.p50))
			p99 = append(p99, latKey(r.p99))
			cpu = append(cpu, us(r.cpu))
			batch = append(batch, r.batch)
			if h, ok := get(rs, key{"hmac", k.loop}); ok && h.rate > 0 {
				rh = append(rh, r.rate/h.rate)
			}
			if i, ok := get(rs, key{"insert", k.loop}); ok && i.rate > 0 {
				ri = append(ri, r.rate/i.rate)
			}
		}
		ratio := func(xs []float64) string {
			if k.loop == "open" || len(xs) == 0 {
				return "—"
			}
			return fmt.Sprintf("%.2f", median(xs))
		}
		b := "—"
		if m := median(batch); m > 0 {
			b = fmt.Sprintf("%.1f", m)
		}
		fmt.Fprintf(out, "| %s\t %s\t %.0f\t %s\t %s\t %.1f\t %s\t %s\t %s\t\n", k.phase, k.loop, median(rate),
			fmtLat(median(p50)), fmtLat(median(p99)), median(cpu), ratio(rh), ratio(ri), b)
	}
	out.Flush()
	if len(writers) > 0 {
		fmt.Println()
		fmt.Println("| writer micro-benchmark (no HTTP) | writes/s | writes/commit |")
		fmt.Println("|---|---:|---:|")
		for i := range writers[0] {
			var ws, bs []float64
			for _, w := range writers {
				ws = append(ws, w[i].writesPerSec)
				bs = append(bs, w[i].batchSize())
			}
			fmt.Printf("| %d goroutine(s) calling Store.Write | %.0f | %.1f |\n", writers[0][i].writers, median(ws), median(bs))
		}
	}
	fmt.Println()
}

// writeBytes returns the bytes this process has caused to be sent to storage
// (/proc/self/io write_bytes: WAL frames and checkpoint copies), or -1 if unknown.
func writeBytes() int64 {
	b, err := os.ReadFile("/proc/self/io")
	if err != nil {
		return -1
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "write_bytes: "); ok {
			n, err := strconv.ParseInt(strings.TrimSpace(v), 10, 64)
			if err == nil {
				return n
			}
		}
	}
	return -1
}

func loadAvg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "unknown"
	}
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return "unknown"
	}
	return strings.Join(f[:3], " ")
}

// cpuPressure returns the share of the last 60 s in which some runnable task on the machine
// waited for a CPU (Linux PSI), a measure of how contended the shared machine was.
func cpuPressure() string {
	b, err := os.ReadFile("/proc/pressure/cpu")
	if err != nil {
		return "unknown"
	}
	for _, f := range strings.Fields(strings.SplitN(string(b), "\n", 2)[0]) {
		if v, ok := strings.CutPrefix(f, "avg60="); ok {
			return v + "% (some, avg60)"
		}
	}
	return "unknown"
}

func cpuModel() string {
	f, err := os.Open("/proc/cpuinfo")
	if err != nil {
		return "unknown CPU"
	}
	defer f.Close()
	b, _ := io.ReadAll(f)
	for _, line := range strings.Split(string(b), "\n") {
		if k, v, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(k) == "model name" {
			return strings.TrimSpace(v)
		}
	}
	return "unknown CPU"
}

func check(err error) {
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}
