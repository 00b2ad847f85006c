package agent

// Why not acp.ClientSideConnection?
//
// github.com/coder/acp-go-sdk v0.13.0's ClientSideConnection (and the
// Connection under it) cannot produce the wire behaviour SPEC §10.3 requires:
//
//   - its InitializeRequest always marshals clientCapabilities.auth
//     ({"auth":{"terminal":false},…}), so the exact initialize params of
//     §10.3 step 1 cannot be sent through it;
//   - lines that cannot be parsed are only logged through slog and dropped;
//     the transcript must record them as `error` entries;
//   - session/update notifications reach the client decoded into typed Go
//     structs; the transcript keeps the raw ACP objects (`data`), including
//     fields and kinds this SDK version does not know;
//   - a request whose context ends sends "$/cancel_request", which is not part
//     of the termination sequence of §7.8 (session/cancel, SIGTERM, SIGKILL);
//   - a process exit before a response surfaces as a generic internal error,
//     and lines over 10 MiB close the connection.
//
// So the client side is a minimal JSON-RPC 2.0 line transport (this file); the
// SDK provides the protocol vocabulary: method names, the protocol version,
// stop reasons and permission option kinds.

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	acp "github.com/coder/acp-go-sdk"
)

// JSON-RPC error codes used in replies to the agent.
const (
	codeInvalidParams  = -32602
	codeMethodNotFound = -32601
	codeInternalError  = -32603
	codeOutside        = -32000 // "path outside workspace"
	codeNotFound       = -32002 // ACP "resource not found"
)

const (
	// maxMessageBytes bounds one JSON-RPC line from the agent; longer lines
	// are discarded and recorded as an `error` entry.
	maxMessageBytes = 32 << 20
	// maxProtocolErrors bounds the `error` entries recorded for unparsable
	// messages; further ones are counted in a last entry only.
	maxProtocolErrors = 100
	// excerptBytes is how much of an unparsable line an `error` entry quotes.
	excerptBytes = 200
)

// acpDriver speaks the Agent Client Protocol (SPEC §10.3).
type acpDriver struct{}

// rpcError is a JSON-RPC error object.
type rpcError struct {
	Code    int             `json:"code"`
	Message string          `json:"message"`
	Data    json.RawMessage `json:"data,omitempty"`
}

// text is the error's message, or its code when the message is empty.
func (e *rpcError) text() string {
	if strings.TrimSpace(e.Message) == "" {
		return fmt.Sprintf("JSON-RPC error %d", e.Code)
	}
	return e.Message
}

// rpcMessage is any inbound JSON-RPC message.
type rpcMessage struct {
	JSONRPC string          `json:"jsonrpc"`
	ID      json.RawMessage `json:"id,omitempty"`
	Method  string          `json:"method,omitempty"`
	Params  json.RawMessage `json:"params,omitempty"`
	Result  json.RawMessage `json:"result,omitempty"`
	Error   *rpcError       `json:"error,omitempty"`
}

type rpcRequest struct {
	JSONRPC string `json:"jsonrpc"`
	ID      uint64 `json:"id"`
	Method  string `json:"method"`
	Params  any    `json:"params"`
}

type rpcNotification struct {
	JSONRPC string `json:"jsonrpc"`
	Method  string `json:"method"`
	Params  any    `json:"params"`
}

type rpcResponse struct {
	JSONRPC string          `json:"jsonrpc"`
	ID      json.RawMessage `json:"id"`
	Result  json.RawMessage `json:"result,omitempty"`
	Error   *rpcError       `json:"error,omitempty"`
}

// initializeParams are exactly the params of SPEC §10.3 step 1.
type initializeParams struct {
	ProtocolVersion    int                `json:"protocolVersion"`
	ClientCapabilities clientCapabilities `json:"clientCapabilities"`
	ClientInfo         clientInfo         `json:"clientInfo"`
}

type clientCapabilities struct {
	FS       fsCapabilities `json:"fs"`
	Terminal bool           `json:"terminal"`
}

type fsCapabilities struct {
	ReadTextFile  bool `json:"readTextFile"`
	WriteTextFile bool `json:"writeTextFile"`
}

type clientInfo struct {
	Name    string `json:"name"`
	Version string `json:"version"`
}

type newSessionParams struct {
	Cwd        string `json:"cwd"`
	McpServers []any  `json:"mcpServers"`
}

