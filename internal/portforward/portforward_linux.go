//go:build linux

// Package portforward makes the ports of a VM pod reachable where
// containerd's CRI looks for them. For `kubectl port-forward` CRI enters
// the pod's network namespace on the host and connects to
// localhost:<port> there; a VM pod's servers listen in the guest, behind
// the pod network's tap. A Forwarder listens on the namespace's loopback,
// an nftables rule there redirects every TCP connection to 127.0.0.0/8 to
// that listener, and each connection it takes is joined to the same port
// on the guest's loopback through the agent (the original port read back
// with SO_ORIGINAL_DST). Only loopback traffic is redirected: the pod's
// own address still reaches the guest through the tap.
package portforward

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"os"
	"sync"

	"github.com/containerd/log"
	"github.com/google/nftables"
	"github.com/google/nftables/binaryutil"
	"github.com/google/nftables/expr"
	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"

	"github.com/winctr/winctr/internal/innetns"
	"github.com/winctr/winctr/internal/splice"
)

// TableName is the nftables table (family ip) that a Forwarder adds to a
// pod's network namespace.
const TableName = "winctr_portforward"

// OpenPort connects to port on the guest's loopback, as
// uvm.Session.OpenPort does.
type OpenPort func(port uint16) (net.Conn, error)

// Forwarder carries a pod namespace's loopback connections to the guest.
type Forwarder struct {
	netns string
	open  OpenPort
	l     *net.TCPListener
	log   *log.Entry

	mu     sync.Mutex
	conns  map[net.Conn]struct{} // both ends of each connection in flight
	closed bool
	wg     sync.WaitGroup // the accept loop
}

// Start listens in the network namespace at nsPath, redirects its
// loopback TCP connections to the listener and serves them with open
// until Close. On error nothing of it is left in the namespace.
func Start(nsPath string, open OpenPort, logger *log.Entry) (_ *Forwarder, retErr error) {
	ns, err := netns.GetFromPath(nsPath)
	if err != nil {
		return nil, fmt.Errorf("pod network namespace %s: %w", nsPath, err)
	}
	defer ns.Close()
	var l net.Listener
	if err := innetns.Do(ns, func() (err error) {
		l, err = net.Listen("tcp4", "127.0.0.1:0")
		return err
	}); err != nil {
		return nil, fmt.Errorf("port-forward listener in %s: %w", nsPath, err)
	}
	f := &Forwarder{netns: nsPath, open: open, l: l.(*net.TCPListener), log: logger, conns: map[net.Conn]struct{}{}}
	defer func() {
		if retErr != nil {
			l.Close()
		}
	}()
	if err := addRedirect(int(ns), f.Port()); err != nil {
		return nil, fmt.Errorf("port-forward redirect in %s: %w", nsPath, err)
	}
	f.wg.Add(1)
	go f.serve()
	return f, nil
}

// Port is the listener's port in the pod's namespace.
func (f *Forwarder) Port() uint16 { return uint16(f.l.Addr().(*net.TCPAddr).Port) }

// Close removes the redirect (a namespace already gone has none), stops
// listening and ends the connections in flight; it waits for the accept
// loop only.
func (f *Forwarder) Close() error {
	f.mu.Lock()
	if f.closed {
		f.mu.Unlock()
		return nil
	}
	f.closed = true
	for c := range f.conns {
		c.Close()
	}
	f.mu.Unlock()
	var errs []error
	if ns, err := netns.GetFromPath(f.netns); err == nil {
		errs = append(errs, removeRedirect(int(ns)))
		ns.Close()
	}
	errs = append(errs, f.l.Close())
	f.wg.Wait()
	return errors.Join(errs...)
}

func (f *Forwarder) serve() {
	defer f.wg.Done()
	for {
		c, err := f.l.AcceptTCP()
		if err != nil {
			return
		}
		if !f.track(c) {
			c.Close()
			return
		}
		// Not waited for by Close, which ends them by closing their
		// connections: one may be waiting on the guest's answer.
		go f.forward(c)
	}
}

// track records a connection in flight; false once closed.
func (f *Forwarder) track(c net.Conn) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.closed {
		return false
	}
	f.conns[c] = struct{}{}
	return true
}

func (f *Forwarder) untrack(c net.Conn) {
	f.mu.Lock()
	delete(f.conns, c)
	f.mu.Unlock()
}

// forward joins c to its original port in the guest. A port the guest
// refuses resets c, as the namespace's own loopback would have refused
// the connection had the guest not been behind it.
func (f *Forwarder) forward(c *net.TCPConn) {
	defer f.untrack(c)
	port, err := originalPort(c)
	if err != nil {
		f.log.WithError(err).Warn("port-forward: the connection's original port")
		reset(c)
		return
	}
	g, err := f.open(port)
	if err != nil {
		f.log.WithError(err).WithField("port", port).Info("port-forward: the guest refused")
		reset(c)
		return
	}
	if !f.track(g) {
		g.Close()
		c.Close()
		return
	}
	defer f.untrack(g)
	if err := splice.Conns(c, g); err != nil {
		f.log.WithError(err).WithField("port", port).Debug("port-forward connection ended")
	}
}

