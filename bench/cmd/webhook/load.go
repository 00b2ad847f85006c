package main

import (
	"bufio"
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// The load generator speaks HTTP/1.1 over raw keep-alive TCP connections instead of using
// net/http's client: it shares the 2 cores with the servers under test, so it must be cheap.
// Every request is a complete agh-signed delivery (SPEC §9.3) with a unique delivery id.
// Signatures are computed before the timed region: a request's signature depends only on the
// timestamp and the body, so each phase signs its pool of distinct bodies once at the phase
// timestamp and the timed loop only copies bytes (signature, delivery id, body) into a
// per-connection buffer.

const (
	bodySize  = 1024
	bodyPool  = 1024 // distinct bodies per phase (request i uses body i % bodyPool)
	idDigits  = 12
	sigPrefix = "sha256="
)

// payload is the signed material of one phase: distinct bodies and their signatures.
type payload struct {
	ts     int64
	bodies [][]byte
	sigs   [][]byte // 64 lowercase hex digits each
}

// makeBody returns a 1 KiB JSON object whose action is "opened" (the matching trigger's
// filter value; the non-matching trigger wants "closed").
func makeBody(n int) []byte {
	head := fmt.Sprintf(`{"action":"opened","issue":{"number":%d,"title":"Crash on start","labels":["bug","bench"]},"pad":"`, n)
	tail := `"}`
	pad := bodySize - len(head) - len(tail)
	b := make([]byte, 0, bodySize)
	b = append(b, head...)
	for i := range pad {
		b = append(b, 'a'+byte((n+i)%26))
	}
	b = append(b, tail...)
	if len(b) != bodySize {
		panic("body size")
	}
	return b
}

// signPayload signs the body pool at ts (agh scheme: HMAC-SHA256 over "<ts>.<body>").
// It runs outside the timed region.
func signPayload(secret []byte, ts time.Time) *payload {
	p := &payload{ts: ts.Unix()}
	tss := strconv.FormatInt(p.ts, 10)
	for i := range bodyPool {
		b := makeBody(i)
		m := hmac.New(sha256.New, secret)
		m.Write([]byte(tss))
		m.Write([]byte{'.'})
		m.Write(b)
		sig := make([]byte, 64)
		hex.Encode(sig, m.Sum(nil))
		p.bodies = append(p.bodies, b)
		p.sigs = append(p.sigs, sig)
	}
	return p
}

// target is one server under test.
type target struct {
	name string
	addr string // host:port
	path string // webhook path
}

// reqBuf is a per-connection request buffer with fixed slots for the signature, the delivery
// id and the body.
type reqBuf struct {
	buf           []byte
	sigOff, idOff int
	bodyOff       int
}

func newReqBuf(t target, p *payload, idPrefix string) *reqBuf {
	var b bytes.Buffer
	fmt.Fprintf(&b, "POST %s HTTP/1.1\r\nHost: %s\r\nUser-Agent: agh-bench\r\nContent-Type: application/json\r\nContent-Length: %d\r\n", t.path, t.addr, bodySize)
	fmt.Fprintf(&b, "X-AGH-Webhook-Timestamp: %d\r\nX-AGH-Webhook-Signature: %s", p.ts, sigPrefix)
	r := &reqBuf{sigOff: b.Len()}
	b.Write(make([]byte, 64))
	b.WriteString("\r\nX-AGH-Webhook-Delivery-ID: " + idPrefix)
	r.idOff = b.Len()
	b.Write(make([]byte, idDigits))
	b.WriteString("\r\n\r\n")
	r.bodyOff = b.Len()
	b.Write(make([]byte, bodySize))
	r.buf = b.Bytes()
	return r
}

// fill prepares request seq: body and signature seq % bodyPool, delivery id <prefix><seq>.
func (r *reqBuf) fill(p *payload, seq uint64) {
	i := seq % bodyPool
	copy(r.buf[r.sigOff:], p.sigs[i])
	d := r.buf[r.idOff : r.idOff+idDigits]
	for k := idDigits - 1; k >= 0; k-- {
		d[k] = byte('0' + seq%10)
		seq /= 10
	}
	copy(r.buf[r.bodyOff:], p.bodies[i])
}

// conn is one keep-alive client connection.
type conn struct {
	c   net.Conn
	br  *bufio.Reader
	req *reqBuf
}

func dial(t target, p *payload, idPrefix string) (*conn, error) {
	c, err := net.Dial("tcp", t.addr)
	if err != nil {
		return nil, err
	}
	return &conn{c: c, br: bufio.NewReaderSize(c, 16<<10), req: newReqBuf(t, p, idPrefix)}, nil
}

// do sends request seq and reads the response; it returns the status code and, when keep is
// set, the response body.
func (c *conn) do(p *payload, seq uint64, keep bool) (int, []byte, error) {
	c.req.fill(p, seq)
	if _, err := c.c.Write(c.req.buf); err != nil {
		return 0, nil, err
	}
	return readResponse(c.br, keep)
}

var errMalformed = errors.New("malformed HTTP response")

// readResponse parses one HTTP/1.1 response (Content-Length or chunked body).
func readResponse(br *bufio.Reader, keep bool) (int, []byte, error) {
	line, err := br.ReadSlice('\n')
	if err != nil {
		return 0, nil, err
	}
	if len(line) < 12 || !bytes.HasPrefix(line, []byte("HTTP/1.1 ")) {
		return 0, nil, errMalformed
	}
	code, err := strconv.Atoi(string(line[9:12]))
	if err != nil {
		return 0, nil, errMalformed
	}
	clen, chunked := -1, false
	for {
		line, err = br.ReadSlice('\n')
		if err != nil {
			return 0, nil, err
		}
		if len(line) <= 2 {
			break
		}
		k, v, ok := bytes.Cut(line, []byte(":"))
		if !ok {
			return 0, nil, errMalformed
		}
		v = bytes.TrimSpace(v)
		switch {
		case asciiEqualFold(k, "Content-Length"):
			if clen, err = strconv.Atoi(string(v)); err != nil {
				return 0, nil, errMalformed
			}
		case asciiEqualFold(k, "Transfer-Encoding"):
			chunked = asciiEqualFold(v, "chunked")
		}
	}
	var body []byte
	switch {
	case chunked:
		for {
			line, err = br.ReadSlice('\n')
			if err != nil {
				return 0, nil, err
			}
			n, err := strconv.ParseInt(string(bytes.TrimSpace(line)), 16, 64)
			if err != nil {
				return 0, nil, errMalformed
			}
			if n == 0 {
				if _, err := br.ReadSlice('\n'); err != nil { // trailer end
					return 0, nil, err
				}
				break
			}
			if body, err = readN(br, int(n), body, keep); err != nil {
				return 0, nil, err
			}
			if _, err := br.Discard(2); err != nil {
				return 0, nil, err
			}
		}
	case clen >= 0:
		if body, err = readN(br, clen, body, keep); err != nil {
			return 0, nil, err
		}
	default:
		return 0, nil, errMalformed
	}
	return code, body, nil
}

func readN(br *bufio.Reader, n int, into []byte, keep bool) ([]byte, error) {
	if !keep {
		_, err := br.Discard(n)
		return into, err
	}
	start := len(into)
	into = append(into, make([]byte, n)...)
	_, err := io.ReadFull(br, into[start:])
	return into, err
}

func asciiEqualFold(b []byte, s string) bool {
	if len(b) != len(s) {
		return false
	}
	for i := range b {
		x, y := b[i]|0x20, s[i]|0x20
		if x != y {
			return false
		}
	}
	return true
}

// result is the outcome of one load phase.
type result struct {
	ok, bad   uint64 // responses with the expected status / anything else (errors included)
	elapsed   time.Duration
	lat       []time.Duration // sorted
	codes     map[int]uint64
	firstBody []byte // a response body, for sanity checks
	firstErr  error
	cpu       time.Duration // process CPU time (user+system) during the measured window
	sent      uint64        // requests sent, warmup included
	dropped   uint64        // open loop: measured requests never sent because the drain deadline passed
}

// cpuTime returns the CPU time this process has used so far.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// cpuPer returns the process CPU time per successful delivery.
func (r *result) cpuPer() time.Duration {
	if r.ok == 0 {
		return 0
	}
	return r.cpu / time.Duration(r.ok)
}

func (r *result) rate() float64 { return float64(r.ok) / r.elapsed.Seconds() }

// pct returns the q-quantile of the latencies; requests dropped at the open loop's drain
// deadline count as slower than any completed one, and -1 means the quantile falls among them.
func (r *result) pct(q float64) time.Duration {
	n := len(r.lat) + int(r.dropped)
	if n == 0 {
		return 0
	}
	i := int(q * float64(n-1))
	if i >= len(r.lat) {
		return -1
	}
	return r.lat[i]
}

// worker state shared by both loops.
type collector struct {
	mu        sync.Mutex
	res       result
	seq       atomic.Uint64
	wantCode  int
	measuring atomic.Bool
	stop      atomic.Bool
	dropped   atomic.Uint64
}

// tally is one connection's share of a phase's outcomes.
type tally struct {
	lat     []time.Duration
	codes   map[int]uint64
	ok, bad uint64
	body    []byte // the first response body kept
	err     error
}

// send sends request seq on c and, when measuring, records it with its latency since since.
// It reports false when the connection failed (the error is kept).
func (tl *tally) send(c *conn, p *payload, seq uint64, measuring bool, wantCode int, since time.Time) bool {
	code, b, err := c.do(p, seq, tl.body == nil && measuring)
	if err != nil {
		tl.err = err
		if measuring {
			tl.bad++
		}
		return false
	}
	if !measuring {
		return true
	}
	if b != nil {
		tl.body = b
	}
	tl.lat = append(tl.lat, time.Since(since))
	tl.codes[code]++
	if code == wantCode {
		tl.ok++
	} else {
		tl.bad++
	}
	return true
}

func (c *collector) merge(tl *tally) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.res.lat = append(c.res.lat, tl.lat...)
	c.res.ok += tl.ok
	c.res.bad += tl.bad
	if c.res.codes == nil {
		c.res.codes = map[int]uint64{}
	}
	for k, v := range tl.codes {
		c.res.codes[k] += v
	}
	if c.res.firstBody == nil && tl.body != nil {
		c.res.firstBody = tl.body
	}
	if c.res.firstErr == nil && tl.err != nil {
		c.res.firstErr = tl.err
	}
}

