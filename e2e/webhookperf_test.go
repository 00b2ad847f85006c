package e2e

import (
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/agh-dev/agh/internal/testutil"
)

// TestWebhookCacheAndDeliveryLog covers the webhook fast path: the cached trigger follows
// PATCH, secret rotation and DELETE at once; records of non-admitting deliveries, written in the
// background, are all in the delivery log as soon as the answers are in, trimmed to
// deliveries_per_trigger, and survive a graceful restart; concurrent copies of one delivery
// admit exactly one run.
func TestWebhookCacheAndDeliveryLog(t *testing.T) {
	cfg, _ := recorderConfig(t)
	cfg += "\n[automation.history]\ndeliveries_per_trigger = 10\n"
	d := testutil.StartDaemon(t, testutil.Options{Config: cfg})
	c := d.Client
	tr := createWebhookTrigger(t, c, "cache", `,"filter":{"data.action":"opened"}`)
	id, path := tr["id"].(string), tr["webhook_path"].(string)
	deliveries := func(query string) []any {
		t.Helper()
		return list(expect(t, c, "GET", "/api/automation/triggers/"+id+"/deliveries"+query, "", 200, "", ""), "deliveries")
	}
	accepted := func(deliveryID, secret string) {
		t.Helper()
		code, m := send(t, c, path, "agh", secret, issueBody, deliveryID, time.Now(), nil)
		if code != 200 || len(list(obj(m, "result"), "runs")) != 1 {
			t.Fatalf("%s: %d %v", deliveryID, code, m)
		}
	}
	secret := "example-webhook-secret"
	filtered := func(deliveryID string) {
		t.Helper()
		code, m := send(t, c, path, "agh", secret, issueBody, deliveryID, time.Now(), nil)
		if code != 200 || obj(m, "result")["matched"] != float64(0) {
			t.Fatalf("%s: %d %v", deliveryID, code, m)
		}
	}
	accepted("a-1", "example-webhook-secret") // the trigger is now cached

	// A PATCH of the filter applies to the very next delivery, and back again.
	expect(t, c, "PATCH", "/api/automation/triggers/"+id, `{"filter":{"data.action":"closed"}}`, 200, "", "")
	filtered("f-1")
	expect(t, c, "PATCH", "/api/automation/triggers/"+id, `{"filter":{"data.action":"opened"}}`, 200, "", "")
	accepted("a-2", "example-webhook-secret")

	// Rotation without overlap: the old secret is refused at once, the new one accepted.
	expect(t, c, "PATCH", "/api/automation/triggers/"+id, `{"webhook_secret_value":"second-secret"}`, 200, "", "")
	if code, m := send(t, c, path, "agh", "example-webhook-secret", issueBody, "r-1", time.Now(), nil); code != 401 {
		t.Fatalf("old secret after rotation: %d %v", code, m)
	}
	accepted("a-3", "second-secret")
	secret = "second-secret"

	// Every record is listed as soon as the answers are in, newest first.
	var got []string
	for _, x := range deliveries("") {
		dd := x.(map[string]any)
		got = append(got, fmt.Sprintf("%v:%v/%v", dd["delivery_id"], dd["outcome"], dd["reason"]))
	}
	want := "a-3:accepted/<nil> r-1:rejected/signature_invalid a-2:accepted/<nil> f-1:filtered/filter_mismatch a-1:accepted/<nil>"
	if strings.Join(got, " ") != want {
		t.Fatalf("delivery log\n got  %s\n want %s", strings.Join(got, " "), want)
	}

	// Concurrent copies of one delivery: one run, the others 409 replay.
	var (
		mu    sync.Mutex
		codes = map[int]int{}
		wg    sync.WaitGroup
	)
	for range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			code, _ := send(t, c, path, "agh", "second-secret", issueBody, "dup-1", time.Now(), nil)
			mu.Lock()
			codes[code]++
			mu.Unlock()
		}()
	}
	wg.Wait()
	if codes[200] != 1 || codes[409] != 15 {
		t.Fatalf("concurrent duplicates: %v", codes)
	}

	// Retention: the log keeps the newest 10 records.
	expect(t, c, "PATCH", "/api/automation/triggers/"+id, `{"filter":{"data.action":"closed"}}`, 200, "", "")
	for i := range 25 {
		filtered(fmt.Sprintf("f-%d", 100+i))
	}
	ds := deliveries("")
	if len(ds) != 10 || ds[0].(map[string]any)["delivery_id"] != "f-124" || ds[9].(map[string]any)["delivery_id"] != "f-115" {
		t.Fatalf("retention: %d records, first %v", len(ds), ds[0])
	}

	// Records queued when the daemon stops are written before it exits.
	for i := range 5 {
		filtered(fmt.Sprintf("s-%d", i))
	}
	d.Restart()
	c = d.Client
	ds = deliveries("")
	if len(ds) != 10 || ds[0].(map[string]any)["delivery_id"] != "s-4" {
		t.Fatalf("after restart: %d records, first %v", len(ds), ds[0])
	}
	// Replay after restart is still 409, and DELETE makes the endpoint unknown at once.
	if code, m := send(t, c, path, "agh", "second-secret", issueBody, "a-3", time.Now(), nil); code != 409 || m["code"] != "replay" {
		t.Fatalf("replay after restart: %d %v", code, m)
	}
	expect(t, c, "DELETE", "/api/automation/triggers/"+id, "", 204, "", "")
	if code, m := send(t, c, path, "agh", "second-secret", issueBody, "g-1", time.Now(), nil); code != 404 {
		t.Fatalf("deleted trigger: %d %v", code, m)
	}
}

// TestWebhookCacheUnderConcurrentPatches flips a trigger's filter while other deliveries are
// in flight: a delivery sent after a PATCH has returned is always judged by the new filter.
func TestWebhookCacheUnderConcurrentPatches(t *testing.T) {
	cfg, _ := recorderConfig(t)
	cfg += "\n[automation.webhooks]\nrate_limit = 0\n"
	d := testutil.StartDaemon(t, testutil.Options{Config: cfg})
	c := d.Client
	tr := createWebhookTrigger(t, c, "flip", `,"filter":{"data.action":"opened"},"fire_limit":{"max":100000,"window":"1h"}`)
	id, path := tr["id"].(string), tr["webhook_path"].(string)
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				if code, m := send(t, c, path, "agh", "example-webhook-secret", issueBody, fmt.Sprintf("bg-%d-%d", g, i), time.Now(), nil); code != 200 {
					t.Errorf("background delivery: %d %v", code, m)
					return
				}
			}
		}()
	}
	for i := range 20 {
		action := []string{"closed", "opened"}[i%2]
		expect(t, c, "PATCH", "/api/automation/triggers/"+id, `{"filter":{"data.action":"`+action+`"}}`, 200, "", "")
		code, m := send(t, c, path, "agh", "example-webhook-secret", issueBody, fmt.Sprintf("fg-%d", i), time.Now(), nil)
		if code != 200 {
			t.Fatalf("flip %d: %d %v", i, code, m)
		}
		want := float64(0)
		if action == "opened" {
			want = 1
		}
		if got := obj(m, "result")["matched"]; got != want {
			t.Fatalf("flip %d (filter %s): matched %v", i, action, got)
		}
	}
	close(stop)
	wg.Wait()
}