// reset closes c with a TCP reset, what a client sees of a closed port
// once its connection was accepted.
func reset(c *net.TCPConn) {
	_ = c.SetLinger(0)
	c.Close()
}

// originalPort is the destination port c had before the redirect.
func originalPort(c *net.TCPConn) (uint16, error) {
	raw, err := c.SyscallConn()
	if err != nil {
		return 0, err
	}
	var port uint16
	var serr error
	err = raw.Control(func(fd uintptr) {
		// SO_ORIGINAL_DST fills a sockaddr_in; an IPv6Mreq has room for
		// it, the port in bytes 2-3 of its first field.
		var m *unix.IPv6Mreq
		m, serr = unix.GetsockoptIPv6Mreq(int(fd), unix.SOL_IP, unix.SO_ORIGINAL_DST)
		if serr == nil {
			port = binary.BigEndian.Uint16(m.Multiaddr[2:4])
		}
	})
	if err == nil {
		err = serr
	}
	if err != nil {
		return 0, fmt.Errorf("SO_ORIGINAL_DST: %w", err)
	}
	return port, nil
}

// Probe tells whether this host can forward ports to VM pods: it starts
// a Forwarder in a network namespace of its own, and closes both.
func Probe() error {
	ns, err := newLoopbackNetns()
	if err != nil {
		return err
	}
	defer ns.Close()
	f, err := Start(nsPath(ns), func(uint16) (net.Conn, error) { return nil, errors.New("probe") }, log.L)
	if err != nil {
		return err
	}
	return f.Close()
}

// newLoopbackNetns makes a network namespace whose loopback is up, as CRI
// makes a pod's.
func newLoopbackNetns() (netns.NsHandle, error) {
	ns, err := innetns.New(func() error { return nil })
	if err != nil {
		return ns, err
	}
	h, err := netlink.NewHandleAt(ns)
	if err == nil {
		defer h.Delete()
		var lo netlink.Link
		if lo, err = h.LinkByName("lo"); err == nil {
			err = h.LinkSetUp(lo)
		}
	}
	if err != nil {
		ns.Close()
		return ns, fmt.Errorf("loopback of a new network namespace: %w", err)
	}
	return ns, nil
}

// nsPath is a path that opens the namespace ns refers to while ns is open.
func nsPath(ns netns.NsHandle) string {
	return fmt.Sprintf("/proc/%d/fd/%d", os.Getpid(), int(ns))
}

// addRedirect adds, in the namespace nsFd refers to:
//
//	table ip winctr_portforward {
//		chain output {
//			type nat hook output priority dstnat
//			ip daddr 127.0.0.0/8 meta l4proto tcp redirect to :<port>
//		}
//	}
//
// A connection to the listener's own port is redirected to itself.
func addRedirect(nsFd int, port uint16) error {
	c, err := nftables.New(nftables.WithNetNSFd(nsFd))
	if err != nil {
		return err
	}
	t := c.AddTable(&nftables.Table{Family: nftables.TableFamilyIPv4, Name: TableName})
	ch := c.AddChain(&nftables.Chain{
		Name: "output", Table: t, Type: nftables.ChainTypeNAT,
		Hooknum: nftables.ChainHookOutput, Priority: nftables.ChainPriorityNATDest,
	})
	c.AddRule(&nftables.Rule{Table: t, Chain: ch, Exprs: []expr.Any{
		// ip daddr & 255.0.0.0 == 127.0.0.0
		&expr.Payload{DestRegister: 1, Base: expr.PayloadBaseNetworkHeader, Offset: 16, Len: 4},
		&expr.Bitwise{SourceRegister: 1, DestRegister: 1, Len: 4, Mask: []byte{255, 0, 0, 0}, Xor: []byte{0, 0, 0, 0}},
		&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: []byte{127, 0, 0, 0}},
		&expr.Meta{Key: expr.MetaKeyL4PROTO, Register: 1},
		&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: []byte{unix.IPPROTO_TCP}},
		&expr.Immediate{Register: 1, Data: binaryutil.BigEndian.PutUint16(port)},
		&expr.Redir{RegisterProtoMin: 1},
	}})
	if err := c.Flush(); err != nil {
		return fmt.Errorf("nftables: %w", err)
	}
	return nil
}

// removeRedirect deletes the table addRedirect added, if it is there.
func removeRedirect(nsFd int) error {
	c, err := nftables.New(nftables.WithNetNSFd(nsFd))
	if err != nil {
		return err
	}
	c.DelTable(&nftables.Table{Family: nftables.TableFamilyIPv4, Name: TableName})
	if err := c.Flush(); err != nil && !errors.Is(err, unix.ENOENT) {
		return fmt.Errorf("nftables: remove %s: %w", TableName, err)
	}
	return nil
}
