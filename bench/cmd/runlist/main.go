// Command runlist measures GET /api/automation/runs latency (p50/p99) against the real daemon
// (in process) with a large run history seeded straight through the store (-batch runs per
// Write). Each query shape is measured with one sequential client, next to two baselines
// from the same round: the HTTP floor (GET /api/agents, a tiny handler) and the store alone
// (store.ListRuns without HTTP).
//
//	go run ./bench/cmd/runlist -runs 1000000 -rounds 3
//
// The seeded database is kept in -dir (default $TMPDIR/aghbench-runlist-<runs>) and reused by
// later invocations.
package main

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"flag"
	"fmt"
	"math/rand/v2"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/agh-dev/agh/bench/internal/harness"
	"github.com/agh-dev/agh/internal/automation"
	"github.com/agh-dev/agh/internal/store"
)

const nJobs = 1000

func main() {
	nRuns := flag.Int("runs", 1_000_000, "runs to seed")
	batch := flag.Int("batch", 1000, "runs per store Write while seeding")
	rounds := flag.Int("rounds", 3, "rounds (the table reports the median)")
	reqs := flag.Int("n", 1000, "requests per query shape per round")
	dirFlag := flag.String("dir", "", "data directory to seed or reuse")
	seedProf := flag.String("seedprofile", "", "write a CPU profile of the seeding here")
	prof := flag.String("cpuprofile", "", "write a CPU profile of the measurement here")
	flag.Parse()
	harness.Header("runlist")
	ctx := context.Background()
	dir := *dirFlag
	if dir == "" {
		dir = filepath.Join(os.TempDir(), fmt.Sprintf("aghbench-runlist-%d", *nRuns))
	}
	jobIDs := make([]string, nJobs)
	for i := range jobIDs {
		jobIDs[i] = fmt.Sprintf("job_BENCH%021d", i)
	}
	end := time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)
	span := 30 * 24 * time.Hour
	marker := filepath.Join(dir, "seeded")
	if _, err := os.Stat(marker); err != nil {
		_ = os.RemoveAll(dir)
		sd, st, err := harness.OpenSeeder(dir, harness.ConfigWith(""))
		harness.Check(err)
		stopProf := harness.Profile(*seedProf)
		t := time.Now()
		last := time.Now()
		err = sd.Runs(ctx, harness.RunSeed{N: *nRuns, Batch: *batch, JobIDs: jobIDs, Span: span, End: end},
			func(done int) {
				if time.Since(last) > 5*time.Second {
					last = time.Now()
					fmt.Printf("# seeded %d runs (%.0f runs/s)\n", done, float64(done)/time.Since(t).Seconds())
				}
			})
		harness.Check(err)
		el := time.Since(t)
		stopProf()
		stats := st.Stats()
		harness.Check(st.Close())
		fmt.Printf("# seeded %d runs in %s: %.0f runs/s through store.Write (%d per Write, %d commits)\n",
			*nRuns, el.Round(time.Millisecond), float64(*nRuns)/el.Seconds(), *batch, stats.Batches)
		harness.Check(os.WriteFile(marker, nil, 0o600))
	} else {
		fmt.Printf("# reusing %s\n", dir)
	}
	if fi, err := os.Stat(filepath.Join(dir, "agh.db")); err == nil {
		fmt.Printf("# database %.0f MiB\n", float64(fi.Size())/(1<<20))
	}

	d, err := harness.StartDaemon(dir)
	harness.Check(err)
	defer d.Stop()
	defer harness.Profile(*prof)()
	c := harness.NewHTTPClient(1)
	rng := rand.New(rand.NewPCG(3, 4))
	randJob := func() string { return jobIDs[rng.IntN(nJobs)] }
	// A deep keyset position: half-way through the history. The cursor is the API's opaque
	// page token (base64url JSON of the filter hash and the key); it is rebuilt here.
	deep := func() string {
		at := end.Add(-span / 2).Add(time.Duration(rng.IntN(3600)) * time.Second)
		return cursor(filterHash("runs", "", "", "", "", "", ""), strconv.FormatInt(at.UnixNano(), 10), "run_~")
	}
	deepFailed := func() string {
		at := end.Add(-span / 2).Add(time.Duration(rng.IntN(3600)) * time.Second)
		return cursor(filterHash("runs", "", "", "failed", "", "", ""), strconv.FormatInt(at.UnixNano(), 10), "run_~")
	}
	type shape struct {
		name string
		path func() string
	}
	shapes := []shape{
		{"floor: GET /api/agents", func() string { return "/api/agents" }},
		{"runs?limit=50", func() string { return "/api/automation/runs?limit=50" }},
		{"runs?job_id=X&limit=50", func() string { return "/api/automation/runs?limit=50&job_id=" + randJob() }},
		{"runs?status=failed&limit=50", func() string { return "/api/automation/runs?limit=50&status=failed" }},
		{"runs?status=canceled&job_id=X&limit=50", func() string {
			return "/api/automation/runs?limit=50&status=canceled&job_id=" + randJob()
		}},
		{"runs?limit=50&cursor=<mid-history>", func() string { return "/api/automation/runs?limit=50&cursor=" + url.QueryEscape(deep()) }},
		{"runs?status=failed&limit=50&cursor=<mid-history>", func() string {
			return "/api/automation/runs?limit=50&status=failed&cursor=" + url.QueryEscape(deepFailed())
		}},
		{"runs?limit=500", func() string { return "/api/automation/runs?limit=500" }},
	}
	storeShapes := []struct {
		name string
		q    func() store.RunQuery
	}{
		{"store.ListRuns limit 51", func() store.RunQuery { return store.RunQuery{Limit: 51} }},
		{"store.ListRuns job_id, limit 51", func() store.RunQuery { return store.RunQuery{JobID: randJob(), Limit: 51} }},
		{"store.ListRuns status=failed, limit 51", func() store.RunQuery { return store.RunQuery{Status: automation.RunFailed, Limit: 51} }},
	}
	type agg struct{ p50, p99 []time.Duration }
	results := map[string]*agg{}
	var order []string
	record := func(name string, lat []time.Duration) {
		a := results[name]
		if a == nil {
			a = &agg{}
			results[name] = a
			order = append(order, name)
		}
		p50, p99 := harness.Percentile(lat, 50), harness.Percentile(lat, 99)
		a.p50, a.p99 = append(a.p50, p50), append(a.p99, p99)
		fmt.Printf("%-45s p50 %8s  p99 %8s\n", name, harness.Ms(p50), harness.Ms(p99))
	}
	for r := 1; r <= *rounds; r++ {
		fmt.Printf("-- round %d\n", r)
		for _, s := range shapes {
			// Warm up the connection and the statement cache.
			for i := 0; i < 20; i++ {
				_, err := harness.Do(c, "GET", d.URL+s.path(), nil, 200)
				harness.Check(err)
			}
			out, err := harness.Run(1, *reqs, func(int) error {
				b, err := harness.Do(c, "GET", d.URL+s.path(), nil, 200)
				if err == nil && len(b) < 2 {
					err = fmt.Errorf("short answer %s", b)
				}
				return err
			})
			harness.Check(err)
			record(s.name, out.Lat)
		}
		for _, s := range storeShapes {
			out, err := harness.Run(1, *reqs, func(int) error {
				runs, err := d.D.Store.ListRuns(ctx, s.q())
				if err == nil && len(runs) == 0 {
					err = fmt.Errorf("no runs")
				}
				return err
			})
			harness.Check(err)
			record(s.name, out.Lat)
		}
	}
	fmt.Printf("\n| query (%d runs) | p50 | p99 |\n|---|---|---|\n", *nRuns)
	for _, name := range order {
		a := results[name]
		fmt.Printf("| %s | %s | %s |\n", name, harness.Ms(harness.MedianDur(a.p50)), harness.Ms(harness.MedianDur(a.p99)))
	}
	fmt.Printf("(median over %d rounds of per-round p50/p99; %d sequential requests per shape per round)\n", *rounds, *reqs)
}

// filterHash and cursor mirror internal/api/query.go (filterHash, encodeCursor).
func filterHash(parts ...string) string {
	h := sha256.Sum256([]byte(strings.Join(parts, "\x00")))
	return hex.EncodeToString(h[:8])
}

func cursor(filter string, key ...string) string {
	b, _ := json.Marshal(struct {
		F string   `json:"f"`
		K []string `json:"k"`
	}{filter, key})
	return base64.RawURLEncoding.EncodeToString(b)
}
