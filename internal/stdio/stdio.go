// Package stdio is the shim's side of a process's stdin, stdout and stderr
// as containerd hands them over: FIFO paths, file:// and binary:// log URIs.
// Hosts copy between these and the process's own streams (runc's pipes or
// console, or a VM's streams) through Pipes.
package stdio

import (
	"context"
	"errors"
	"io"
	"os"
	"sync"
	"sync/atomic"
	"time"
)

// Config is the stdio that containerd asked for: paths or URIs, empty when
// a stream is not connected.
type Config struct {
	Stdin, Stdout, Stderr string
	Terminal              bool
	// Pipes, when set, are already open (a guest agent's streams from the
	// host); Open returns them instead of opening paths.
	Pipes *Pipes
}

// FromStreams makes Pipes of streams that are already open; nil ones are
// not connected.
func FromStreams(stdin io.ReadCloser, stdout, stderr io.WriteCloser) *Pipes {
	p := newPipes()
	p.stdin = stdin
	if stdout != nil {
		p.stdout = &output{w: stdout}
	}
	if stderr != nil {
		p.stderr = &output{w: stderr}
	}
	return p
}

// Pipes is the containerd-side ends of one process's stdio and the copies
// between them and the process.
type Pipes struct {
	stdin          io.ReadCloser  // nil without stdin
	stdout, stderr io.WriteCloser // nil when not connected
	// closers are released last: FIFO read-side keepers, files, loggers.
	closers []io.Closer

	attachOnce sync.Once
	outputs    sync.WaitGroup
	drained    chan struct{}
	// moved counts the output bytes handed to containerd's side, so that
	// Drain can tell a slow copy from a stuck one.
	moved atomic.Uint64
	// copies are the output copies running, for SettleExit.
	copiesMu sync.Mutex
	copies   []*outputCopy

	stdinMu     sync.Mutex
	procStdin   io.WriteCloser
	stdinClosed bool
	// stdinCopied is closed when the copy into the process's stdin ends
	// (nil until it starts).
	stdinCopied chan struct{}

	closeOnce sync.Once
	closeErr  error
}

func newPipes() *Pipes {
	return &Pipes{drained: make(chan struct{})}
}

// HasStdin tells whether containerd connected a stdin.
func (p *Pipes) HasStdin() bool { return p.stdin != nil }

// Attach starts copying: containerd's stdin into procStdin (closed at EOF
// there, or by CloseStdin), procStdout and procStderr out to containerd.
// Any stream may be nil. For a terminal, pass the console as procStdout and
// TTYInput(console) as procStdin, so that the end of stdin does not close
// the console the output still comes from. Calls after the first do nothing.
func (p *Pipes) Attach(procStdin io.WriteCloser, procStdout, procStderr io.Reader) {
	p.attachOnce.Do(func() {
		if procStdin != nil && p.stdin != nil {
			p.stdinMu.Lock()
			p.procStdin = procStdin
			closed := p.stdinClosed
			copied := make(chan struct{})
			if !closed {
				p.stdinCopied = copied
			}
			p.stdinMu.Unlock()
			if closed {
				procStdin.Close()
			} else {
				go func() {
					_, _ = io.Copy(procStdin, p.stdin)
					p.closeProcStdin()
					close(copied)
				}()
			}
		} else if procStdin != nil {
			// No stdin from containerd: the process reads EOF at once.
			procStdin.Close()
		}
		p.copyOut(procStdout, p.stdout)
		p.copyOut(procStderr, p.stderr)
		// A stream containerd gave but the process has not (stderr of a
		// terminal) must still end, or containerd's reader waits forever.
		if procStdout == nil && p.stdout != nil {
			p.stdout.Close()
		}
		if procStderr == nil && p.stderr != nil {
			p.stderr.Close()
		}
		go func() {
			p.outputs.Wait()
			close(p.drained)
		}()
	})
}

