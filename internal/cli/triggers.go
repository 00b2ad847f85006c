package cli

import (
	"strconv"
	"strings"

	"github.com/spf13/cobra"

	"github.com/agh-dev/agh/internal/wire"
)

var triggers = definition[wire.Trigger]{
	noun: "trigger", plural: "triggers",
	header: []string{"ID", "NAME", "SCOPE", "EVENT", "AGENT", "ENABLED"},
	row: func(tr wire.Trigger) []string {
		return []string{tr.ID, tr.Name, scopeText(tr.Scope, tr.WorkspaceID), tr.Event, tr.AgentName, yesNo(tr.Enabled)}
	},
	detail: func(t *table, tr wire.Trigger) {
		t.field("ID", tr.ID)
		t.field("NAME", tr.Name)
		t.field("SCOPE", scopeText(tr.Scope, tr.WorkspaceID))
		t.field("EVENT", tr.Event)
		t.opt("FILTER", filterText(tr.Filter))
		t.field("AGENT", tr.AgentName)
		t.field("PROMPT", oneLine(tr.Prompt, 72))
		t.field("STATUS", enabledText(tr.Enabled))
		t.field("RETRY", retryText(tr.Retry))
		t.field("FIRE LIMIT", fireLimitText(tr.FireLimit))
		t.field("OVERLAP", tr.OverlapPolicy)
		t.opt("WEBHOOK PATH", tr.WebhookPath)
		t.opt("SIGNATURE", tr.SignatureScheme)
		t.opt("SECRET", tr.WebhookSecretHash)
		if tr.WebhookSecretPreviousHash != "" {
			t.field("PREVIOUS SECRET", tr.WebhookSecretPreviousHash+" (until "+when(tr.WebhookSecretPreviousExpiresAt)+")")
		}
		t.field("SOURCE", tr.Source)
		t.field("CREATED", when(tr.CreatedAt))
		t.field("UPDATED", when(tr.UpdatedAt))
	},
}

func triggersCmd(a *app) *cobra.Command {
	create, update := triggers.writes(a, func() bodyFlags { return &triggerFlags{} }, "name", "scope", "event", "agent", "prompt")
	c := group("triggers", "Event and webhook triggers", triggers.list(a, [3]string{"event", "event", "event kind"}),
		triggers.get(a), create, update, triggers.delete(a), triggers.history(a), deliveriesCmd(a))
	c.AddCommand(triggers.toggles(a)...)
	return c
}

func deliveriesCmd(a *app) *cobra.Command {
	ls := listing[wire.Delivery]{use: "deliveries ID", short: "Show the delivery log of a trigger",
		path: func(args []string) string { return triggers.path(args[0]) + "/deliveries" }, key: "deliveries",
		header: []string{"RECEIVED", "ID", "SOURCE", "DELIVERY", "HTTP", "OUTCOME", "REASON", "RUNS"},
		row: func(d wire.Delivery) []string {
			code := ""
			if d.StatusCode != 0 {
				code = strconv.Itoa(d.StatusCode)
			}
			return []string{when(d.ReceivedAt), d.ID, d.Source, d.DeliveryID, code, d.Outcome, d.Reason, strings.Join(d.RunIDs, ",")}
		}}
	return ls.cmd(a, func(c *cobra.Command, l *listFlags) {
		l.str(c, "outcome", "outcome", "accepted, filtered, skipped or rejected").withLast(c, "deliveries")
	})
}

// triggerFlags are the flags of triggers create/update.
type triggerFlags struct {
	defFlags
	event, endpointSlug, webhookID, secret, secretFile, scheme, previousTTL string
	filter                                                                  []string
}

func (f *triggerFlags) bind(c *cobra.Command, update bool) {
	f.defFlags.bind(c)
	fl := c.Flags()
	fl.StringVar(&f.event, "event", "", "webhook, session.created, session.stopped, automation.run.completed, automation.run.failed or ext.<name>")
	fl.StringArrayVar(&f.filter, "filter", nil, `envelope filter k=v[,k=v] (repeatable; "" clears it on update)`)
	fl.StringVar(&f.endpointSlug, "endpoint-slug", "", "webhook endpoint slug")
	fl.StringVar(&f.webhookID, "webhook-id", "", "webhook id (wbh_…; generated when absent)")
	fl.StringVar(&f.secret, "webhook-secret", "", "webhook secret")
	fl.StringVar(&f.secretFile, "webhook-secret-file", "", "read the webhook secret from a file (- for standard input)")
	fl.StringVar(&f.scheme, "signature-scheme", "", "agh, standard-webhooks, github or stripe")
	if update {
		fl.StringVar(&f.previousTTL, "webhook-secret-previous-ttl", "", "keep accepting the replaced secret for this long (with a new secret)")
	}
}

func (f *triggerFlags) body(cmd *cobra.Command, a *app) (map[string]any, error) {
	b := newFields(cmd)
	if err := f.defFlags.fill(a, b); err != nil {
		return nil, err
	}
	b.str("event", "event", f.event)
	b.str("endpoint-slug", "endpoint_slug", f.endpointSlug)
	b.str("webhook-id", "webhook_id", f.webhookID)
	b.str("signature-scheme", "signature_scheme", f.scheme)
	b.str("webhook-secret", "webhook_secret_value", f.secret)
	b.str("webhook-secret-previous-ttl", "webhook_secret_previous_ttl", f.previousTTL)
	if b.given("webhook-secret-file") {
		if b.given("webhook-secret") {
			return nil, usagef("--webhook-secret and --webhook-secret-file are mutually exclusive")
		}
		s, err := readInput(cmd, f.secretFile)
		if err != nil {
			return nil, err
		}
		b.m["webhook_secret_value"] = strings.TrimRight(string(s), "\r\n")
	}
	if b.given("filter") {
		m, err := parseFilter(f.filter)
		if err != nil {
			return nil, usagef("--filter: %v", err)
		}
		b.m["filter"] = m
	}
	return b.m, nil
}