// closedLoop drives t with conns connections, each sending its next request as soon as the
// previous response arrived, for warmup+d; only requests sent after the warmup count.
func closedLoop(t target, p *payload, idPrefix string, conns int, warmup, d time.Duration, wantCode int) (*result, error) {
	col := &collector{wantCode: wantCode}
	cs := make([]*conn, conns)
	for i := range cs {
		c, err := dial(t, p, idPrefix)
		if err != nil {
			return nil, err
		}
		defer c.c.Close()
		cs[i] = c
	}
	var wg sync.WaitGroup
	for _, c := range cs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			tl := &tally{lat: make([]time.Duration, 0, 1<<15), codes: map[int]uint64{}}
			for !col.stop.Load() {
				seq := col.seq.Add(1)
				if !tl.send(c, p, seq, col.measuring.Load(), wantCode, time.Now()) {
					break
				}
			}
			col.merge(tl)
		}()
	}
	time.Sleep(warmup)
	col.measuring.Store(true)
	start, cpu0 := time.Now(), cpuTime()
	time.Sleep(d)
	col.stop.Store(true)
	// Requests in flight at the deadline complete after it; count the time they took.
	wg.Wait()
	col.res.elapsed = time.Since(start)
	col.res.cpu = cpuTime() - cpu0
	col.res.sent = col.seq.Load()
	slices.Sort(col.res.lat)
	return &col.res, nil
}

