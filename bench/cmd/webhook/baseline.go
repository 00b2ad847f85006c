package main

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/agh-dev/agh/internal/store"
	"github.com/agh-dev/agh/internal/store/sqlite"
	"github.com/agh-dev/agh/internal/webhook"
)

// The baselines are the physical ceiling of the webhook path on this machine: a bare net/http
// server whose handler performs exactly agh's verification (the same internal/webhook
// functions DeliverWebhook calls: header parsing, ±5 min freshness, body read through the
// 1 MiB limit, constant-time HMAC comparison), optionally followed by one row inserted through
// agh's group-committing SQLite writer (internal/store/sqlite, synchronous=FULL, WAL).

var okBody = []byte(`{"result":{"matched":0,"runs":[]}}` + "\n")

// baseline is a running baseline server.
type baseline struct {
	srv   *http.Server
	addr  string
	store *sqlite.Store // nil for the HMAC-only baseline
}

func (b *baseline) target(name string) target {
	return target{name: name, addr: b.addr, path: "/api/webhooks/global/bench--wbh_baseline"}
}

func (b *baseline) close() {
	_ = b.srv.Close()
	if b.store != nil {
		_ = b.store.Close()
	}
}

// startBaseline starts the HMAC-only baseline (dir == "") or the HMAC + insert baseline with
// its database in dir.
func startBaseline(secret []byte, dir string) (*baseline, error) {
	b := &baseline{}
	if dir != "" {
		st, err := sqlite.Open(context.Background(), filepath.Join(dir, "baseline.db"), sqlite.Options{})
		if err != nil {
			return nil, err
		}
		b.store = st
	}
	secrets := [][]byte{secret}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /api/webhooks/global/{endpoint}", func(w http.ResponseWriter, r *http.Request) {
		now := time.Now()
		h, rej := webhook.ParseHeaders(webhook.SchemeAGH, r.Header)
		if rej == nil {
			rej = h.CheckFreshness(now)
		}
		if rej != nil {
			http.Error(w, rej.Message, rej.Status)
			return
		}
		body, _, tooLarge, err := webhook.ReadBody(http.MaxBytesReader(w, r.Body, webhook.MaxBody+1), r.ContentLength)
		if tooLarge || err != nil {
			http.Error(w, "body", http.StatusRequestEntityTooLarge)
			return
		}
		if _, ok := h.Verify(body, secrets); !ok {
			http.Error(w, "signature", http.StatusUnauthorized)
			return
		}
		if b.store != nil {
			key := "bench:" + h.DeliveryID
			val := strconv.AppendInt(nil, now.UnixNano(), 10)
			if err := b.store.Write(r.Context(), func(tx store.Tx) error { return tx.SetMeta(key, val) }); err != nil {
				http.Error(w, err.Error(), http.StatusInternalServerError)
				return
			}
		}
		w.Header().Set("Content-Type", "application/json; charset=utf-8")
		_, _ = w.Write(okBody)
	})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	b.addr = ln.Addr().String()
	b.srv = &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second, IdleTimeout: 120 * time.Second, MaxHeaderBytes: 64 << 10}
	go func() { _ = b.srv.Serve(ln) }()
	return b, nil
}

// writerResult is the outcome of the group-commit writer micro-benchmark.
type writerResult struct {
	writers      int
	writes       uint64
	batches      uint64
	elapsed      time.Duration
	writesPerSec float64
}

func (w writerResult) batchSize() float64 {
	if w.batches == 0 {
		return 0
	}
	return float64(w.writes) / float64(w.batches)
}

// benchWriter measures agh's SQLite writer without HTTP: writers goroutines each call
// Store.Write (one SetMeta upsert of a unique key) in a closed loop for d. With one writer no
// two writes can share a commit (one fsync per write); with many, the writer commits whatever
// is queued together.
func benchWriter(dir string, writers int, d time.Duration) (writerResult, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return writerResult{}, err
	}
	st, err := sqlite.Open(context.Background(), filepath.Join(dir, fmt.Sprintf("writer-%d.db", writers)), sqlite.Options{})
	if err != nil {
		return writerResult{}, err
	}
	defer st.Close()
	ctx := context.Background()
	var stop atomic.Bool
	var n atomic.Uint64
	var wg sync.WaitGroup
	s0 := st.Stats()
	start := time.Now()
	for w := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			val := []byte("x")
			for i := 0; !stop.Load(); i++ {
				key := "w" + strconv.Itoa(w) + ":" + strconv.Itoa(i)
				if err := st.Write(ctx, func(tx store.Tx) error { return tx.SetMeta(key, val) }); err != nil {
					return
				}
				n.Add(1)
			}
		}()
	}
	time.Sleep(d)
	stop.Store(true)
	wg.Wait()
	el := time.Since(start)
	s1 := st.Stats()
	return writerResult{writers: writers, writes: s1.Writes - s0.Writes, batches: s1.Batches - s0.Batches, elapsed: el,
		writesPerSec: float64(n.Load()) / el.Seconds()}, nil
}
