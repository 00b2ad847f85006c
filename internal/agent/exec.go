package agent

import (
	"context"
	"io"
	"strings"

	"github.com/oklog/ulid/v2"
)

// execDriver runs a plain program (SPEC §10.4).
type execDriver struct{}

// NewSessionID returns a generated exec session id: "ses_" followed by a
// lowercase ULID.
func NewSessionID() string {
	return "ses_" + strings.ToLower(ulid.Make().String())
}

// Run implements Driver.
func (execDriver) Run(ctx context.Context, req Request) Outcome {
	tr := req.Transcript
	if tr == nil {
		tr = NewTranscript(req.Agent.MaxOutputBytes, nil)
	}
	tr.Add(Entry{Type: TypePrompt, Text: req.Prompt})
	if ctx.Err() != nil {
		return finish(tr, causeOutcome(ctx))
	}

	argv := make([]string, len(req.Agent.Command))
	substituted := false
	for i, arg := range req.Agent.Command {
		if strings.Contains(arg, "{prompt}") {
			substituted = true
			arg = strings.ReplaceAll(arg, "{prompt}", req.Prompt)
		}
		argv[i] = arg
	}
	sessionID := NewSessionID()
	env := append(append([]string{}, processEnv(req.Env)...), "AGH_SESSION_ID="+sessionID)

	p, err := start(argv, req.Dir, env, func(line string) {
		tr.Add(Entry{Type: TypeStderr, Text: line})
	})
	if err != nil {
		return finish(tr, spawnFailed(err))
	}
	if req.OnStart != nil {
		req.OnStart(p.pgid)
	}
	if req.OnSession != nil {
		req.OnSession(sessionID)
	}

	stdinDone := make(chan struct{})
	go func() {
		defer close(stdinDone)
		if !substituted {
			_, _ = io.WriteString(p.stdin, req.Prompt) // EPIPE when the program does not read: fine
		}
		p.stdin.Close()
	}()
	stdoutEOF := make(chan struct{})
	go func() {
		defer close(stdoutEOF)
		readLines(p.stdout, func(line string) { tr.Add(Entry{Type: TypeStdout, Text: line}) })
	}()

	var out Outcome
	select {
	case <-p.exited:
		p.terminate(req.termGrace()) // whatever is left in the group
		out = execExit(p)
	case <-ctx.Done():
		p.terminate(req.termGrace())
		out = causeOutcome(ctx)
	}
	p.drain(stdoutEOF)
	<-stdinDone
	if out.Status == StatusFailed && out.ErrorCode == CodeAgentError {
		out.Error = execExitError(p) // the tail is complete only now
	}
	out.SessionID = sessionID
	return finish(tr, out)
}

func execExit(p *proc) Outcome {
	if p.state != nil && p.state.Success() {
		return Outcome{Status: StatusCompleted, StopReason: "end_turn"}
	}
	return Outcome{Status: StatusFailed, ErrorCode: CodeAgentError, StopReason: "error"}
}

func execExitError(p *proc) string {
	desc := p.exitDescription()
	if strings.HasPrefix(desc, "signal: ") {
		return desc
	}
	return p.withTail(desc)
}
