// Command schedboot measures the boot of the real agh binary with many registered jobs: it
// builds ./cmd/agh, seeds -jobs jobs (half `every`, half cron, none due during the run) into a
// data directory's SQLite through the store package, then for each round copies that
// directory, starts `agh daemon` and measures the time from process start to the first
// successful GET /api/status, VmRSS / VmHWM from /proc, and the latency of GET /api/status
// afterwards. The baseline is the same binary booting on an empty data directory, measured in
// the same rounds.
//
//	go run ./bench/cmd/schedboot -jobs 100000 -rounds 3
//
// Run it from the repository root (it builds ./cmd/agh).
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/agh-dev/agh/bench/internal/harness"
)

func main() {
	nJobs := flag.Int("jobs", 100_000, "jobs to seed")
	rounds := flag.Int("rounds", 3, "rounds (the table reports the median)")
	timeout := flag.Duration("timeout", 10*time.Minute, "give up on a boot after this long")
	keep := flag.Bool("keep", false, "keep the temporary directory")
	binFlag := flag.String("bin", "", "agh binaries to boot, comma-separated, each on the seeded directory in every round (default: build ./cmd/agh)")
	statusN := flag.Int("status", 10, "GET /api/status calls timed after boot")
	prof := flag.String("cpuprofile", "", "after the rounds, boot once in process (daemon.Run, this source tree) on the seeded directory under a CPU profile written here")
	flag.Parse()
	harness.Header("schedboot")
	ctx := context.Background()
	work, err := os.MkdirTemp("", "aghbench-schedboot-")
	harness.Check(err)
	if !*keep {
		defer os.RemoveAll(work)
	}
	bins := strings.Split(*binFlag, ",")
	if *binFlag == "" {
		bins = []string{filepath.Join(work, "agh")}
		build := exec.Command("go", "build", "-o", bins[0], "./cmd/agh")
		build.Stdout, build.Stderr = os.Stdout, os.Stderr
		harness.Check(build.Run())
	}
	type variant struct{ name, bin, src string }
	var variants []variant

	cfg := harness.ConfigWith("")
	empty := filepath.Join(work, "empty")
	harness.Check(harness.WriteConfig(empty, cfg))
	seeded := filepath.Join(work, "seeded")
	sd, st, err := harness.OpenSeeder(seeded, cfg)
	harness.Check(err)
	hour0 := time.Now().UTC().Hour()
	t := time.Now()
	_, err = sd.Jobs(ctx, *nJobs, 1000, func(i int) string {
		sched := fmt.Sprintf(`{"mode":"every","interval":"%dh"}`, 1+i%24)
		if i%2 == 1 {
			// Hours 6..17 from now: nothing fires while the benchmark runs.
			sched = fmt.Sprintf(`{"mode":"cron","expr":"%d %d * * *"}`, (i/2)%60, (hour0+6+(i/2)%12)%24)
		}
		return fmt.Sprintf(`{"name":"job-%07d","scope":"global","agent_name":"echo","prompt":"check the build and report","schedule":%s}`, i, sched)
	})
	harness.Check(err)
	harness.Check(st.Close())
	fi, _ := os.Stat(filepath.Join(seeded, "agh.db"))
	fmt.Printf("# seeded %d jobs in %s (%.0f MiB)\n", *nJobs, time.Since(t).Round(time.Millisecond), float64(fi.Size())/(1<<20))

	type sample struct {
		boot               time.Duration
		rss, hwm, rssAfter float64 // MiB
		status50, status99 time.Duration
		cpu                time.Duration // daemon CPU (user+system) until ready
		listen             time.Duration // process start to accepting TCP connections
	}
	res := map[string][]sample{}
	variants = append(variants, variant{"0 jobs (baseline)", bins[0], empty})
	for _, b := range bins {
		name := fmt.Sprintf("%d jobs", *nJobs)
		if len(bins) > 1 {
			name += " (" + b + ")"
		}
		variants = append(variants, variant{name, b, seeded})
	}
	for r := 1; r <= *rounds; r++ {
		for _, v := range variants {
			name := v.name
			dir := filepath.Join(work, fmt.Sprintf("run-%d", r))
			harness.Check(copyDir(v.src, dir))
			s, err := boot(v.bin, dir, *timeout, *statusN)
			harness.Check(err)
			_ = os.RemoveAll(dir)
			res[name] = append(res[name], s)
			fmt.Printf("round %d %s: listening %8s, boot %8s (daemon CPU %s)  VmRSS %6.1f MiB  VmHWM %6.1f MiB  VmRSS+5s %6.1f MiB  GET /api/status p50 %s p99 %s\n",
				r, name, s.listen.Round(time.Millisecond), s.boot.Round(time.Millisecond), s.cpu.Round(time.Millisecond), s.rss, s.hwm, s.rssAfter, harness.Ms(s.status50), harness.Ms(s.status99))
		}
	}
	fmt.Printf("\n| data dir | start to listening | start to first GET /api/status answered | daemon CPU until ready | VmRSS at ready | VmHWM (peak) | VmRSS 5 s later | GET /api/status p50 | p99 |\n|---|---|---|---|---|---|---|---|---|\n")
	for _, v := range variants {
		name := v.name
		ss := res[name]
		var boots, s50, s99, cpus, listens []time.Duration
		var rss, hwm, after []float64
		for _, s := range ss {
			boots, s50, s99, cpus = append(boots, s.boot), append(s50, s.status50), append(s99, s.status99), append(cpus, s.cpu)
			listens = append(listens, s.listen)
			rss, hwm, after = append(rss, s.rss), append(hwm, s.hwm), append(after, s.rssAfter)
		}
		fmt.Printf("| %s | %s | %s | %s | %.1f MiB | %.1f MiB | %.1f MiB | %s | %s |\n", name, harness.MedianDur(listens).Round(time.Millisecond), harness.MedianDur(boots).Round(time.Millisecond), harness.MedianDur(cpus).Round(time.Millisecond),
			harness.Median(rss), harness.Median(hwm), harness.Median(after), harness.Ms(harness.MedianDur(s50)), harness.Ms(harness.MedianDur(s99)))
	}
	fmt.Printf("(median of %d rounds)\n", *rounds)
	if *prof != "" {
		dir := filepath.Join(work, "profiled")
		harness.Check(copyDir(seeded, dir))
		stop := harness.Profile(*prof)
		t := time.Now()
		d, err := harness.StartDaemon(dir)
		harness.Check(err)
		ready := time.Since(t)
		_, err = harness.Do(http.DefaultClient, "GET", d.URL+"/api/status", nil, 200)
		harness.Check(err)
		stop()
		fmt.Printf("# in-process boot under profile: ready in %s, first GET /api/status after %s\n", ready.Round(time.Millisecond), time.Since(t).Round(time.Millisecond))
		harness.Check(d.Stop())
	}
}

