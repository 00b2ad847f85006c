package webhook

import (
	"errors"
	"strconv"
	"strings"
)

// WebhookIDPrefix starts every webhook id.
const WebhookIDPrefix = "wbh_"

// Step-1 error details (SPEC §9.2), without the validation prefix.
var (
	errEndpointShape = errors.New("invalid webhook endpoint: expected <slug>--<webhook_id>")
	errEndpointEmpty = errors.New("invalid webhook endpoint: expected non-empty slug and webhook id")
)

// ParseEndpoint splits a webhook route's {endpoint} "<slug>--<webhook_id>"
// at the last "--" (SPEC §9.1). The slug and the webhook id must be non-empty
// and the id must start with "wbh_". The error text is the exact detail of
// SPEC §9.2 step 1 (the HTTP layer adds the validation prefix).
func ParseEndpoint(endpoint string) (slug, webhookID string, err error) {
	i := strings.LastIndex(endpoint, "--")
	if i < 0 {
		return "", "", errEndpointShape
	}
	slug, webhookID = endpoint[:i], endpoint[i+2:]
	if slug == "" || webhookID == "" {
		return "", "", errEndpointEmpty
	}
	if !strings.HasPrefix(webhookID, WebhookIDPrefix) {
		return "", "", errors.New("invalid webhook endpoint: webhook id " + strconv.Quote(webhookID) + ` must start with "wbh_"`)
	}
	return slug, webhookID, nil
}

// Endpoint joins a slug and a webhook id into "<slug>--<webhook_id>".
func Endpoint(slug, webhookID string) string { return slug + "--" + webhookID }