type textBlock struct {
	Type string `json:"type"`
	Text string `json:"text"`
}

type promptParams struct {
	SessionID string      `json:"sessionId"`
	Prompt    []textBlock `json:"prompt"`
}

type sessionParams struct {
	SessionID string `json:"sessionId"`
}

// acpConn is the client side of one ACP session.
type acpConn struct {
	req  *Request
	tr   *Transcript
	p    *proc
	root string // the working directory with symlinks resolved

	// writer
	wmu      sync.Mutex
	queue    [][]byte
	wsig     chan struct{}
	closeReq bool
	broken   bool
	wdone    chan struct{}

	// requests in flight
	pmu     sync.Mutex
	nextID  uint64
	pending map[uint64]chan *rpcMessage

	eof        chan struct{} // closed when the reader stopped (stdout EOF or closed)
	recording  atomic.Bool   // session/update notifications are recorded
	cancelSent atomic.Bool   // session/cancel was sent
	protoErrs  int           // reader goroutine only
	sessionID  string
}

// Run implements Driver.
func (acpDriver) Run(ctx context.Context, req Request) Outcome {
	tr := req.Transcript
	if tr == nil {
		tr = NewTranscript(req.Agent.MaxOutputBytes, nil)
	}
	req.Transcript = tr
	tr.Add(Entry{Type: TypePrompt, Text: req.Prompt})
	if ctx.Err() != nil {
		return finish(tr, causeOutcome(ctx))
	}

	c := &acpConn{
		req:     &req,
		tr:      tr,
		root:    resolveRoot(req.Dir),
		wsig:    make(chan struct{}, 1),
		wdone:   make(chan struct{}),
		pending: make(map[uint64]chan *rpcMessage),
		eof:     make(chan struct{}),
	}
	p, err := start(req.Agent.Command, req.Dir, req.Env, func(line string) {
		tr.Add(Entry{Type: TypeStderr, Text: line})
	})
	if err != nil {
		return finish(tr, spawnFailed(err))
	}
	c.p = p
	if req.OnStart != nil {
		req.OnStart(p.pgid)
	}
	go c.writer()
	go c.reader()

	out, ended := c.session(ctx)
	if ended {
		// The context ended: the turn had its chance to end after
		// session/cancel; now the process group goes.
		c.closeStdin()
		p.terminate(req.termGrace())
	} else {
		// §10.3 step 6: close stdin, wait for the exit, then end the group.
		c.closeStdin()
		t := time.NewTimer(req.exitGrace())
		select {
		case <-p.exited:
		case <-t.C:
		case <-ctx.Done():
		}
		t.Stop()
		p.terminate(req.termGrace())
	}
	p.drain(c.eof)
	<-c.wdone
	if out.exited {
		out.Error = "agent exited: " + p.withTail(p.exitDescription())
	}
	out.SessionID = c.sessionID
	return finish(tr, out.Outcome)
}

// sessionOutcome is an Outcome plus whether the agent exited before the
// prompt response (the error text is filled in once stderr is drained).
type sessionOutcome struct {
	Outcome
	exited bool
}

