package storetest

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/agh-dev/agh/internal/automation"
	"github.com/agh-dev/agh/internal/store"
)

// Tasks, task runs and the notification outbox (SPEC §2.13, §11).

// fullTask returns a closed task with every field set.
func fullTask(id string) *automation.Task {
	return &automation.Task{
		ID: id, JobID: "job_1", RunID: "run_1", Scope: automation.ScopeWorkspace, WorkspaceID: "web",
		Title: "Triage — all of it", Description: "Look at the issues\n\tand label them",
		Owner:          automation.TaskOwner{Kind: automation.OwnerAgent, Ref: "claude"},
		NetworkChannel: "ops", Status: automation.TaskFailed, Result: "partial", Error: "exit status 1: boom",
		CreatedAt: at(1), UpdatedAt: at(time.Hour + 2), ClosedAt: at(time.Hour + 3),
	}
}

// task returns an open human task of a job created at the instant.
func task(id, jobID string, created time.Time) *automation.Task {
	return &automation.Task{
		ID: id, JobID: jobID, RunID: "run_" + id, Scope: automation.ScopeGlobal, Title: "t " + id,
		Owner: automation.TaskOwner{Kind: automation.OwnerHuman}, Status: automation.TaskOpen,
		CreatedAt: created, UpdatedAt: created,
	}
}

// fullTaskRun returns a task run with every field set.
func fullTaskRun(id, taskID string) *automation.TaskRun {
	return &automation.TaskRun{
		ID: id, TaskID: taskID, Status: automation.TaskRunFailed, AgentName: "claude", SessionID: "ses_1",
		CreatedAt: at(1), StartedAt: at(2), EndedAt: at(time.Hour + 3), StopReason: "end_turn",
		Error: "exit status 1: boom", ErrorCode: automation.CodeAgentError, NodeID: "worker-a",
		LeaseOwner: "worker-a", LeaseExpiresAt: at(30 * time.Second),
	}
}

// taskRun returns a queued task run (agent "" means a human owner).
func taskRun(id, taskID, agentName string, created time.Time) *automation.TaskRun {
	return &automation.TaskRun{ID: id, TaskID: taskID, Status: automation.TaskRunQueued, AgentName: agentName, CreatedAt: created}
}

func taskIDs(ts []*automation.Task) []string {
	return ids(ts, func(t *automation.Task) string { return t.ID })
}

func taskRunIDs(rs []*automation.TaskRun) []string {
	return ids(rs, func(r *automation.TaskRun) string { return r.ID })
}

func testTaskRoundTrip(t *testing.T, s store.Store) {
	ctx := context.Background()
	full := fullTask("task_full")
	minimal := task("task_min", "job_2", at(0)) // zero ClosedAt, empty optional strings
	// Runs come back oldest first (created_at, id), whatever the insertion order.
	r2 := fullTaskRun("trun_b", "task_full")
	r1 := taskRun("trun_c", "task_full", "", at(0))
	r3 := taskRun("trun_a", "task_full", "claude", at(1))
	write(t, s, func(tx store.Tx) error {
		for _, tk := range []*automation.Task{full, minimal} {
			if err := tx.InsertTask(tk); err != nil {
				return err
			}
		}
		for _, r := range []*automation.TaskRun{r2, r1, r3} {
			if err := tx.InsertTaskRun(r); err != nil {
				return err
			}
		}
		return nil
	})
	got, err := s.GetTask(ctx, "task_full")
	if err != nil {
		t.Fatal(err)
	}
	want := *full
	want.Runs = []*automation.TaskRun{r1, r3, r2}
	mustEqual(t, "full task", got, &want)

	got, err = s.GetTask(ctx, "task_min")
	if err != nil {
		t.Fatal(err)
	}
	if len(got.Runs) != 0 {
		t.Fatalf("task without runs came back with %d", len(got.Runs))
	}
	got.Runs = nil
	mustEqual(t, "minimal task", got, minimal)
	if !got.ClosedAt.IsZero() {
		t.Fatalf("unset closed_at came back as %v", got.ClosedAt)
	}
	gr, err := s.GetTaskRun(ctx, "trun_b")
	if err != nil {
		t.Fatal(err)
	}
	mustEqual(t, "task run", gr, r2)
	gr, err = s.GetTaskRun(ctx, "trun_c")
	if err != nil {
		t.Fatal(err)
	}
	mustEqual(t, "minimal task run", gr, r1)
	if _, err := s.GetTask(ctx, "task_missing"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("GetTask(missing) = %v, want ErrNotFound", err)
	}
	if _, err := s.GetTaskRun(ctx, "trun_missing"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("GetTaskRun(missing) = %v, want ErrNotFound", err)
	}
	// Reads on the Tx see the transaction's own writes.
	write(t, s, func(tx store.Tx) error {
		if err := tx.InsertTask(task("task_tx", "job_3", at(5))); err != nil {
			return err
		}
		if err := tx.InsertTaskRun(taskRun("trun_tx", "task_tx", "claude", at(5))); err != nil {
			return err
		}
		g, err := tx.GetTask(ctx, "task_tx")
		if err != nil {
			return err
		}
		if len(g.Runs) != 1 || g.Runs[0].ID != "trun_tx" {
			return fmt.Errorf("task in tx: %+v", g)
		}
		return nil
	})
	// A failed Write keeps nothing.
	boom := errors.New("boom")
	err = writeErr(s, func(tx store.Tx) error {
		if err := tx.InsertTask(task("task_rolled", "job_3", at(6))); err != nil {
			return err
		}
		if err := tx.InsertTaskRun(taskRun("trun_rolled", "task_rolled", "", at(6))); err != nil {
			return err
		}
		return boom
	})
	if !errors.Is(err, boom) {
		t.Fatalf("Write = %v, want boom", err)
	}
	if _, err := s.GetTask(ctx, "task_rolled"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("rolled-back task: %v", err)
	}
	if _, err := s.GetTaskRun(ctx, "trun_rolled"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("rolled-back task run: %v", err)
	}
}