// copyOut copies one output stream until EOF, then closes containerd's
// side so that its reader sees EOF too: containerd's client waits for that
// before it reports the exit. With no destination the stream is still
// drained so that the process never blocks on it.
func (p *Pipes) copyOut(src io.Reader, dst io.WriteCloser) {
	if src == nil {
		return
	}
	c := &outputCopy{src: src, settled: make(chan struct{})}
	if d, ok := src.(readDeadliner); ok {
		if pending := unreadBytes(src); pending != nil {
			c.wake, c.pending = d, pending
		}
	}
	if o, ok := dst.(*output); ok {
		c.unread = o.unread
	}
	p.copiesMu.Lock()
	p.copies = append(p.copies, c)
	p.copiesMu.Unlock()
	p.outputs.Add(1)
	go func() {
		defer p.outputs.Done()
		buf := make([]byte, 32<<10)
		if dst == nil {
			c.copy(io.Discard, buf)
			return
		}
		c.copy(counting{dst, &p.moved}, buf)
		p.awaitRead(dst)
		dst.Close()
	}()
}

// readDeadliner is a process's stream whose blocked read can be woken: a
// pipe or terminal the runtime's poller serves.
type readDeadliner interface {
	SetReadDeadline(time.Time) error
}

// outputCopy is one output stream's copy, counted so that SettleExit can
// tell when what the process had written by its exit reached containerd.
//
// Only the copy itself can tell which bytes it took from the pipe: a read
// may have emptied the pipe and not yet returned. So SettleExit asks the
// copy (requested, then a read deadline that wakes it), and the copy
// answers from its own goroutine once it took everything the pipe held
// then and handed it over: target, then settled closed.
type outputCopy struct {
	src     io.Reader
	wake    readDeadliner       // nil: SettleExit cannot ask this copy
	pending func() (int, error) // bytes waiting in the process's pipe
	unread  func() (int, error) // bytes containerd has not read yet; nil if unknown
	// written counts the bytes handed to containerd's side.
	written atomic.Uint64

	requested atomic.Bool
	askOnce   sync.Once
	answered  bool          // by the copy's goroutine only
	target    uint64        // written when the copy answered
	settled   chan struct{} // closed once target is set
}

// ask requests the copy's answer (see outputCopy); it is safe to call
// more than once.
func (c *outputCopy) ask() {
	c.askOnce.Do(func() {
		c.requested.Store(true)
		// Wakes a read that waits; a read that comes later fails at once.
		_ = c.wake.SetReadDeadline(time.Now())
	})
}

// read reads the process's stream, answering a settle request when the
// deadline it set wakes the read.
func (c *outputCopy) read(dst io.Writer, buf []byte) (int, error) {
	for {
		n, err := c.src.Read(buf)
		if err == nil || !errors.Is(err, os.ErrDeadlineExceeded) || c.wake == nil {
			return n, err
		}
		if n > 0 {
			return n, nil
		}
		if err := c.wake.SetReadDeadline(time.Time{}); err != nil {
			return 0, err
		}
		if c.requested.Load() && !c.answered {
			if err := c.answer(dst, buf); err != nil {
				return 0, err
			}
		}
	}
}

// answer takes what the pipe holds now, which includes all the process
// wrote before its exit that was not read yet, hands it over and records
// the count. Reads stop at what the pipe held, so a child that keeps
// writing cannot hold the answer back; none of them blocks, since only
// this copy reads the pipe.
func (c *outputCopy) answer(dst io.Writer, buf []byte) error {
	n, err := c.pending()
	if err != nil {
		n = 0 // the caller's drain then waits for EOF or a stall instead
	}
	for n > 0 {
		m, rerr := c.src.Read(buf[:min(n, len(buf))])
		if m > 0 {
			n -= m
			if werr := c.hand(dst, buf[:m]); werr != nil {
				return werr
			}
		}
		if rerr != nil {
			return rerr
		}
	}
	c.answered = true
	if err == nil {
		c.target = c.written.Load()
		close(c.settled)
	}
	return nil
}

// hand writes to containerd's side and counts what it took.
func (c *outputCopy) hand(dst io.Writer, b []byte) error {
	w, err := dst.Write(b)
	c.written.Add(uint64(w))
	return err
}

func (c *outputCopy) copy(dst io.Writer, buf []byte) {
	for {
		n, err := c.read(dst, buf)
		if n > 0 {
			if werr := c.hand(dst, buf[:n]); werr != nil {
				// containerd's side is gone: keep the process from
				// blocking on a full pipe.
				c.discard(buf)
				return
			}
		}
		if err != nil {
			return
		}
	}
}

// discard drains the process's stream to EOF.
func (c *outputCopy) discard(buf []byte) {
	for {
		if _, err := c.read(io.Discard, buf); err != nil {
			return
		}
	}
}

