// Package schedule computes the slots of job schedules (SPEC §6.2–§6.4, §6.8): the instants at
// which a cron, every or at schedule is due. It is pure computation over time.Time and knows
// nothing of storage, HTTP or dispatch.
//
// # Cron and offset changes
//
// Cron fields are matched against local wall-clock time in the schedule's zone. The mapping from
// wall times to instants follows SPEC §6.4 for every offset change in the zone database, not only
// DST:
//
//   - Absolute schedules (the minute or the hour field contains '*' or '/') follow real time:
//     every instant whose local time matches is a slot. Local times that do not exist produce
//     nothing; a local time that occurs twice yields two slots, the second marked FoldRepeat.
//   - Wall-clock schedules (all others) fire a matching local time once. If it occurs twice, the
//     slot is its first occurrence, marked FoldFirst. If it does not exist, the slot is the first
//     instant after the gap (the transition instant), marked GapShifted, with Slot.Nominal the
//     wall time the expression named. All non-existent matches of one gap, and the real local
//     time at the transition instant if it matches too, are a single slot.
//
// The computation works on local calendar days: for each day that matches the day-of-month,
// month and day-of-week fields, the zone's offset periods around that day (found with
// time.Time.ZoneBounds) partition the day's wall times into stretches that exist once, exist
// twice, or do not exist, and each stretch maps its matching wall times to instants as above. No
// use is made of time.Date's normalization of non-existent times.
//
// # Skipped days
//
// When a transition skips whole calendar days (Pacific/Apia went from 2011-12-29 23:59:59 −10
// straight to 2011-12-31 00:00 +14, at 2011-12-30T10:00:00Z), the gap rule applies unchanged:
// every wall time of 2011-12-30 is non-existent, so each matching time of that day, for a
// wall-clock schedule whose day fields match 2011-12-30, collapses onto the transition instant
// 2011-12-30T10:00:00Z, which is also the real 00:00 of 12-31. A wall-clock daily schedule such
// as @daily therefore has exactly one slot there, 2011-12-30T10:00:00Z, marked GapShifted with
// nominal 2011-12-30T00:00:00, followed by 2011-12-31T10:00:00Z (2012-01-01 00:00 +14). A
// schedule like "0 12 * * *" likewise gets the gap-shifted slot 2011-12-30T10:00:00Z (nominal
// 12:00 on 12-30) and then 2011-12-30T22:00:00Z (12:00 on 12-31). An absolute schedule has no
// slot on the skipped day: "0 */12 30 12 *" first fires in 2012.
//
// # Time zones
//
// LoadLocation reads the zone database embedded in this package, so results do not depend on the
// host's zoneinfo files (SPEC §6.3).
package schedule