func testTaskCompareAndSet(t *testing.T, s store.Store) {
	ctx := context.Background()
	tk := task("task_1", "job_1", at(0))
	tr := taskRun("trun_1", "task_1", "claude", at(0))
	write(t, s, func(tx store.Tx) error {
		if err := tx.InsertTask(tk); err != nil {
			return err
		}
		return tx.InsertTaskRun(tr)
	})
	running := *tk
	running.Status, running.UpdatedAt = automation.TaskRunning, at(time.Second)
	rrun := *tr
	rrun.Status, rrun.StartedAt, rrun.NodeID = automation.TaskRunRunning, at(time.Second), "n1"
	write(t, s, func(tx store.Tx) error {
		if ok, err := tx.UpdateTask(&running, automation.TaskDone); err != nil || ok {
			return fmt.Errorf("UpdateTask from wrong status = %v, %v", ok, err)
		}
		if ok, err := tx.UpdateTaskRun(&rrun, automation.TaskRunRunning); err != nil || ok {
			return fmt.Errorf("UpdateTaskRun from wrong status = %v, %v", ok, err)
		}
		if ok, err := tx.UpdateTask(&running, automation.TaskOpen); err != nil || !ok {
			return fmt.Errorf("UpdateTask = %v, %v", ok, err)
		}
		if ok, err := tx.UpdateTaskRun(&rrun, automation.TaskRunQueued); err != nil || !ok {
			return fmt.Errorf("UpdateTaskRun = %v, %v", ok, err)
		}
		return nil
	})
	got, err := s.GetTask(ctx, "task_1")
	if err != nil {
		t.Fatal(err)
	}
	want := running
	want.Runs = []*automation.TaskRun{&rrun}
	mustEqual(t, "updated task", got, &want)
	write(t, s, func(tx store.Tx) error {
		missing := task("task_missing", "job_1", at(0))
		if ok, err := tx.UpdateTask(missing, automation.TaskOpen); ok || !errors.Is(err, store.ErrNotFound) {
			return fmt.Errorf("UpdateTask(missing) = %v, %v", ok, err)
		}
		if ok, err := tx.UpdateTaskRun(taskRun("trun_missing", "task_1", "", at(0)), automation.TaskRunQueued); ok || !errors.Is(err, store.ErrNotFound) {
			return fmt.Errorf("UpdateTaskRun(missing) = %v, %v", ok, err)
		}
		return nil
	})
}

