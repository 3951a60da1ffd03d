//go:build windows

package hcs

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"os"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
	"unsafe"

	"github.com/containerd/log"
	"golang.org/x/sys/windows"

	"github.com/winctr/winctr/internal/hcs/schema"
)

// infinite is INFINITE for HcsWaitFor*.
const infinite = math.MaxUint32

// utf16 converts a document or id for computecore's PCWSTR parameters.
func utf16(s string) (*uint16, error) {
	p, err := windows.UTF16PtrFromString(s)
	if err != nil {
		return nil, fmt.Errorf("%q holds a NUL: %w", s, err)
	}
	return p, nil
}

// jsonUTF16 encodes a document as computecore takes it.
func jsonUTF16(doc any) (*uint16, error) {
	b, err := json.Marshal(doc)
	if err != nil {
		return nil, err
	}
	return utf16(string(b))
}

// takeString converts and frees a string that computecore allocated.
func takeString(p *uint16) string {
	if p == nil {
		return ""
	}
	s := windows.UTF16PtrToString(p)
	windows.CoTaskMemFree(unsafe.Pointer(p))
	return s
}

func hresult(err error) uint32 {
	var errno syscall.Errno
	if errors.As(err, &errno) {
		return uint32(errno)
	}
	return 0
}

// operation runs one asynchronous HCS call to completion: call starts it
// on a fresh operation, then the result is awaited. When ctx ends first
// the operation is cancelled and still awaited, because computecore may
// use the handles passed in until the wait returns.
func operation(ctx context.Context, op, id string, info *hcsProcessInformation, call func(hcsOperation) error) (string, error) {
	o, err := hcsCreateOperation(0, 0)
	if err != nil {
		return "", fmt.Errorf("hcs CreateOperation: %w", err)
	}
	defer hcsCloseOperation(o)
	if err := call(o); err != nil {
		return "", newError(op, id, hresult(err), "")
	}
	type result struct {
		doc string
		err error
	}
	done := make(chan result, 1)
	go func() {
		var doc *uint16
		var err error
		if info != nil {
			err = hcsWaitForOperationResultAndProcessInfo(o, infinite, info, &doc)
		} else {
			err = hcsWaitForOperationResult(o, infinite, &doc)
		}
		done <- result{takeString(doc), err}
	}()
	var r result
	select {
	case r = <-done:
	case <-ctx.Done():
		if err := hcsCancelOperation(o); err != nil {
			log.G(ctx).WithError(err).Warnf("hcs %s %s: cancel failed; waiting for it to finish", op, id)
		}
		r = <-done
		if r.err != nil {
			return r.doc, fmt.Errorf("%w: %w", ctx.Err(), newError(op, id, hresult(r.err), r.doc))
		}
	}
	if r.err != nil {
		return r.doc, newError(op, id, hresult(r.err), r.doc)
	}
	return r.doc, nil
}

// callbacks dispatches HCS's event callbacks, which all go through one
// function (the runtime allows a bounded number of them), to the system
// or process registered under the callback's context.
var callbacks struct {
	once sync.Once
	fn   uintptr
	next atomic.Uintptr
	m    sync.Map // uintptr -> func(uint32, string)
}

func callbackFn() uintptr {
	callbacks.once.Do(func() {
		callbacks.fn = windows.NewCallback(func(ev *hcsEvent, context uintptr) uintptr {
			if f, ok := callbacks.m.Load(context); ok && ev != nil {
				var data string
				if ev.EventData != nil {
					data = windows.UTF16PtrToString(ev.EventData)
				}
				f.(func(uint32, string))(ev.Type, data)
			}
			return 0
		})
	})
	return callbacks.fn
}

func register(f func(uint32, string)) uintptr {
	k := callbacks.next.Add(1)
	callbacks.m.Store(k, f)
	return k
}

// System is an open compute system: a container or a utility VM.
type System struct {
	id       string
	h        hcsSystem
	cb       uintptr
	exited   chan struct{}
	exitOnce sync.Once
	exitErr  error
	closed   sync.Once
}

