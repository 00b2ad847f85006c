// Package storetest is the conformance suite of store.Store: every implementation (SQLite,
// PostgreSQL) runs Run against fresh, empty stores and must pass all of it.
//
// The suite pins down the behaviour the interface's doc comments leave to the implementation:
//
//   - Times round-trip with nanosecond precision and come back in UTC; the zero time stays
//     zero.
//   - Optional byte slices (Run.Envelope) round-trip by content: nil and empty are the same.
//   - Update*/Delete* of a missing row, UpdateCursor of a job without cursor and
//     UpdateLedgerEntry of a missing seq return store.ErrNotFound; UpdateRun of a missing run
//     returns (false, store.ErrNotFound).
//   - InsertJob with a nil cursor stores an empty cursor; the cursor's JobID is the job's id.
//   - Limit ≤ 0 means no limit. String order is byte-wise.
//   - PruneLedger and PruneLedgers keep the entries with the highest seq.
//   - Reads on the Store never see a transaction's uncommitted writes; reads on the Tx do.
package storetest

import (
	"testing"

	"github.com/agh-dev/agh/internal/store"
)

// Run runs the conformance suite. open must return a new, empty store for each call and
// arrange for it to be closed when t ends.
func Run(t *testing.T, open func(t *testing.T) store.Store) {
	tests := []struct {
		name string
		fn   func(t *testing.T, s store.Store)
	}{
		{"JobRoundTrip", testJobRoundTrip},
		{"JobNameConflict", testJobNameConflict},
		{"ListJobs", testListJobs},
		{"UpdateJob", testUpdateJob},
		{"DeleteJob", testDeleteJob},
		{"LockJob", testLockJob},
		{"LockJobs", testLockJobs},
		{"LockJobsSkipsHeld", testLockJobsSkipsHeld},
		{"JobSchedulesAndCounts", testJobSchedulesAndCounts},
		{"CursorRoundTrip", testCursorRoundTrip},
		{"Ledger", testLedger},
		{"LedgerPaging", testLedgerPaging},
		{"PruneLedgers", testPruneLedgers},
		{"RunRoundTrip", testRunRoundTrip},
		{"RunFireAttemptConflict", testRunFireAttemptConflict},
		{"UpdateRunCompareAndSet", testUpdateRunCAS},
		{"ActiveRuns", testActiveRuns},
		{"CountFires", testCountFires},
		{"ListRuns", testListRuns},
		{"CountRunsByStatus", testCountRunsByStatus},
		{"Workspaces", testWorkspaces},
		{"CountWorkspaceDefinitions", testCountWorkspaceDefinitions},
		{"Transcripts", testTranscripts},
		{"Meta", testMeta},
		{"WriteErrorRollsBack", testWriteErrorRollsBack},
		{"WriteErrorsIsolatedUnderConcurrency", testWriteErrorsIsolated},
		{"WritePanic", testWritePanic},
		{"WriteCanceledContext", testWriteCanceledContext},
		{"WriteConflictHandledInsideFn", testWriteConflictHandledInsideFn},
		{"ReadYourWrites", testReadYourWrites},
		{"ConcurrentReadThenInsert", testConcurrentReadThenInsert},
		{"ConcurrentFireLimit", testConcurrentFireLimit},
		{"Triggers", testTriggers},
		{"DeliveriesAndReplayClaims", testDeliveriesAndReplayClaims},
		{"DispatchQueriesLeasesNodes", testDispatchQueries},
		{"TaskRoundTrip", testTaskRoundTrip},
		{"TaskCompareAndSet", testTaskCompareAndSet},
		{"ListTasks", testListTasks},
		{"TaskRunsForDispatch", testTaskRunsForDispatch},
		{"Notifications", testNotifications},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tc.fn(t, open(t))
		})
	}
}