func testListTasks(t *testing.T, s store.Store) {
	ctx := context.Background()
	// Six tasks; two share a creation instant (ordered by id).
	mk := []*automation.Task{
		task("task_a", "job_1", at(1)),
		task("task_b", "job_2", at(2)),
		task("task_c", "job_1", at(3)),
		task("task_d", "job_1", at(3)),
		task("task_e", "job_2", at(4)),
		task("task_f", "job_1", at(5)),
	}
	mk[1].Owner = automation.TaskOwner{Kind: automation.OwnerAgent, Ref: "claude"}
	mk[2].Status = automation.TaskDone
	mk[3].Scope, mk[3].WorkspaceID = automation.ScopeWorkspace, "web"
	mk[4].Owner = automation.TaskOwner{Kind: automation.OwnerAgent, Ref: "claude"}
	mk[4].Status = automation.TaskRunning
	write(t, s, func(tx store.Tx) error {
		for _, tk := range mk {
			if err := tx.InsertTask(tk); err != nil {
				return err
			}
			if err := tx.InsertTaskRun(taskRun("trun_"+tk.ID, tk.ID, tk.Owner.Ref, tk.CreatedAt)); err != nil {
				return err
			}
		}
		return nil
	})
	list := func(q store.TaskQuery) []string {
		t.Helper()
		ts, err := s.ListTasks(ctx, q)
		if err != nil {
			t.Fatal(err)
		}
		for _, tk := range ts {
			if tk.Runs != nil {
				t.Fatalf("ListTasks filled the runs of %s", tk.ID)
			}
		}
		return taskIDs(ts)
	}
	cases := []struct {
		name string
		q    store.TaskQuery
		want []string
	}{
		{"all", store.TaskQuery{}, []string{"task_f", "task_e", "task_d", "task_c", "task_b", "task_a"}},
		{"status", store.TaskQuery{Status: automation.TaskOpen}, []string{"task_f", "task_d", "task_b", "task_a"}},
		{"job", store.TaskQuery{JobID: "job_2"}, []string{"task_e", "task_b"}},
		{"owner", store.TaskQuery{OwnerKind: automation.OwnerAgent}, []string{"task_e", "task_b"}},
		{"owner and status", store.TaskQuery{OwnerKind: automation.OwnerAgent, Status: automation.TaskRunning}, []string{"task_e"}},
		{"workspace", store.TaskQuery{WorkspaceID: "web"}, []string{"task_d"}},
		{"limit", store.TaskQuery{Limit: 2}, []string{"task_f", "task_e"}},
		{"keyset within an instant", store.TaskQuery{BeforeCreatedAt: at(3), BeforeID: "task_d"}, []string{"task_c", "task_b", "task_a"}},
		{"keyset and filter", store.TaskQuery{JobID: "job_1", Limit: 1, BeforeCreatedAt: at(3), BeforeID: "task_d"}, []string{"task_c"}},
		{"no match", store.TaskQuery{JobID: "job_none"}, nil},
	}
	for _, tc := range cases {
		if got := list(tc.q); fmt.Sprint(got) != fmt.Sprint(tc.want) {
			t.Errorf("%s: %v, want %v", tc.name, got, tc.want)
		}
	}
	// Pages of 4 then 2 cover everything once.
	var all []string
	q := store.TaskQuery{Limit: 4}
	for {
		ts, err := s.ListTasks(ctx, q)
		if err != nil {
			t.Fatal(err)
		}
		all = append(all, taskIDs(ts)...)
		if len(ts) < q.Limit {
			break
		}
		q.BeforeCreatedAt, q.BeforeID = ts[len(ts)-1].CreatedAt, ts[len(ts)-1].ID
	}
	if len(all) != 6 {
		t.Fatalf("paging returned %v", all)
	}
	assertUnique(t, all)
}