// Create creates the compute system id from doc (a schema.ComputeSystem)
// without starting it.
func Create(ctx context.Context, id string, doc any) (*System, error) {
	pid, err := utf16(id)
	if err != nil {
		return nil, err
	}
	pdoc, err := jsonUTF16(doc)
	if err != nil {
		return nil, err
	}
	s := &System{id: id, exited: make(chan struct{})}
	_, err = operation(ctx, "CreateComputeSystem", id, nil, func(o hcsOperation) error {
		return hcsCreateComputeSystem(pid, pdoc, o, nil, &s.h)
	})
	if err != nil {
		if s.h != 0 {
			s.terminateAndClose(ctx)
		}
		return nil, err
	}
	if err := s.watch(); err != nil {
		s.terminateAndClose(ctx)
		return nil, err
	}
	return s, nil
}

// Open opens an existing compute system, e.g. one a dead shim left.
func Open(ctx context.Context, id string) (*System, error) {
	pid, err := utf16(id)
	if err != nil {
		return nil, err
	}
	s := &System{id: id, exited: make(chan struct{})}
	if err := hcsOpenComputeSystem(pid, windows.GENERIC_ALL, &s.h); err != nil {
		return nil, newError("OpenComputeSystem", id, hresult(err), "")
	}
	if err := s.watch(); err != nil {
		s.Close()
		return nil, err
	}
	return s, nil
}

func (s *System) terminateAndClose(ctx context.Context) {
	_ = s.Terminate(ctx)
	s.Close()
}

// watch registers for the system's exit.
func (s *System) watch() error {
	s.cb = register(func(typ uint32, data string) {
		switch typ {
		case eventSystemExited:
			var st schema.SystemExitStatus
			_ = json.Unmarshal([]byte(data), &st)
			var err error
			if st.Status != 0 {
				err = newError("SystemExited", s.id, uint32(st.Status), data)
			}
			s.markExited(err)
		case eventServiceGone:
			s.markExited(fmt.Errorf("hcs %s: the compute service disconnected", s.id))
		}
	})
	if err := hcsSetComputeSystemCallback(s.h, 0, s.cb, callbackFn()); err != nil {
		callbacks.m.Delete(s.cb)
		return newError("SetComputeSystemCallback", s.id, hresult(err), "")
	}
	return nil
}

func (s *System) markExited(err error) {
	s.exitOnce.Do(func() {
		s.exitErr = err
		close(s.exited)
	})
}

// ID is the compute system's id.
func (s *System) ID() string { return s.id }

// Exited is closed when the system has stopped, for whatever reason.
func (s *System) Exited() <-chan struct{} { return s.exited }

// ExitError is why the system stopped: nil for a clean stop. Valid once
// Exited is closed.
func (s *System) ExitError() error { return s.exitErr }

func (s *System) call(ctx context.Context, op string, options string, f func(hcsSystem, hcsOperation, *uint16) error) error {
	var popts *uint16
	if options != "" {
		var err error
		if popts, err = utf16(options); err != nil {
			return err
		}
	}
	_, err := operation(ctx, op, s.id, nil, func(o hcsOperation) error { return f(s.h, o, popts) })
	return err
}

// Start starts the system.
func (s *System) Start(ctx context.Context) error {
	return s.call(ctx, "StartComputeSystem", "", hcsStartComputeSystem)
}

// Shutdown asks the system's guest to shut down cleanly; the system has
// stopped when Exited is closed.
func (s *System) Shutdown(ctx context.Context) error {
	err := s.call(ctx, "ShutDownComputeSystem", "", hcsShutDownComputeSystem)
	if IsAlreadyStopped(err) {
		return nil
	}
	return err
}

// Terminate stops the system at once. A system that has stopped already
// is not an error.
func (s *System) Terminate(ctx context.Context) error {
	err := s.call(ctx, "TerminateComputeSystem", "", hcsTerminateComputeSystem)
	if IsAlreadyStopped(err) {
		return nil
	}
	return err
}

// Pause freezes the system.
func (s *System) Pause(ctx context.Context) error {
	return s.call(ctx, "PauseComputeSystem", "", hcsPauseComputeSystem)
}