// session runs initialize, session/new and session/prompt. ended reports
// that the outcome comes from the context's cause (and the cancel grace, if
// any, has been spent).
func (c *acpConn) session(ctx context.Context) (out sessionOutcome, ended bool) {
	params := initializeParams{
		ProtocolVersion: acp.ProtocolVersionNumber,
		ClientCapabilities: clientCapabilities{
			FS: fsCapabilities{ReadTextFile: true, WriteTextFile: true},
		},
		ClientInfo: clientInfo{Name: "agh", Version: Version},
	}
	res, out, ended, ok := c.call(ctx, acp.AgentMethodInitialize, params)
	if !ok {
		return out, ended
	}
	var ir struct {
		ProtocolVersion json.RawMessage `json:"protocolVersion"`
	}
	if err := json.Unmarshal(res, &ir); err != nil {
		return agentError("invalid initialize response: " + err.Error()), false
	}
	if v := strings.TrimSpace(string(ir.ProtocolVersion)); v != strconv.Itoa(acp.ProtocolVersionNumber) {
		if v == "" || v == "null" {
			v = "(none)"
		}
		return agentError("unsupported ACP protocol version " + v), false
	}

	res, out, ended, ok = c.call(ctx, acp.AgentMethodSessionNew, newSessionParams{Cwd: c.req.Dir, McpServers: []any{}})
	if !ok {
		return out, ended
	}
	var nr struct {
		SessionID string `json:"sessionId"`
	}
	if err := json.Unmarshal(res, &nr); err != nil || nr.SessionID == "" {
		return agentError("invalid session/new response: no sessionId"), false
	}
	c.sessionID = nr.SessionID
	if c.req.OnSession != nil {
		c.req.OnSession(nr.SessionID)
	}

	c.recording.Store(true)
	ch := c.request(acp.AgentMethodSessionPrompt, promptParams{
		SessionID: nr.SessionID,
		Prompt:    []textBlock{{Type: "text", Text: c.req.Prompt}},
	})
	msg, ev := c.await(ctx, ch)
	if ev == evContext {
		// SPEC §7.8: session/cancel, then up to the cancel grace for the turn
		// to end (the agent's answer does not change the outcome).
		c.cancelSent.Store(true)
		c.notify(acp.AgentMethodSessionCancel, sessionParams{SessionID: nr.SessionID})
		c.awaitFor(ch, c.req.cancelGrace())
		return sessionOutcome{Outcome: causeOutcome(ctx)}, true
	}
	c.recording.Store(false)
	if ev == evGone {
		return c.exitedOutcome(), false
	}
	if msg.Error != nil {
		return agentError(msg.Error.text()), false
	}
	var pr struct {
		StopReason string `json:"stopReason"`
	}
	if err := json.Unmarshal(msg.Result, &pr); err != nil {
		return agentError("invalid session/prompt response: " + err.Error()), false
	}
	return sessionOutcome{Outcome: stopOutcome(pr.StopReason)}, false
}

// stopOutcome maps a stop reason of a turn the product did not cancel
// (SPEC §10.5).
func stopOutcome(reason string) Outcome {
	switch acp.StopReason(reason) {
	case acp.StopReasonEndTurn, acp.StopReasonMaxTokens, acp.StopReasonMaxTurnRequests:
		return Outcome{Status: StatusCompleted, StopReason: reason}
	case acp.StopReasonRefusal:
		return Outcome{Status: StatusFailed, Error: "agent refused", ErrorCode: CodeRefused, StopReason: reason}
	case acp.StopReasonCancelled:
		return Outcome{Status: StatusFailed, Error: "agent cancelled the turn", ErrorCode: CodeAgentError, StopReason: reason}
	}
	return agentError(fmt.Sprintf("unknown stop reason %q", reason)).Outcome
}

func agentError(msg string) sessionOutcome {
	return sessionOutcome{Outcome: Outcome{
		Status: StatusFailed, Error: "agent error: " + msg, ErrorCode: CodeAgentError, StopReason: "error",
	}}
}

func (c *acpConn) exitedOutcome() sessionOutcome {
	// The error text needs the complete stderr tail; Run fills it in.
	return sessionOutcome{
		Outcome: Outcome{Status: StatusFailed, ErrorCode: CodeAgentError, StopReason: "error"},
		exited:  true,
	}
}

// call sends a request and waits for its response. ok is false when the
// outcome of the run is already decided (error reply, exit, context end).
func (c *acpConn) call(ctx context.Context, method string, params any) (json.RawMessage, sessionOutcome, bool, bool) {
	msg, ev := c.await(ctx, c.request(method, params))
	switch ev {
	case evContext:
		return nil, sessionOutcome{Outcome: causeOutcome(ctx)}, true, false
	case evGone:
		return nil, c.exitedOutcome(), false, false
	}
	if msg.Error != nil {
		return nil, agentError(msg.Error.text()), false, false
	}
	return msg.Result, sessionOutcome{}, false, true
}

type awaitEvent int

const (
	evResponse awaitEvent = iota
	evGone                // the agent exited or closed its stdout
	evContext             // the run's context ended
)

// await waits for the response on ch, the agent going away, or ctx.
func (c *acpConn) await(ctx context.Context, ch chan *rpcMessage) (*rpcMessage, awaitEvent) {
	select {
	case m := <-ch:
		return m, evResponse
	case <-c.eof:
		return c.lastChance(ch)
	case <-c.p.exited:
		// The response may still sit in the pipe: give the reader a moment
		// to reach EOF (a left-behind child may keep stdout open).
		t := time.NewTimer(drainGrace)
		defer t.Stop()
		select {
		case m := <-ch:
			return m, evResponse
		case <-c.eof:
			return c.lastChance(ch)
		case <-t.C:
			return c.lastChance(ch)
		}
	case <-ctx.Done():
		return nil, evContext
	}
}