func testTaskRunsForDispatch(t *testing.T, s store.Store) {
	ctx := context.Background()
	write(t, s, func(tx store.Tx) error {
		for i, id := range []string{"task_1", "task_2", "task_3", "task_4", "task_5"} {
			if err := tx.InsertTask(task(id, "job_1", at(time.Duration(i)))); err != nil {
				return err
			}
		}
		runs := []*automation.TaskRun{
			taskRun("trun_3", "task_3", "claude", at(2)),
			taskRun("trun_1", "task_1", "claude", at(5)),
			taskRun("trun_2", "task_2", "", at(1)), // human owner: never eligible
			taskRun("trun_0", "task_4", "codex", at(2)),
			taskRun("trun_9", "task_5", "claude", at(0)),
		}
		runs[4].Status = automation.TaskRunRunning
		for _, r := range runs {
			if err := tx.InsertTaskRun(r); err != nil {
				return err
			}
		}
		return nil
	})
	write(t, s, func(tx store.Tx) error {
		el, err := tx.EligibleTaskRuns(0)
		if err != nil {
			return err
		}
		if got := taskRunIDs(el); fmt.Sprint(got) != "[trun_0 trun_3 trun_1]" {
			return fmt.Errorf("EligibleTaskRuns = %v", got)
		}
		if el, err = tx.EligibleTaskRuns(2); err != nil || fmt.Sprint(taskRunIDs(el)) != "[trun_0 trun_3]" {
			return fmt.Errorf("EligibleTaskRuns(2) = %v, %v", taskRunIDs(el), err)
		}
		n, err := tx.CountRunningTaskRuns()
		if err != nil || n != 1 {
			return fmt.Errorf("CountRunningTaskRuns = %d, %v", n, err)
		}
		// Start one; the count follows.
		r, err := tx.GetTaskRun(ctx, "trun_0")
		if err != nil {
			return err
		}
		c := *r
		c.Status = automation.TaskRunRunning
		if ok, err := tx.UpdateTaskRun(&c, automation.TaskRunQueued); err != nil || !ok {
			return fmt.Errorf("start = %v, %v", ok, err)
		}
		if n, err = tx.CountRunningTaskRuns(); err != nil || n != 2 {
			return fmt.Errorf("CountRunningTaskRuns after start = %d, %v", n, err)
		}
		return nil
	})
	// Leases: the owner's running task runs are renewed; expired ones are found.
	write(t, s, func(tx store.Tx) error {
		for id, owner := range map[string]string{"trun_9": "n1", "trun_0": "n2"} {
			r, err := tx.GetTaskRun(ctx, id)
			if err != nil {
				return err
			}
			c := *r
			c.LeaseOwner, c.LeaseExpiresAt = owner, at(time.Minute)
			if ok, err := tx.UpdateTaskRun(&c, r.Status); err != nil || !ok {
				return fmt.Errorf("set lease of %s = %v, %v", id, ok, err)
			}
		}
		if n, err := tx.RenewTaskRunLeases("n1", at(2*time.Minute)); err != nil || n != 1 {
			return fmt.Errorf("RenewTaskRunLeases = %d, %v", n, err)
		}
		exp, err := tx.ExpiredTaskRuns(at(90*time.Second), 0)
		if err != nil || fmt.Sprint(taskRunIDs(exp)) != "[trun_0]" {
			return fmt.Errorf("ExpiredTaskRuns = %v, %v", taskRunIDs(exp), err)
		}
		if exp, err = tx.ExpiredTaskRuns(at(time.Minute), 0); err != nil || len(exp) != 0 {
			return fmt.Errorf("ExpiredTaskRuns at the expiry instant = %v, %v", taskRunIDs(exp), err)
		}
		return nil
	})
	if r, err := s.GetTaskRun(ctx, "trun_9"); err != nil || !r.LeaseExpiresAt.Equal(at(2*time.Minute)) {
		t.Fatalf("renewed lease %v, %v", r, err)
	}
	running, err := s.TaskRunsByStatus(ctx, automation.TaskRunRunning)
	if err != nil {
		t.Fatal(err)
	}
	if got := taskRunIDs(running); fmt.Sprint(got) != "[trun_9 trun_0]" {
		t.Fatalf("TaskRunsByStatus(running) = %v", got)
	}
	queued, err := s.TaskRunsByStatus(ctx, automation.TaskRunQueued)
	if err != nil {
		t.Fatal(err)
	}
	if got := taskRunIDs(queued); fmt.Sprint(got) != "[trun_2 trun_3 trun_1]" {
		t.Fatalf("TaskRunsByStatus(queued) = %v", got)
	}
}