// openLoop offers rate requests/s to t for d (after a warmup at the same rate) through a pool
// of conns connections. Latency is measured from each request's scheduled send time, so time
// spent waiting for a free connection counts (no coordinated omission). A server slower than
// the offered rate accumulates a backlog; it gets drain after the schedule ends to catch up,
// then the requests not yet sent are dropped and counted (result.dropped) as slower than
// every completed one.
func openLoop(t target, p *payload, idPrefix string, conns int, rate float64, warmup, d, drain time.Duration, wantCode int) (*result, error) {
	col := &collector{wantCode: wantCode}
	total := int((warmup + d).Seconds() * rate)
	warmN := int(warmup.Seconds() * rate)
	sched := make(chan time.Time, total)
	cs := make([]*conn, conns)
	for i := range cs {
		c, err := dial(t, p, idPrefix)
		if err != nil {
			return nil, err
		}
		defer c.c.Close()
		cs[i] = c
	}
	var wg sync.WaitGroup
	var issued atomic.Int64
	for _, c := range cs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			tl := &tally{lat: make([]time.Duration, 0, total/conns+1024), codes: map[int]uint64{}}
			for at := range sched {
				n := issued.Add(1)
				measuring := n > int64(warmN)
				if col.stop.Load() {
					if measuring {
						col.dropped.Add(1)
					}
					continue
				}
				if !tl.send(c, p, col.seq.Add(1), measuring, wantCode, at) {
					break
				}
			}
			col.merge(tl)
		}()
	}
	start := time.Now()
	interval := time.Duration(float64(time.Second) / rate)
	var cpu0 time.Duration
	for i := 0; i < total; {
		now := time.Now()
		due := min(int(now.Sub(start)/interval)+1, total)
		for ; i < due; i++ {
			if i == warmN {
				cpu0 = cpuTime()
			}
			sched <- start.Add(time.Duration(i) * interval)
		}
		time.Sleep(200 * time.Microsecond)
	}
	close(sched)
	deadline := time.AfterFunc(drain, func() { col.stop.Store(true) })
	wg.Wait()
	deadline.Stop()
	col.res.elapsed = time.Since(start) - warmup
	col.res.cpu = cpuTime() - cpu0
	col.res.sent = col.seq.Load()
	col.res.dropped = col.dropped.Load()
	slices.Sort(col.res.lat)
	return &col.res, nil
}