// lastChance prefers a response that was delivered before EOF.
func (c *acpConn) lastChance(ch chan *rpcMessage) (*rpcMessage, awaitEvent) {
	select {
	case m := <-ch:
		return m, evResponse
	default:
		return nil, evGone
	}
}

// awaitFor waits up to d for the response on ch or the agent going away.
func (c *acpConn) awaitFor(ch chan *rpcMessage, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ch:
	case <-c.eof:
	case <-c.p.exited:
	case <-t.C:
	}
}

// request sends a request and returns the channel its response arrives on.
func (c *acpConn) request(method string, params any) chan *rpcMessage {
	ch := make(chan *rpcMessage, 1)
	c.pmu.Lock()
	c.nextID++
	id := c.nextID
	c.pending[id] = ch
	c.pmu.Unlock()
	c.send(rpcRequest{JSONRPC: "2.0", ID: id, Method: method, Params: params})
	return ch
}

func (c *acpConn) notify(method string, params any) {
	c.send(rpcNotification{JSONRPC: "2.0", Method: method, Params: params})
}

func (c *acpConn) reply(id json.RawMessage, result any) {
	b, err := json.Marshal(result)
	if err != nil {
		c.replyError(id, codeInternalError, err.Error())
		return
	}
	c.send(rpcResponse{JSONRPC: "2.0", ID: id, Result: b})
}

func (c *acpConn) replyError(id json.RawMessage, code int, message string) {
	c.send(rpcResponse{JSONRPC: "2.0", ID: id, Error: &rpcError{Code: code, Message: message}})
}

// send queues one message for the writer; it never blocks on the pipe.
func (c *acpConn) send(msg any) {
	b, err := json.Marshal(msg)
	if err != nil {
		return // our own types always marshal
	}
	b = append(b, '\n')
	c.wmu.Lock()
	if !c.closeReq && !c.broken {
		c.queue = append(c.queue, b)
	}
	c.wmu.Unlock()
	c.signalWriter()
}

func (c *acpConn) signalWriter() {
	select {
	case c.wsig <- struct{}{}:
	default:
	}
}

// closeStdin closes the agent's stdin once the queued messages are written.
func (c *acpConn) closeStdin() {
	c.wmu.Lock()
	c.closeReq = true
	c.wmu.Unlock()
	c.signalWriter()
}

// writer writes queued messages to the agent's stdin in order.
func (c *acpConn) writer() {
	defer close(c.wdone)
	for {
		c.wmu.Lock()
		for len(c.queue) == 0 && !c.closeReq {
			c.wmu.Unlock()
			<-c.wsig
			c.wmu.Lock()
		}
		if len(c.queue) == 0 {
			c.wmu.Unlock()
			c.p.stdin.Close()
			return
		}
		msg := c.queue[0]
		c.queue = c.queue[1:]
		c.wmu.Unlock()
		if _, err := c.p.stdin.Write(msg); err != nil {
			c.wmu.Lock()
			c.broken = true
			c.queue = nil
			c.wmu.Unlock()
		}
	}
}

// reader reads the agent's stdout line by line and dispatches messages.
func (c *acpConn) reader() {
	defer close(c.eof)
	br := bufio.NewReaderSize(c.p.stdout, 64<<10)
	var line []byte
	tooLong := false
	for {
		chunk, err := br.ReadSlice('\n')
		if !tooLong {
			if len(line)+len(chunk) > maxMessageBytes {
				tooLong = true
				line = nil
			} else {
				line = append(line, chunk...)
			}
		}
		if errors.Is(err, bufio.ErrBufferFull) {
			continue
		}
		if tooLong {
			c.protocolError(fmt.Sprintf("message from agent exceeds %d bytes", maxMessageBytes))
		} else {
			c.handle(line)
		}
		line, tooLong = line[:0], false
		if err != nil {
			return
		}
	}
}

