package schedule

import (
	"archive/zip"
	"bytes"
	_ "embed"
	"fmt"
	"io"
	"strings"
	"sync"
	"time"
)

// zoneinfoZip is a copy of $GOROOT/lib/time/zoneinfo.zip from Go 1.26.8 (IANA tzdata 2025c), the
// same data that package time/tzdata embeds. It is embedded here, rather than relying on
// import _ "time/tzdata", because time.LoadLocation consults the host's zoneinfo files (and the
// ZONEINFO variable) first and uses time/tzdata only as a fallback, so results would depend on
// the host's tzdata version (SPEC §6.3 requires that they do not). To update it, copy the file
// from a newer Go release.
//
//go:embed zoneinfo.zip
var zoneinfoZip []byte

var (
	zoneIndexOnce sync.Once
	zoneIndex     map[string]*zip.File
	zoneCache     sync.Map // name -> *time.Location
)

// LoadLocation returns the zone with the given IANA name from the zone database embedded in this
// package, independent of the host. "UTC" is time.UTC. The empty name and "Local" are rejected,
// like any unknown name, with the error `unknown time zone "<name>"` (the <detail> of SPEC §3.2
// rule 11). Callers resolve defaults (automation.timezone) before calling.
func LoadLocation(name string) (*time.Location, error) {
	if name == "UTC" {
		return time.UTC, nil
	}
	if v, ok := zoneCache.Load(name); ok {
		return v.(*time.Location), nil
	}
	unknown := fmt.Errorf("unknown time zone %q", name)
	if name == "" || name == "Local" || strings.Contains(name, "..") {
		return nil, unknown
	}
	f, ok := zones()[name]
	if !ok {
		return nil, unknown
	}
	rc, err := f.Open()
	if err != nil {
		return nil, unknown
	}
	data, err := io.ReadAll(rc)
	rc.Close()
	if err != nil {
		return nil, unknown
	}
	loc, err := time.LoadLocationFromTZData(name, data)
	if err != nil {
		return nil, unknown
	}
	v, _ := zoneCache.LoadOrStore(name, loc)
	return v.(*time.Location), nil
}

// zones returns the index of the embedded zone database, building it on first use.
func zones() map[string]*zip.File {
	zoneIndexOnce.Do(func() {
		r, err := zip.NewReader(bytes.NewReader(zoneinfoZip), int64(len(zoneinfoZip)))
		if err != nil {
			panic("schedule: embedded zoneinfo.zip is corrupt: " + err.Error())
		}
		zoneIndex = make(map[string]*zip.File, len(r.File))
		for _, f := range r.File {
			if !strings.HasSuffix(f.Name, "/") {
				zoneIndex[f.Name] = f
			}
		}
	})
	return zoneIndex
}

// ZoneNames returns the names of all zones in the embedded database, in no particular order.
func ZoneNames() []string {
	idx := zones()
	names := make([]string, 0, len(idx))
	for n := range idx {
		names = append(names, n)
	}
	return names
}

// MinInterval is the smallest interval accepted for every schedules (SPEC §3.2 rule 9); the
// caller checks it and reports "job.schedule.interval must be at least 1s: <value>".
const MinInterval = time.Second

// ParseInterval parses an every interval in Go duration syntax ("30m", "1h30m", "90s"). The
// error text is the <detail> of "job.schedule.interval is invalid: <detail>". It does not apply
// the MinInterval lower bound.
func ParseInterval(s string) (time.Duration, error) {
	d, err := time.ParseDuration(s)
	if err != nil {
		return 0, fmt.Errorf("%s", strings.TrimPrefix(err.Error(), "time: "))
	}
	return d, nil
}
