package cli

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/agh-dev/agh/internal/client"
	"github.com/agh-dev/agh/internal/webhook"
)

func webhookCmd(a *app) *cobra.Command {
	var secret, deliveryID string
	var data dataFlags
	send := &cobra.Command{
		Use:   "send URL",
		Short: "Sign a payload with the agh scheme and post it",
		Long: "Sign a payload with the agh webhook scheme (X-AGH-Webhook-Timestamp, -Signature, -Delivery-ID)\n" +
			"and POST it to URL. A URL that is a path (/api/webhooks/…) goes to the daemon (socket or --addr).\n" +
			"Prints the response body; exits 1 when the status is not 2xx.",
		Args: nArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := requireFlags(cmd, "secret"); err != nil {
				return err
			}
			body, ok, err := data.read(cmd)
			if err != nil {
				return err
			}
			if !ok {
				body = []byte("{}")
			}
			id := deliveryID
			if id == "" {
				id = randomDeliveryID()
			}
			h := webhook.Sign(webhook.SchemeAGH, []byte(secret), body, time.Now(), id)
			h.Set("Content-Type", "application/json")
			resp, err := a.post(cmd.Context(), args[0], body, h)
			if err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			if len(resp.Body) > 0 {
				fmt.Fprintf(out, "%s\n", strings.TrimRight(string(resp.Body), "\n"))
			}
			if resp.Status < 200 || resp.Status > 299 {
				return fmt.Errorf("webhook answered %d: %s", resp.Status, errorText(resp))
			}
			return nil
		},
	}
	send.Flags().StringVar(&secret, "secret", "", "webhook secret (required)")
	data.bind(send, "request body (default {})")
	send.Flags().StringVar(&deliveryID, "delivery-id", "", "delivery id (default: random)")
	return group("webhook", "Webhook tools", send)
}

// post sends body to an absolute URL, or to the daemon when target is a path.
func (a *app) post(ctx context.Context, target string, body []byte, h http.Header) (*client.Response, error) {
	if strings.HasPrefix(target, "/") {
		resp, err := a.client().Raw(ctx, "POST", target, body, h)
		if err != nil {
			return nil, a.unreachable(err)
		}
		return resp, nil
	}
	if !strings.HasPrefix(target, "http://") && !strings.HasPrefix(target, "https://") {
		return nil, usagef("URL must be http(s)://… or a daemon path /api/webhooks/…: %q", target)
	}
	c := &client.Client{HTTP: &http.Client{Timeout: 60 * time.Second}}
	return c.Raw(ctx, "POST", target, body, h)
}

// errorText is the `error` of an API error body, else the status text.
func errorText(resp *client.Response) string {
	var e struct {
		Error string `json:"error"`
	}
	if json.Unmarshal(resp.Body, &e) == nil && e.Error != "" {
		return e.Error
	}
	return http.StatusText(resp.Status)
}

func randomDeliveryID() string {
	b := make([]byte, 12)
	_, _ = rand.Read(b)
	return "cli-" + hex.EncodeToString(b)
}