// protocolError records an `error` entry for a message that cannot be
// parsed, up to maxProtocolErrors of them.
func (c *acpConn) protocolError(text string) {
	c.protoErrs++
	switch {
	case c.protoErrs < maxProtocolErrors:
		c.tr.Add(Entry{Type: TypeError, Text: text})
	case c.protoErrs == maxProtocolErrors:
		c.tr.Add(Entry{Type: TypeError, Text: text + " (further protocol errors are not recorded)"})
	}
}

func excerpt(b []byte) string {
	s := string(b)
	if len(s) > excerptBytes {
		s = cutUTF8(s, excerptBytes) + "…"
	}
	return strings.ToValidUTF8(s, "\uFFFD")
}

// handle dispatches one line from the agent.
func (c *acpConn) handle(line []byte) {
	line = bytes.TrimSpace(line)
	if len(line) == 0 {
		return
	}
	var m rpcMessage
	if err := json.Unmarshal(line, &m); err != nil {
		c.protocolError("unparsable message from agent: " + err.Error() + ": " + excerpt(line))
		return
	}
	hasID := len(m.ID) > 0
	switch {
	case m.Method != "" && hasID:
		c.handleRequest(&m)
	case m.Method != "":
		c.handleNotification(&m)
	case hasID:
		c.handleResponse(&m)
	default:
		c.protocolError("message from agent has neither method nor id: " + excerpt(line))
	}
}

func (c *acpConn) handleResponse(m *rpcMessage) {
	raw := strings.TrimSpace(string(m.ID))
	if s, err := strconv.Unquote(raw); err == nil {
		raw = s
	}
	id, err := strconv.ParseUint(raw, 10, 64)
	if err != nil {
		return // not one of ours: ignored
	}
	c.pmu.Lock()
	ch := c.pending[id]
	delete(c.pending, id)
	c.pmu.Unlock()
	if ch != nil {
		ch <- m // buffered; each id is answered at most once
	}
}

func (c *acpConn) handleNotification(m *rpcMessage) {
	if m.Method != acp.ClientMethodSessionUpdate {
		return // other notifications are ignored
	}
	var n struct {
		SessionID string          `json:"sessionId"`
		Update    json.RawMessage `json:"update"`
	}
	var u struct {
		SessionUpdate string          `json:"sessionUpdate"`
		Content       json.RawMessage `json:"content"`
		ToolCallID    string          `json:"toolCallId"`
		Title         string          `json:"title"`
		Kind          string          `json:"kind"`
		Status        string          `json:"status"`
	}
	if err := json.Unmarshal(m.Params, &n); err != nil || len(n.Update) == 0 {
		c.protocolError("unparsable session/update from agent: " + excerpt(m.Params))
		return
	}
	if err := json.Unmarshal(n.Update, &u); err != nil || u.SessionUpdate == "" {
		c.protocolError("unparsable session/update from agent: " + excerpt(n.Update))
		return
	}
	if !c.recording.Load() {
		return
	}
	switch u.SessionUpdate {
	case "agent_message_chunk", "agent_thought_chunk":
		var block struct {
			Type string `json:"type"`
			Text string `json:"text"`
		}
		if err := json.Unmarshal(u.Content, &block); err != nil {
			c.protocolError("unparsable session/update from agent: " + excerpt(n.Update))
			return
		}
		if block.Type != "text" || block.Text == "" {
			return
		}
		typ := TypeAgentMessage
		if u.SessionUpdate == "agent_thought_chunk" {
			typ = TypeAgentThought
		}
		c.tr.Add(Entry{Type: typ, Text: block.Text})
	case "tool_call", "tool_call_update":
		c.tr.Add(Entry{
			Type: u.SessionUpdate, ToolCallID: u.ToolCallID, Title: u.Title, Kind: u.Kind, Status: u.Status,
			Data: compactJSON(n.Update),
		})
	case "plan":
		c.tr.Add(Entry{Type: TypePlan, Data: compactJSON(n.Update)})
	}
}

func compactJSON(raw json.RawMessage) json.RawMessage {
	var b bytes.Buffer
	if err := json.Compact(&b, raw); err != nil {
		return append(json.RawMessage(nil), raw...)
	}
	return b.Bytes()
}

func (c *acpConn) handleRequest(m *rpcMessage) {
	switch m.Method {
	case acp.ClientMethodSessionRequestPermission:
		c.permission(m)
	case acp.ClientMethodFsReadTextFile:
		c.readTextFile(m)
	case acp.ClientMethodFsWriteTextFile:
		c.writeTextFile(m)
	default:
		c.send(rpcResponse{JSONRPC: "2.0", ID: m.ID, Error: &rpcError{
			Code: codeMethodNotFound, Message: "Method not found",
			Data: mustJSON(map[string]string{"method": m.Method}),
		}})
	}
}