func testNotifications(t *testing.T, s store.Store) {
	ctx := context.Background()
	mk := func(id, taskID, typ string) *automation.Notification {
		return &automation.Notification{ID: id, Channel: "ops", Type: typ, TaskID: taskID, RunID: "run_" + taskID,
			Body: []byte(`{"type":"` + typ + `","bin":"` + "\x00\xff" + `"}`), Status: automation.NotificationPending,
			NextAttemptAt: at(0), CreatedAt: at(0), UpdatedAt: at(0)}
	}
	ns := []*automation.Notification{
		mk("evt_c", "task_1", automation.NotifyTaskCreated),
		mk("evt_b", "task_2", automation.NotifyTaskCreated),
		mk("evt_a", "task_1", automation.NotifyTaskEnded),
	}
	write(t, s, func(tx store.Tx) error {
		for _, n := range ns {
			if err := tx.InsertNotification(n); err != nil {
				return err
			}
		}
		return nil
	})
	if !(ns[0].Seq > 0 && ns[0].Seq < ns[1].Seq && ns[1].Seq < ns[2].Seq) {
		t.Fatalf("seqs %d %d %d are not increasing", ns[0].Seq, ns[1].Seq, ns[2].Seq)
	}
	pending, err := s.PendingNotifications(ctx, 0)
	if err != nil {
		t.Fatal(err)
	}
	mustEqual(t, "pending", pending, ns)
	if p, err := s.PendingNotifications(ctx, 2); err != nil || len(p) != 2 || p[1].ID != "evt_b" {
		t.Fatalf("PendingNotifications(2) = %v, %v", p, err)
	}
	// Claims are compare-and-set on (attempts, next_attempt_at) of a pending entry.
	write(t, s, func(tx store.Tx) error {
		if ok, err := tx.ClaimNotification("evt_b", 0, at(0), at(time.Minute)); err != nil || !ok {
			return fmt.Errorf("ClaimNotification = %v, %v", ok, err)
		}
		if ok, err := tx.ClaimNotification("evt_b", 0, at(0), at(2*time.Minute)); err != nil || ok {
			return fmt.Errorf("second ClaimNotification = %v, %v", ok, err)
		}
		if ok, err := tx.ClaimNotification("evt_c", 1, at(0), at(time.Minute)); err != nil || ok {
			return fmt.Errorf("ClaimNotification with other attempts = %v, %v", ok, err)
		}
		if ok, err := tx.ClaimNotification("evt_missing", 0, at(0), at(time.Minute)); err != nil || ok {
			return fmt.Errorf("ClaimNotification(missing) = %v, %v", ok, err)
		}
		return nil
	})
	if n, err := s.GetNotification(ctx, "evt_b"); err != nil || !n.NextAttemptAt.Equal(at(time.Minute)) {
		t.Fatalf("claimed %v, %v", n, err)
	}
	ns[1].NextAttemptAt = at(time.Minute)
	// Record a failed attempt, then deliver one and abandon another.
	failed := *ns[0]
	failed.Attempts, failed.NextAttemptAt, failed.LastError, failed.UpdatedAt = 1, at(time.Second), "HTTP 503", at(1)
	delivered := *ns[1]
	delivered.Attempts, delivered.Status, delivered.UpdatedAt = 1, automation.NotificationDelivered, at(2)
	abandoned := *ns[2]
	abandoned.Attempts, abandoned.Status, abandoned.LastError = 6, automation.NotificationAbandoned, `channel "ops": HTTP 503`
	write(t, s, func(tx store.Tx) error {
		for _, n := range []*automation.Notification{&failed, &delivered, &abandoned} {
			if err := tx.UpdateNotification(n); err != nil {
				return err
			}
		}
		return nil
	})
	pending, err = s.PendingNotifications(ctx, 0)
	if err != nil {
		t.Fatal(err)
	}
	mustEqual(t, "pending after updates", pending, []*automation.Notification{&failed})
	got, err := s.GetNotification(ctx, "evt_a")
	if err != nil {
		t.Fatal(err)
	}
	mustEqual(t, "abandoned", got, &abandoned)
	if _, err := s.GetNotification(ctx, "evt_missing"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("GetNotification(missing) = %v", err)
	}
	if err := writeErr(s, func(tx store.Tx) error { return tx.UpdateNotification(mk("evt_missing", "t", "x")) }); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("UpdateNotification(missing) = %v, want ErrNotFound", err)
	}
	// A duplicate id is refused.
	if err := writeErr(s, func(tx store.Tx) error { return tx.InsertNotification(mk("evt_c", "task_9", "x")) }); err == nil {
		t.Fatal("duplicate notification id accepted")
	}
}
