package service

import (
	"bytes"
	"context"
	"hash/maphash"
	"maps"
	"sync"
	"sync/atomic"
	"time"

	"github.com/agh-dev/agh/internal/automation"
	"github.com/agh-dev/agh/internal/store"
)

// RemoteCacheTTL bounds how long a cached webhook trigger is used without re-reading it when
// the store is shared by several nodes (PostgreSQL): another node's change normally arrives
// through the change feed within milliseconds (InvalidateTriggers), and the TTL bounds the
// staleness when a notification is lost. Admissions never rely on the cache alone there: the
// admitting transaction locks the trigger row and compares it (see webhook.go).
var RemoteCacheTTL = time.Second

// webhookEntry is a trigger as the webhook path needs it: the row and its decrypted secrets.
// Entries are immutable once published.
type webhookEntry struct {
	t       *automation.Trigger
	current []byte // decrypted current secret (nil when none)
	prev    []byte // decrypted previous secret (nil when none); valid until t.PreviousExpiresAt
	epoch   uint64 // triggerCache.epoch when the row was read
	loaded  time.Time
}

// secretsAt returns the secrets valid at now: current first, then an unexpired previous one.
func (e *webhookEntry) secretsAt(now time.Time) [][]byte {
	out := make([][]byte, 0, 2)
	if e.current != nil {
		out = append(out, e.current)
	}
	if e.prev != nil && now.Before(e.t.PreviousExpiresAt) {
		out = append(out, e.prev)
	}
	return out
}

// triggerCache caches webhook triggers by webhook id, so that a delivery needs no store read
// to find its trigger and no AES-GCM open to verify it.
//
// Correctness with a single writer process (SQLite): every service write that may change a
// trigger runs inside beginTriggerWrite/endTriggerWrite, which bump epoch before the write
// starts and again after it committed, and count writes in progress. An entry is filled only
// when no trigger write was in progress during its read and the epoch did not move, and is
// used as "fresh" (fresh()) only when no trigger write is in progress and the epoch still
// equals the entry's: so a fresh entry reflects every committed trigger write. Any doubt
// (a write in flight, a moved epoch) sends the admitting transaction to the store.
//
// With several nodes the epoch only covers this node's writes; other nodes' writes arrive
// through the change feed (invalidate), entries expire after RemoteCacheTTL, and fresh() is
// never true, so admissions re-read the locked row.
type triggerCache struct {
	mu      sync.Mutex
	byHook  map[string]*webhookEntry
	epoch   atomic.Uint64
	writing atomic.Int64
	local   bool // the store has a single writer process (SQLite)
}

func (c *triggerCache) get(webhookID string, now time.Time) *webhookEntry {
	c.mu.Lock()
	e := c.byHook[webhookID]
	c.mu.Unlock()
	if e == nil {
		return nil
	}
	if !c.local && now.Sub(e.loaded) >= RemoteCacheTTL {
		return nil
	}
	return e
}

// fresh reports whether e is known to equal the committed trigger row (single writer only).
// The admitting transaction calls it from inside the writer.
func (c *triggerCache) fresh(e *webhookEntry) bool {
	if !c.local {
		return false
	}
	// writing first: a write that ended after this load has bumped the epoch before
	// decrementing writing.
	if c.writing.Load() != 0 {
		return false
	}
	return c.epoch.Load() == e.epoch
}

func (c *triggerCache) put(webhookID string, e *webhookEntry, w0 int64) {
	// Checked under mu: a trigger write bumps the epoch before it clears the map under mu, so
	// an entry published here is either refused or cleared by that write.
	c.mu.Lock()
	defer c.mu.Unlock()
	if w0 != 0 || c.writing.Load() != 0 || c.epoch.Load() != e.epoch {
		return
	}
	if c.byHook == nil {
		c.byHook = map[string]*webhookEntry{}
	}
	if len(c.byHook) >= maxCachedTriggers {
		clear(c.byHook)
	}
	c.byHook[webhookID] = e
}

// maxCachedTriggers bounds the cache; beyond it the cache starts over.
const maxCachedTriggers = 100000

// invalidate drops every entry (another node changed a trigger, or the feed reconnected).
func (c *triggerCache) invalidate() {
	c.epoch.Add(1)
	c.mu.Lock()
	clear(c.byHook)
	c.mu.Unlock()
}

func (c *triggerCache) beginWrite() {
	c.writing.Add(1)
	c.epoch.Add(1)
}

func (c *triggerCache) endWrite() {
	c.epoch.Add(1)
	c.mu.Lock()
	clear(c.byHook)
	c.mu.Unlock()
	c.writing.Add(-1)
}

// writeTriggers runs a store write that may insert, change or delete triggers, keeping the
// webhook trigger cache correct (see triggerCache).
func (s *Service) writeTriggers(ctx context.Context, fn func(tx store.Tx) error) error {
	s.triggers.beginWrite()
	defer s.triggers.endWrite()
	return s.Store.Write(ctx, fn)
}

// InvalidateTriggers drops the cached webhook triggers; the daemon calls it when another node
// changed a trigger and when its change feed reconnects.
func (s *Service) InvalidateTriggers() { s.triggers.invalidate() }