// delivered reports whether every byte up to target was handed over and,
// where that can be told, read by containerd: bytes written later than
// target may still wait, since a FIFO is read in order.
func (c *outputCopy) delivered(target uint64) bool {
	written := c.written.Load()
	if written < target {
		return false
	}
	if c.unread == nil {
		return true
	}
	n, err := c.unread()
	return err != nil || uint64(n) <= written-target
}

// StallTimeout is how long output may stand still before the shim stops
// waiting for it: a pipe held open by a process that writes nothing more,
// a reader that reads nothing. Output that moves is waited for to its end.
const StallTimeout = 10 * time.Second

// awaitRead waits until containerd's side has read all that was written
// to it, where that can be told (a FIFO's unread bytes). A client stops
// reading as soon as it learns of the exit and drops what is still in the
// FIFO then; under load that was up to a pipe's worth of a container's
// last output. A reader that reads nothing for StallTimeout is not waited for.
func (p *Pipes) awaitRead(dst io.Writer) {
	o, ok := dst.(*output)
	if !ok || o.unread == nil {
		return
	}
	last, since := -1, time.Now()
	for {
		n, err := o.unread()
		if err != nil || n == 0 {
			return
		}
		switch {
		case n != last:
			if last >= 0 {
				p.moved.Add(1) // the reader's progress is progress too
			}
			last, since = n, time.Now()
		case time.Since(since) > StallTimeout:
			return
		}
		time.Sleep(2 * time.Millisecond)
	}
}

// closeProcStdin closes the process's stdin exactly once.
func (p *Pipes) closeProcStdin() {
	p.stdinMu.Lock()
	defer p.stdinMu.Unlock()
	if p.stdinClosed {
		return
	}
	p.stdinClosed = true
	if p.procStdin != nil {
		p.procStdin.Close()
	}
}

// stdinGrace bounds how long CloseStdin lets the copy finish by itself.
const stdinGrace = 2 * time.Second

// CloseStdin closes the process's stdin (containerd's CloseIO); the
// process reads EOF. A client closes its writer before it asks, so what it
// wrote may still be on its way through the FIFO: the copy gets a moment
// to reach EOF by itself, then it is cut.
func (p *Pipes) CloseStdin() error {
	p.stdinMu.Lock()
	copied := p.stdinCopied
	p.stdinMu.Unlock()
	if copied != nil {
		select {
		case <-copied:
		case <-time.After(stdinGrace):
		}
	}
	p.closeProcStdin()
	if p.stdin != nil {
		return p.stdin.Close()
	}
	return nil
}

// ErrStalled is what Drain returns when output stopped moving before EOF.
var ErrStalled = errors.New("output stalled before its end")

// Drain blocks until the process's outputs reached EOF and every byte was
// written to containerd's side, or ctx ends, or no output byte moved for
// idle: a copy that is slow (a busy machine, a slow reader) is waited for
// to the last byte, while a pipe held open by a process that writes
// nothing more is not waited for forever. A process never attached has
// nothing to drain.
func (p *Pipes) Drain(ctx context.Context, idle time.Duration) error {
	if !p.attached() {
		return nil
	}
	t := time.NewTicker(idle)
	defer t.Stop()
	last := p.moved.Load()
	for {
		select {
		case <-p.drained:
			return nil
		case <-ctx.Done():
			return ctx.Err()
		case <-t.C:
			now := p.moved.Load()
			if now == last {
				return ErrStalled
			}
			last = now
		}
	}
}

// Settle is what an exit waits for before it is reported: the output
// drained to containerd's side (Drain with StallTimeout). Output that
// stalled, or a ctx that ended, closes containerd's side here, since its
// client waits for EOF on its FIFOs before it deletes the task. The error
// says why it was closed.
func (p *Pipes) Settle(ctx context.Context) error {
	err := p.Drain(ctx, StallTimeout)
	if err != nil {
		_ = p.Close()
	}
	return err
}