func boot(bin, dir string, timeout time.Duration, statusN int) (s struct {
	boot               time.Duration
	rss, hwm, rssAfter float64
	status50, status99 time.Duration
	cpu, listen        time.Duration
}, err error) {
	port, err := freePort()
	if err != nil {
		return s, err
	}
	logf, err := os.Create(filepath.Join(dir, "daemon.log"))
	if err != nil {
		return s, err
	}
	defer logf.Close()
	addr := "127.0.0.1:" + strconv.Itoa(port)
	cmd := exec.Command(bin, "daemon", "--data-dir", dir, "--addr", addr)
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.Env = append(os.Environ(), "AGH_HOME=", "AGH_API_TOKEN=")
	c := &http.Client{Timeout: 30 * time.Second}
	start := time.Now()
	if err := cmd.Start(); err != nil {
		return s, err
	}
	defer func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		done := make(chan struct{})
		go func() { _ = cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(30 * time.Second):
			_ = cmd.Process.Kill()
			<-done
		}
	}()
	url := "http://" + addr + "/api/status"
	for {
		conn, err := net.Dial("tcp", addr)
		if err == nil {
			conn.Close()
			break
		}
		if time.Since(start) > timeout {
			return s, fmt.Errorf("daemon did not listen within %s", timeout)
		}
		time.Sleep(5 * time.Millisecond)
	}
	s.listen = time.Since(start)
	for {
		resp, err := c.Get(url)
		if err == nil {
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode == 200 {
				break
			}
		}
		if time.Since(start) > timeout {
			return s, fmt.Errorf("daemon did not answer within %s", timeout)
		}
		time.Sleep(5 * time.Millisecond)
	}
	s.boot = time.Since(start)
	pid := cmd.Process.Pid
	s.rss, s.hwm = procMem(pid)
	s.cpu = procCPU(pid)
	var lat []time.Duration
	for i := 0; i < statusN; i++ {
		t := time.Now()
		resp, err := c.Get(url)
		if err != nil {
			// A call that times out (30 s) is recorded at its timeout instead of ending the run.
			fmt.Fprintf(os.Stderr, "# GET /api/status: %v\n", err)
			lat = append(lat, time.Since(t))
			continue
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		lat = append(lat, time.Since(t))
	}
	s.status50, s.status99 = harness.Percentile(lat, 50), harness.Percentile(lat, 99)
	time.Sleep(time.Until(start.Add(s.boot + 5*time.Second)))
	s.rssAfter, _ = procMem(pid)
	return s, nil
}

// procMem returns VmRSS and VmHWM in MiB.
func procMem(pid int) (rss, hwm float64) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		f := strings.Fields(line)
		if len(f) < 2 {
			continue
		}
		kb, _ := strconv.ParseFloat(f[1], 64)
		switch f[0] {
		case "VmRSS:":
			rss = kb / 1024
		case "VmHWM:":
			hwm = kb / 1024
		}
	}
	return rss, hwm
}

// procCPU returns the user+system CPU time of a process (clock ticks of 10 ms).
func procCPU(pid int) time.Duration {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0
	}
	s := string(b)
	f := strings.Fields(s[strings.LastIndexByte(s, ')')+2:])
	if len(f) < 13 {
		return 0
	}
	ut, _ := strconv.ParseInt(f[11], 10, 64)
	st, _ := strconv.ParseInt(f[12], 10, 64)
	return time.Duration(ut+st) * 10 * time.Millisecond
}

func freePort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}

func copyDir(src, dst string) error {
	_ = os.RemoveAll(dst)
	if err := os.MkdirAll(dst, 0o700); err != nil {
		return err
	}
	ents, err := os.ReadDir(src)
	if err != nil {
		return err
	}
	for _, e := range ents {
		if e.IsDir() {
			continue
		}
		b, err := os.ReadFile(filepath.Join(src, e.Name()))
		if err != nil {
			return err
		}
		if err := os.WriteFile(filepath.Join(dst, e.Name()), b, 0o600); err != nil {
			return err
		}
	}
	return nil
}
