package cli

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/agh-dev/agh/internal/wire"
)

func statusCmd(a *app) *cobra.Command {
	return &cobra.Command{Use: "status", Short: "Show the daemon's status", Args: nArgs(0), RunE: func(cmd *cobra.Command, _ []string) error {
		return fetchOne(cmd, a, "GET", "/api/status", nil, "", statusDetail)
	}}
}

func statusDetail(t *table, st wire.Status) {
	au := st.Automation
	t.field("VERSION", st.Version)
	t.field("NODE", st.NodeID)
	t.field("STORE", st.Store)
	t.field("STARTED", when(st.StartedAt))
	t.field("AUTOMATION", fmt.Sprintf("%s, paused %s, scheduler running %s", enabledText(au.Enabled), yesNo(au.Paused), yesNo(au.SchedulerRunning)))
	t.field("JOBS", fmt.Sprintf("%d (%d enabled)", au.Jobs.Total, au.Jobs.Enabled))
	t.field("TRIGGERS", fmt.Sprintf("%d (%d enabled)", au.Triggers.Total, au.Triggers.Enabled))
	t.field("RUNS", fmt.Sprintf("%d scheduled, %d running (max %d concurrent)", au.Runs["scheduled"], au.Runs["running"], au.MaxConcurrentRuns))
	t.field("NEXT FIRE", when(au.NextFire))
	t.opt("RELOAD ERROR", st.LastReloadError)
}
