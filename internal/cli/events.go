package cli

import (
	"encoding/json"
	"strconv"
	"strings"

	"github.com/spf13/cobra"

	"github.com/agh-dev/agh/internal/wire"
)

func eventsCmd(a *app) *cobra.Command {
	var scope, workspace string
	var data dataFlags
	publish := &cobra.Command{Use: "publish KIND", Short: "Publish a custom ext.<name> event", Args: nArgs(1), RunE: func(cmd *cobra.Command, args []string) error {
		b := newFields(cmd)
		b.m["kind"] = args[0]
		b.str("scope", "scope", scope)
		if err := b.workspace(a, workspace); err != nil {
			return err
		}
		d, ok, err := data.read(cmd)
		if err != nil {
			return err
		}
		if ok {
			if !json.Valid(d) {
				return usagef("--data is not valid JSON")
			}
			b.m["data"] = json.RawMessage(d)
		}
		return fetchOne(cmd, a, "POST", "/api/events", b.m, "result", activationDetail)
	}}
	publish.Flags().StringVar(&scope, "scope", "", "global or workspace")
	publish.Flags().StringVar(&workspace, "workspace", "", "workspace id or registered path")
	data.bind(publish, "event data: a JSON object")
	return group("events", "Custom events", publish)
}

func activationDetail(t *table, r wire.ActivationResult) {
	t.field("EVENT", r.EventID)
	t.opt("DELIVERY", r.DeliveryID)
	t.field("MATCHED", strconv.Itoa(r.Matched))
	runs := make([]string, len(r.Runs))
	for i, run := range r.Runs {
		runs[i] = run.ID + " (" + runOwner(run) + ")"
	}
	t.field("RUNS", strings.Join(runs, ", "))
	for _, s := range r.Skipped {
		t.field("SKIPPED", s.TriggerID+": "+s.Reason+" "+s.RetryAt)
	}
}
