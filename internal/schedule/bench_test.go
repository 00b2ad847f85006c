package schedule

import (
	"testing"
	"time"
)

func benchNext(b *testing.B, expr, zone string) {
	c := mustCron(b, expr)
	loc := mustLoc(b, zone)
	after := time.Date(2026, 3, 7, 12, 34, 56, 0, time.UTC)
	b.ReportAllocs()
	for b.Loop() {
		if _, ok := c.Next(after, loc); !ok {
			b.Fatal("no slot")
		}
	}
}

func BenchmarkNextEveryMinuteUTC(b *testing.B)  { benchNext(b, "* * * * *", "UTC") }
func BenchmarkNextEveryMinuteNY(b *testing.B)   { benchNext(b, "* * * * *", "America/New_York") }
func BenchmarkNextWeekdays9NY(b *testing.B)     { benchNext(b, "0 9 * * 1-5", "America/New_York") }
func BenchmarkNextGapNY(b *testing.B)           { benchNext(b, "30 2 * * *", "America/New_York") }
func BenchmarkNextYearlyBerlin(b *testing.B)    { benchNext(b, "@yearly", "Europe/Berlin") }
func BenchmarkNextLeapDayLordHowe(b *testing.B) { benchNext(b, "0 0 29 2 *", "Australia/Lord_Howe") }

func BenchmarkNeverFires(b *testing.B) {
	c := mustCron(b, "0 0 30 2 *")
	loc := mustLoc(b, "America/New_York")
	from := time.Date(2026, 3, 7, 12, 34, 56, 0, time.UTC)
	for b.Loop() {
		if c.FiresWithin(from, loc, 8*365*24*time.Hour) {
			b.Fatal("fires")
		}
	}
}

func BenchmarkCountEveryMinuteDayNY(b *testing.B) {
	s := Spec{Mode: ModeCron, Cron: mustCron(b, "* * * * *"), Location: mustLoc(b, "America/New_York")}
	after := time.Date(2026, 3, 8, 0, 0, 0, 0, time.UTC)
	for b.Loop() {
		s.Count(after, after.Add(24*time.Hour))
	}
}