// Resume thaws a paused system.
func (s *System) Resume(ctx context.Context) error {
	return s.call(ctx, "ResumeComputeSystem", "", hcsResumeComputeSystem)
}

// Properties queries the system's properties of the given types.
func (s *System) Properties(ctx context.Context, types ...schema.PropertyType) (*schema.Properties, error) {
	pq, err := jsonUTF16(schema.PropertyQuery{PropertyTypes: types})
	if err != nil {
		return nil, err
	}
	doc, err := operation(ctx, "GetComputeSystemProperties", s.id, nil, func(o hcsOperation) error {
		return hcsGetComputeSystemProperties(s.h, o, pq)
	})
	if err != nil {
		return nil, err
	}
	var p schema.Properties
	if err := json.Unmarshal([]byte(doc), &p); err != nil {
		return nil, fmt.Errorf("hcs %s: properties document: %w", s.id, err)
	}
	return &p, nil
}

// Modify applies a schema.ModifySettingRequest to the running system.
func (s *System) Modify(ctx context.Context, req any) error {
	p, err := jsonUTF16(req)
	if err != nil {
		return err
	}
	_, err = operation(ctx, "ModifyComputeSystem", s.id, nil, func(o hcsOperation) error {
		return hcsModifyComputeSystem(s.h, o, p, 0)
	})
	return err
}

// Close releases the handle. A system created with
// ShouldTerminateOnLastHandleClosed stops when its last handle closes.
func (s *System) Close() error {
	s.closed.Do(func() {
		if s.h != 0 {
			hcsCloseComputeSystem(s.h)
		}
		if s.cb != 0 {
			callbacks.m.Delete(s.cb)
		}
	})
	return nil
}

// Process is a process in a compute system, with the host's ends of the
// std pipes HCS made for it (nil for those not asked for).
type Process struct {
	system string
	h      hcsProcess
	pid    int
	cb     uintptr

	Stdin          *os.File
	Stdout, Stderr *os.File

	exited   chan struct{}
	exitOnce sync.Once
	exitCode int
	closed   sync.Once
}

// CreateProcess starts a process in the system from params (a
// schema.ProcessParameters).
func (s *System) CreateProcess(ctx context.Context, params any) (*Process, error) {
	pp, err := jsonUTF16(params)
	if err != nil {
		return nil, err
	}
	p := &Process{system: s.id, exited: make(chan struct{}), exitCode: -1}
	var info hcsProcessInformation
	_, err = operation(ctx, "CreateProcess", s.id, &info, func(o hcsOperation) error {
		return hcsCreateProcess(s.h, pp, o, nil, &p.h)
	})
	if err != nil {
		if p.h != 0 {
			hcsCloseProcess(p.h)
		}
		return nil, err
	}
	p.pid = int(info.ProcessID)
	wrap := func(h uintptr, name string) *os.File {
		if h == 0 || windows.Handle(h) == windows.InvalidHandle {
			return nil
		}
		return os.NewFile(h, fmt.Sprintf("%s-%d-%s", s.id, p.pid, name))
	}
	p.Stdin, p.Stdout, p.Stderr = wrap(info.StdInput, "stdin"), wrap(info.StdOutput, "stdout"), wrap(info.StdError, "stderr")
	p.cb = register(func(typ uint32, data string) {
		if typ != eventProcessExited && typ != eventServiceGone {
			return
		}
		code := -1
		if typ == eventProcessExited {
			code = processExitCode(data)
		}
		p.markExited(code)
	})
	if err := hcsSetProcessCallback(p.h, 0, p.cb, callbackFn()); err != nil {
		p.Close()
		return nil, newError("SetProcessCallback", s.id, hresult(err), "")
	}
	// The process may have exited before the callback was in place; its
	// status says so, and no event would come.
	if doc, err := p.status(ctx); err == nil {
		var st schema.ProcessStatus
		if json.Unmarshal([]byte(doc), &st) == nil && st.Exited {
			p.markExited(processExitCode(doc))
		}
	}
	return p, nil
}