func mustJSON(v any) json.RawMessage {
	b, _ := json.Marshal(v)
	return b
}

// invalidParams answers a request whose params cannot be parsed and records it.
func (c *acpConn) invalidParams(m *rpcMessage, err error) {
	c.protocolError(fmt.Sprintf("unparsable %s request from agent: %v: %s", m.Method, err, excerpt(m.Params)))
	c.replyError(m.ID, codeInvalidParams, "Invalid params: "+err.Error())
}

// permission answers session/request_permission by the agent's policy
// (SPEC §10.3): allow → first allow_once, else allow_always; deny → first
// reject_once, else reject_always; otherwise (or after session/cancel) the
// outcome is cancelled.
func (c *acpConn) permission(m *rpcMessage) {
	var p struct {
		ToolCall struct {
			ToolCallID string `json:"toolCallId"`
			Title      string `json:"title"`
		} `json:"toolCall"`
		Options []struct {
			OptionID string `json:"optionId"`
			Kind     string `json:"kind"`
		} `json:"options"`
	}
	if err := json.Unmarshal(m.Params, &p); err != nil {
		c.invalidParams(m, err)
		return
	}
	var prefs []acp.PermissionOptionKind
	switch c.req.Agent.Permissions {
	case "allow":
		prefs = []acp.PermissionOptionKind{acp.PermissionOptionKindAllowOnce, acp.PermissionOptionKindAllowAlways}
	case "deny":
		prefs = []acp.PermissionOptionKind{acp.PermissionOptionKindRejectOnce, acp.PermissionOptionKindRejectAlways}
	}
	if c.cancelSent.Load() {
		prefs = nil
	}
	decision, optionID := "cancelled", ""
pick:
	for _, kind := range prefs {
		for _, o := range p.Options {
			if o.Kind == string(kind) {
				decision, optionID = o.Kind, o.OptionID
				break pick
			}
		}
	}
	type outcome struct {
		Outcome  string `json:"outcome"`
		OptionID string `json:"optionId,omitempty"`
	}
	res := struct {
		Outcome outcome `json:"outcome"`
	}{outcome{Outcome: "cancelled"}}
	if decision != "cancelled" {
		res.Outcome = outcome{Outcome: "selected", OptionID: optionID}
	}
	c.reply(m.ID, res)
	c.tr.Add(Entry{Type: TypePermission, ToolCallID: p.ToolCall.ToolCallID, Title: p.ToolCall.Title, Decision: decision})
}

func (c *acpConn) recordFS(op, path string, allowed bool) {
	c.tr.Add(Entry{Type: TypeFS, Op: op, Path: path, Allowed: &allowed})
}

func (c *acpConn) readTextFile(m *rpcMessage) {
	var p struct {
		Path  string `json:"path"`
		Line  *int   `json:"line"`
		Limit *int   `json:"limit"`
	}
	if err := json.Unmarshal(m.Params, &p); err != nil {
		c.invalidParams(m, err)
		return
	}
	resolved, ok := confine(c.root, p.Path)
	c.recordFS("read", p.Path, ok)
	if !ok {
		c.replyError(m.ID, codeOutside, "path outside workspace")
		return
	}
	content, code, err := readText(resolved, p.Path, p.Line, p.Limit)
	if err != nil {
		c.replyError(m.ID, code, err.Error())
		return
	}
	c.reply(m.ID, struct {
		Content string `json:"content"`
	}{content})
}

func (c *acpConn) writeTextFile(m *rpcMessage) {
	var p struct {
		Path    string `json:"path"`
		Content string `json:"content"`
	}
	if err := json.Unmarshal(m.Params, &p); err != nil {
		c.invalidParams(m, err)
		return
	}
	resolved, ok := confine(c.root, p.Path)
	c.recordFS("write", p.Path, ok)
	if !ok {
		c.replyError(m.ID, codeOutside, "path outside workspace")
		return
	}
	if err := writeText(resolved, p.Content); err != nil {
		c.replyError(m.ID, codeInternalError, err.Error())
		return
	}
	c.reply(m.ID, nil)
}
