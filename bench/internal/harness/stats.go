// Package harness holds what the agh load programs under bench/cmd share: an in-process agh
// node wired like `agh daemon`, raw SQLite baselines, seeding through the store package, a
// concurrent HTTP load driver, percentiles and the machine facts printed with every result.
package harness

import (
	"fmt"
	"math"
	"os"
	"os/exec"
	"runtime"
	"runtime/pprof"
	"slices"
	"strings"
	"syscall"
	"time"
)

// Percentile returns the p-th percentile (0..100) of ds by nearest rank; 0 when ds is empty.
// ds is sorted in place.
func Percentile(ds []time.Duration, p float64) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	slices.Sort(ds)
	i := int(math.Ceil(p/100*float64(len(ds)))) - 1
	return ds[max(0, min(i, len(ds)-1))]
}

// Median returns the median of xs (the lower middle for an even count); xs is sorted in place.
func Median(xs []float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	slices.Sort(xs)
	return xs[(len(xs)-1)/2]
}

// MedianDur is Median over durations.
func MedianDur(ds []time.Duration) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	slices.Sort(ds)
	return ds[(len(ds)-1)/2]
}

// Ms formats a duration in milliseconds with two decimals.
func Ms(d time.Duration) string { return fmt.Sprintf("%.2f ms", float64(d)/1e6) }

// Machine describes the machine a result was measured on.
func Machine() string {
	cpu := "?"
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for _, line := range strings.Split(string(b), "\n") {
			if strings.HasPrefix(line, "model name") {
				if _, v, ok := strings.Cut(line, ":"); ok {
					cpu = strings.TrimSpace(v)
				}
				break
			}
		}
	}
	load := "?"
	if b, err := os.ReadFile("/proc/loadavg"); err == nil {
		load = strings.Join(strings.Fields(string(b))[:3], " ")
	}
	disk := "?"
	if out, err := exec.Command("df", "-T", os.TempDir()).Output(); err == nil {
		lines := strings.Split(strings.TrimSpace(string(out)), "\n")
		if f := strings.Fields(lines[len(lines)-1]); len(f) >= 2 {
			disk = f[0] + " " + f[1]
		}
	}
	return fmt.Sprintf("%s, nproc %d, %s, %s/%s, tmp on %s, loadavg %s, %s",
		cpu, runtime.NumCPU(), runtime.Version(), runtime.GOOS, runtime.GOARCH, disk, load,
		time.Now().UTC().Format("2006-01-02 15:04 UTC"))
}

// Header prints the machine line and the benchmark's name.
func Header(name string) {
	fmt.Printf("# %s\n# machine: %s\n", name, Machine())
}

// Check exits on err.
func Check(err error) {
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}

// Ints parses a comma-separated list of integers.
func Ints(s string) []int {
	var out []int
	for _, f := range strings.Split(s, ",") {
		var n int
		if _, err := fmt.Sscan(strings.TrimSpace(f), &n); err == nil {
			out = append(out, n)
		}
	}
	return out
}

// Profile starts a CPU profile into path ("" = none) and returns the function that stops it.
func Profile(path string) func() {
	if path == "" {
		return func() {}
	}
	f, err := os.Create(path)
	Check(err)
	Check(pprof.StartCPUProfile(f))
	return func() { pprof.StopCPUProfile(); _ = f.Close() }
}

// CPU returns the user+system CPU time this process has used so far.
func CPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