// webhookTrigger returns the trigger owning webhookID with its decrypted secrets, from the
// cache or the store (store.ErrNotFound when there is none).
func (s *Service) webhookTrigger(ctx context.Context, webhookID string, now time.Time, useCache bool) (*webhookEntry, error) {
	c := &s.triggers
	if useCache {
		if e := c.get(webhookID, now); e != nil {
			return e, nil
		}
	}
	w0 := c.writing.Load()
	e := &webhookEntry{epoch: c.epoch.Load(), loaded: now}
	t, err := s.Store.TriggerByWebhookID(ctx, webhookID)
	if err != nil {
		return nil, err
	}
	e.t = t
	if len(t.SecretSealed) > 0 || len(t.PreviousSealed) > 0 {
		// Both secrets are opened regardless of the previous one's expiry; secretsAt applies it.
		if e.current, e.prev, err = s.openSecrets(t); err != nil {
			return nil, err
		}
	}
	c.put(webhookID, e, w0)
	return e, nil
}

// sameTrigger reports whether two reads of a trigger agree on everything a webhook delivery
// depends on.
func sameTrigger(a, b *automation.Trigger) bool {
	return a.ID == b.ID && a.UpdatedAt.Equal(b.UpdatedAt) && a.Enabled == b.Enabled && a.Event == b.Event &&
		a.WebhookID == b.WebhookID && a.EndpointSlug == b.EndpointSlug && a.Scope == b.Scope &&
		a.WorkspaceID == b.WorkspaceID && a.SignatureScheme == b.SignatureScheme &&
		bytes.Equal(a.SecretSealed, b.SecretSealed) && bytes.Equal(a.PreviousSealed, b.PreviousSealed) &&
		a.PreviousExpiresAt.Equal(b.PreviousExpiresAt) && maps.Equal(a.Filter, b.Filter) &&
		a.Prompt == b.Prompt && a.AgentName == b.AgentName && a.OverlapPolicy == b.OverlapPolicy &&
		a.FireLimit == b.FireLimit && a.Retry == b.Retry
}

// claimIndex remembers, per webhook trigger, hashes of the delivery ids that may have a
// replay claim, so that a delivery whose id has certainly never been claimed skips the claim
// read (SPEC §9.7, step 9 of §9.2). Only with a single writer process (SQLite), where every
// claim is inserted by this process: a set is created empty, then loaded from the store,
// and every claim this process commits is added after its commit; a set created before a
// claim's commit therefore either sees it in the load or gets it added. It is a superset
// (claims deleted with their trigger or its webhook, and expired ones, stay until the next
// prune of claims drops every set), and hash collisions only cost a read. The one window it can miss — a claim committed and not yet added — is closed
// for admissions by the claim's unique constraint in the admitting transaction; a concurrent
// duplicate that is filtered in that window is answered as if it had arrived first.
type claimIndex struct {
	mu   sync.Mutex
	sets map[string]*claimSet
	seed maphash.Seed
}

type claimSet struct {
	mu    sync.Mutex
	ready bool
	off   bool // too many claims: always read
	ids   map[uint64]struct{}
}

// maxIndexedClaims bounds one trigger's set; beyond it the trigger's claims are always read.
const maxIndexedClaims = 1 << 20

func (c *claimIndex) hash(id string) uint64 { return maphash.String(c.seed, id) }

// set returns the trigger's set, creating it (not ready) when absent.
func (c *claimIndex) set(triggerID string) (*claimSet, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.sets == nil {
		c.sets = map[string]*claimSet{}
		c.seed = maphash.MakeSeed()
	}
	cs := c.sets[triggerID]
	if cs != nil {
		return cs, false
	}
	cs = &claimSet{ids: map[uint64]struct{}{}}
	c.sets[triggerID] = cs
	return cs, true
}

// add records a committed claim.
func (c *claimIndex) add(triggerID, deliveryID string) {
	c.mu.Lock()
	cs := c.sets[triggerID]
	c.mu.Unlock()
	if cs == nil {
		return // the next load reads it
	}
	cs.mu.Lock()
	if !cs.off {
		cs.ids[c.hash(deliveryID)] = struct{}{}
		if len(cs.ids) > maxIndexedClaims {
			cs.off, cs.ids = true, nil
		}
	}
	cs.mu.Unlock()
}

// reset forgets every set (claims were pruned, or a trigger changed its webhook).
func (c *claimIndex) reset() {
	c.mu.Lock()
	clear(c.sets)
	c.mu.Unlock()
}

// mayHaveClaim reports whether (trigger, delivery id) may have a replay claim; true means
// "read it".
func (s *Service) mayHaveClaim(ctx context.Context, triggerID, deliveryID string) bool {
	if !s.triggers.local {
		return true
	}
	c := &s.claims
	cs, created := c.set(triggerID)
	if created {
		ids, err := s.Store.ReplayClaimIDs(ctx, triggerID, maxIndexedClaims+1)
		cs.mu.Lock()
		switch {
		case err != nil || len(ids) > maxIndexedClaims:
			cs.off, cs.ids = true, nil
		default:
			for _, id := range ids {
				cs.ids[c.hash(id)] = struct{}{}
			}
		}
		cs.ready = true
		cs.mu.Unlock()
		if err != nil {
			c.mu.Lock()
			if c.sets[triggerID] == cs {
				delete(c.sets, triggerID)
			}
			c.mu.Unlock()
		}
	}
	cs.mu.Lock()
	defer cs.mu.Unlock()
	if !cs.ready || cs.off {
		return true
	}
	_, ok := cs.ids[c.hash(deliveryID)]
	return ok
}