// SettleExit is Settle for a process that exited while something else
// may still hold its output open: an exec's background child that
// survives it ("sh -c 'sleep 1d &'"). Every byte the process had written
// by its exit is delivered to containerd's side and read there, as with
// Settle, then containerd's side is closed: the exit is not held until
// the end of a pipe a surviving child keeps open, and what that child
// writes later is dropped. Where the process's pipes cannot tell how much
// they hold (a VM's streams), it is Settle.
func (p *Pipes) SettleExit(ctx context.Context) error {
	if !p.attached() {
		return nil
	}
	p.copiesMu.Lock()
	copies := append([]*outputCopy(nil), p.copies...)
	p.copiesMu.Unlock()
	for _, c := range copies {
		if c.wake == nil {
			return p.Settle(ctx)
		}
	}
	for _, c := range copies {
		c.ask()
	}
	settled := func() bool {
		for _, c := range copies {
			select {
			case <-c.settled:
			default:
				return false
			}
			if !c.delivered(c.target) {
				return false
			}
		}
		return true
	}
	t := time.NewTicker(2 * time.Millisecond)
	defer t.Stop()
	// Progress is bytes handed over or read by containerd's reader.
	progress := func() uint64 {
		v := p.moved.Load()
		for _, c := range copies {
			if c.unread != nil {
				if n, err := c.unread(); err == nil {
					v += uint64(n) << 32
				}
			}
		}
		return v
	}
	last, since := progress(), time.Now()
	for {
		if settled() {
			// containerd's client waits for EOF on its FIFOs before it
			// takes the exit as complete (CRI's ExecSync drains them):
			// end them here. The copy then discards what the child
			// writes, so that it never blocks on a full pipe.
			p.closeOutputs()
			return nil
		}
		select {
		case <-p.drained:
			return nil
		case <-ctx.Done():
			_ = p.Close()
			return ctx.Err()
		case <-t.C:
		}
		if now := progress(); now != last {
			last, since = now, time.Now()
		} else if time.Since(since) > StallTimeout {
			_ = p.Close()
			return ErrStalled
		}
	}
}

// closeOutputs closes containerd's side of stdout and stderr.
func (p *Pipes) closeOutputs() {
	for _, o := range []io.WriteCloser{p.stdout, p.stderr} {
		if o != nil {
			_ = o.Close()
		}
	}
}

// attached tells whether Attach ran; if it never did, it never will, and
// there is nothing to drain.
func (p *Pipes) attached() bool {
	attached := true
	p.attachOnce.Do(func() {
		attached = false
		close(p.drained)
	})
	return attached
}

// counting is a writer that counts what it wrote.
type counting struct {
	w io.Writer
	n *atomic.Uint64
}

func (c counting) Write(b []byte) (int, error) {
	n, err := c.w.Write(b)
	c.n.Add(uint64(n))
	return n, err
}

// Close releases containerd's side: FIFOs, files and the logger, which is
// given time to write what it has before it is killed.
func (p *Pipes) Close() error {
	p.closeOnce.Do(func() {
		var errs []error
		p.closeProcStdin()
		for _, c := range []io.Closer{p.stdin, p.stdout, p.stderr} {
			if c != nil {
				if err := c.Close(); err != nil {
					errs = append(errs, err)
				}
			}
		}
		for _, c := range p.closers {
			if err := c.Close(); err != nil {
				errs = append(errs, err)
			}
		}
		p.closeErr = errors.Join(errs...)
	})
	return p.closeErr
}

// output is containerd's side of one output stream: the writer and what
// must close with it (the read side kept open on a FIFO). Close is
// idempotent, because both the end of the copy and Pipes.Close close it.
type output struct {
	w     io.WriteCloser
	extra []io.Closer
	// unread, when set, tells how many written bytes the reader has not
	// read yet (a FIFO's).
	unread func() (int, error)
	once   sync.Once
	err    error
}

func (o *output) Write(b []byte) (int, error) { return o.w.Write(b) }

func (o *output) Close() error {
	o.once.Do(func() {
		errs := []error{o.w.Close()}
		for _, c := range o.extra {
			errs = append(errs, c.Close())
		}
		o.err = errors.Join(errs...)
	})
	return o.err
}

// shared lets two outputs write to one file, closing it after both.
type shared struct {
	mu    sync.Mutex
	w     io.WriteCloser
	users int
}

func (s *shared) Write(b []byte) (int, error) { return s.w.Write(b) }

func (s *shared) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.users--
	if s.users == 0 {
		return s.w.Close()
	}
	return nil
}

// TTYInput wraps a console as a process's stdin whose Close does not close
// the console: with a terminal, stdin and output share one file.
func TTYInput(w io.Writer) io.WriteCloser { return ttyInput{w} }

type ttyInput struct{ io.Writer }

func (ttyInput) Close() error { return nil }