// status is the process's status document (a schema.ProcessStatus).
func (p *Process) status(ctx context.Context) (string, error) {
	return operation(ctx, "GetProcessProperties", p.system, nil, func(o hcsOperation) error {
		return hcsGetProcessProperties(p.h, o, nil)
	})
}

func (p *Process) markExited(code int) {
	p.exitOnce.Do(func() {
		p.exitCode = code
		close(p.exited)
	})
}

// Pid is the process id in its compute system.
func (p *Process) Pid() int { return p.pid }

// Exited is closed when the process has exited.
func (p *Process) Exited() <-chan struct{} { return p.exited }

// ExitCode is the process's exit code, -1 when HCS could not tell; valid
// once Exited is closed.
func (p *Process) ExitCode() int { return p.exitCode }

// Signal sends a console control event (schema.SignalProcessOptions) or,
// in a Linux guest, a signal.
func (p *Process) Signal(ctx context.Context, opts any) error {
	po, err := jsonUTF16(opts)
	if err != nil {
		return err
	}
	_, err = operation(ctx, "SignalProcess", p.system, nil, func(o hcsOperation) error {
		return hcsSignalProcess(p.h, o, po)
	})
	return err
}

// Terminate ends the process at once; one that has exited is not an error.
func (p *Process) Terminate(ctx context.Context) error {
	_, err := operation(ctx, "TerminateProcess", p.system, nil, func(o hcsOperation) error {
		return hcsTerminateProcess(p.h, o, nil)
	})
	if IsAlreadyStopped(err) {
		return nil
	}
	return err
}

// Modify resizes the console or closes a std handle
// (schema.ProcessModifyRequest).
func (p *Process) Modify(ctx context.Context, req any) error {
	pr, err := jsonUTF16(req)
	if err != nil {
		return err
	}
	_, err = operation(ctx, "ModifyProcess", p.system, nil, func(o hcsOperation) error {
		return hcsModifyProcess(p.h, o, pr)
	})
	return err
}

// Close releases the process handle and the host's pipe ends.
func (p *Process) Close() error {
	p.closed.Do(func() {
		for _, f := range []*os.File{p.Stdin, p.Stdout, p.Stderr} {
			if f != nil {
				f.Close()
			}
		}
		hcsCloseProcess(p.h)
		if p.cb != 0 {
			callbacks.m.Delete(p.cb)
		}
	})
	return nil
}

// List returns the compute systems that HCS knows and that query selects
// (a JSON SystemQuery, "" for all), e.g. those owned by winctr.
func List(ctx context.Context, query string) ([]schema.Properties, error) {
	var pq *uint16
	if query != "" {
		var err error
		if pq, err = utf16(query); err != nil {
			return nil, err
		}
	}
	doc, err := operation(ctx, "EnumerateComputeSystems", "", nil, func(o hcsOperation) error {
		return hcsEnumerateComputeSystems(pq, o)
	})
	if err != nil {
		return nil, err
	}
	var out []schema.Properties
	if doc == "" {
		return nil, nil
	}
	if err := json.Unmarshal([]byte(doc), &out); err != nil {
		return nil, fmt.Errorf("hcs: compute systems document: %w", err)
	}
	return out, nil
}

// TerminateByID terminates the compute system id if HCS still has it: what
// a dead shim may have left.
func TerminateByID(ctx context.Context, id string) error {
	s, err := Open(ctx, id)
	if err != nil {
		if IsAlreadyStopped(err) {
			return nil
		}
		return err
	}
	defer s.Close()
	tctx, cancel := context.WithTimeout(ctx, terminateTimeout)
	defer cancel()
	return s.Terminate(tctx)
}

// terminateTimeout bounds how long Terminate of a left-over system waits.
const terminateTimeout = 30 * time.Second

// GrantVMAccess lets the utility VM vmID open path (a disk or boot file):
// Hyper-V runs each VM under an identity of its own.
func GrantVMAccess(vmID, path string) error {
	pid, err := utf16(vmID)
	if err != nil {
		return err
	}
	pp, err := utf16(path)
	if err != nil {
		return err
	}
	if err := hcsGrantVmAccess(pid, pp); err != nil {
		return newError("GrantVmAccess", vmID, hresult(err), path)
	}
	return nil
}
