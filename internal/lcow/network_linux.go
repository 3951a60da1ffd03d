package lcow

import (
	"crypto/rand"
	"errors"
	"fmt"
	"net"
	"os"

	"github.com/containerd/errdefs"
	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"

	"github.com/winctr/winctr/internal/innetns"
	"github.com/winctr/winctr/internal/uvm"
	agent "github.com/winctr/winctr/protos/agent/v1"
)

// tapName is the tap device winctr adds to a pod's network namespace.
const tapName = "tap0_winctr"

// podNetwork carries a pod's CNI network into its VM, the way Kata's
// tc-filter model does: a tap device in the pod's network namespace, tc
// redirects between it and the CNI interface both ways, and the CNI
// interface's MAC, addresses and routes given to the guest's NIC. The pod's
// IP then answers from inside the VM, and the host side stays as CNI made
// it.
type podNetwork struct {
	netns  string
	link   string // the CNI interface
	nic    uvm.NIC
	config *agent.ConfigureNetworkRequest
}

// attachPodNetwork reads the CNI interface of the network namespace at
// nsPath, adds the tap and the redirects, and returns the NIC for QEMU and
// the guest's configuration.
func attachPodNetwork(nsPath string) (_ *podNetwork, retErr error) {
	return joinPodNetwork(nsPath, func(ns netns.NsHandle, _ *netlink.Handle) (*os.File, error) {
		return openTapIn(ns, tapName)
	})
}

// joinPodNetwork reads the pod's network at nsPath and connects a tap in
// it to the CNI interface; addTap puts the tap into the namespace, opened
// for QEMU (nil when QEMU has it already).
func joinPodNetwork(nsPath string, addTap func(netns.NsHandle, *netlink.Handle) (*os.File, error)) (_ *podNetwork, retErr error) {
	ns, err := netns.GetFromPath(nsPath)
	if err != nil {
		return nil, fmt.Errorf("pod network namespace %s: %w", nsPath, err)
	}
	defer ns.Close()
	h, err := netlink.NewHandleAt(ns)
	if err != nil {
		return nil, fmt.Errorf("netlink in %s: %w", nsPath, err)
	}
	defer h.Delete()
	link, err := podInterface(h)
	if err != nil {
		return nil, fmt.Errorf("pod network namespace %s: %w", nsPath, err)
	}
	mac := link.Attrs().HardwareAddr.String()
	iface := &agent.Interface{Mac: mac, Mtu: uint32(link.Attrs().MTU)}
	addrs, err := h.AddrList(link, netlink.FAMILY_ALL)
	if err != nil {
		return nil, err
	}
	for _, a := range addrs {
		if a.IP.IsLinkLocalUnicast() {
			continue // the guest makes its own
		}
		iface.Addresses = append(iface.Addresses, a.IPNet.String())
	}
	cfg := &agent.ConfigureNetworkRequest{Interfaces: []*agent.Interface{iface}}
	routes, err := h.RouteList(link, netlink.FAMILY_ALL)
	if err != nil {
		return nil, err
	}
	for _, r := range routes {
		if r.Protocol == unix.RTPROT_KERNEL || (r.Dst != nil && r.Dst.IP.IsLinkLocalUnicast()) {
			continue // the guest's kernel adds the subnet routes itself
		}
		rt := &agent.Route{InterfaceMac: mac}
		if r.Dst != nil {
			rt.Destination = r.Dst.String()
		}
		if r.Gw != nil {
			rt.Gateway = r.Gw.String()
		}
		cfg.Routes = append(cfg.Routes, rt)
	}

	pn := &podNetwork{netns: nsPath, link: link.Attrs().Name, config: cfg}
	tap, err := addTap(ns, h)
	if err != nil {
		return nil, err
	}
	pn.nic = uvm.NIC{Tap: tap, MAC: mac}
	defer func() {
		if retErr != nil {
			pn.closeTap()
			_ = pn.detach()
		}
	}()
	tapLink, err := h.LinkByName(tapName)
	if err != nil {
		return nil, err
	}
	if err := h.LinkSetMTU(tapLink, link.Attrs().MTU); err != nil {
		return nil, fmt.Errorf("tap MTU: %w", err)
	}
	if err := h.LinkSetUp(tapLink); err != nil {
		return nil, fmt.Errorf("tap up: %w", err)
	}
	if err := redirect(h, link, tapLink); err != nil {
		return nil, err
	}
	if err := redirect(h, tapLink, link); err != nil {
		return nil, err
	}
	return pn, nil
}

// spareNIC is the NIC of a VM booted for a warm pool, before any pod: its
// tap waits in a network namespace of its own, held open here, until a
// pod's network takes it. The guest knows the NIC by its boot MAC.
type spareNIC struct {
	ns  netns.NsHandle
	nic uvm.NIC
}

// newSpareNIC makes a fresh network namespace, and a tap in it.
func newSpareNIC() (s *spareNIC, err error) {
	mac := make(net.HardwareAddr, 6)
	if _, err := rand.Read(mac); err != nil {
		return nil, err
	}
	mac[0] = mac[0]&^1 | 2 // unicast, locally administered
	var tap *os.File
	ns, err := innetns.New(func() (err error) {
		tap, err = openTap(tapName)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("network namespace for a pooled VM: %w", err)
	}
	return &spareNIC{ns: ns, nic: uvm.NIC{Tap: tap, MAC: mac.String()}}, nil
}

// moveInto moves the tap into the pod's namespace, where QEMU's open
// copy keeps serving the guest's NIC.
func (s *spareNIC) moveInto(pod netns.NsHandle) error {
	h, err := netlink.NewHandleAt(s.ns)
	if err != nil {
		return err
	}
	defer h.Delete()
	l, err := h.LinkByName(tapName)
	if err != nil {
		return fmt.Errorf("the pooled VM's tap: %w", err)
	}
	if err := h.LinkSetNsFd(l, int(pod)); err != nil {
		return fmt.Errorf("move the pooled VM's tap into the pod's network: %w", err)
	}
	return nil
}

// close lets go of the shim's copy of the tap and of the namespace; a tap
// QEMU still holds lives on where it is.
func (s *spareNIC) close() {
	if s.nic.Tap != nil {
		s.nic.Tap.Close()
		s.nic.Tap = nil
	}
	s.ns.Close()
}

// adoptPodNetwork connects the spare NIC's tap to the pod's network at
// nsPath, and asks the guest to give the NIC the pod's MAC.
func adoptPodNetwork(nsPath string, spare *spareNIC) (*podNetwork, error) {
	pn, err := joinPodNetwork(nsPath, func(ns netns.NsHandle, _ *netlink.Handle) (*os.File, error) {
		return nil, spare.moveInto(ns)
	})
	if err != nil {
		return nil, err
	}
	for _, in := range pn.config.Interfaces {
		in.BootMac = spare.nic.MAC
	}
	return pn, nil
}

// podInterface finds the interface CNI put into the pod's namespace: the
// one that is not loopback and not ours.
func podInterface(h *netlink.Handle) (netlink.Link, error) {
	links, err := h.LinkList()
	if err != nil {
		return nil, err
	}
	for _, l := range links {
		a := l.Attrs()
		if a.Flags&net.FlagLoopback != 0 || a.Name == tapName || len(a.HardwareAddr) == 0 {
			continue
		}
		return l, nil
	}
	return nil, fmt.Errorf("no network interface from CNI: %w", errdefs.ErrFailedPrecondition)
}

// redirect sends every frame arriving on from out of to: an ingress qdisc
// on from with a match-all u32 filter and a mirred egress redirect.
func redirect(h *netlink.Handle, from, to netlink.Link) error {
	qdisc := &netlink.Ingress{QdiscAttrs: netlink.QdiscAttrs{
		LinkIndex: from.Attrs().Index,
		Parent:    netlink.HANDLE_INGRESS,
		Handle:    netlink.MakeHandle(0xffff, 0),
	}}
	if err := h.QdiscAdd(qdisc); err != nil && !errors.Is(err, unix.EEXIST) {
		return fmt.Errorf("ingress qdisc on %s: %w", from.Attrs().Name, err)
	}
	filter := &netlink.U32{
		FilterAttrs: netlink.FilterAttrs{
			LinkIndex: from.Attrs().Index,
			Parent:    netlink.MakeHandle(0xffff, 0),
			Protocol:  unix.ETH_P_ALL,
		},
		Actions: []netlink.Action{&netlink.MirredAction{
			ActionAttrs:  netlink.ActionAttrs{Action: netlink.TC_ACT_STOLEN},
			MirredAction: netlink.TCA_EGRESS_REDIR,
			Ifindex:      to.Attrs().Index,
		}},
	}
	if err := h.FilterAdd(filter); err != nil {
		return fmt.Errorf("redirect %s -> %s: %w", from.Attrs().Name, to.Attrs().Name, err)
	}
	return nil
}

// openTapIn creates a tap device in the network namespace ns and returns
// it open. A tap is created in the namespace of the thread that opens it.
func openTapIn(ns netns.NsHandle, name string) (f *os.File, err error) {
	err = innetns.Do(ns, func() (err error) {
		f, err = openTap(name)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("the pod's network namespace: %w", err)
	}
	return f, nil
}

func openTap(name string) (*os.File, error) {
	f, err := os.OpenFile("/dev/net/tun", os.O_RDWR|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("open /dev/net/tun: %w", err)
	}
	ifr, err := unix.NewIfreq(name)
	if err != nil {
		f.Close()
		return nil, err
	}
	ifr.SetUint16(unix.IFF_TAP | unix.IFF_NO_PI)
	if err := unix.IoctlIfreq(int(f.Fd()), unix.TUNSETIFF, ifr); err != nil {
		f.Close()
		return nil, fmt.Errorf("create tap %s: %w", name, err)
	}
	return f, nil
}

// closeTap closes the shim's copy of the tap; the tap lives while QEMU
// holds its own.
func (pn *podNetwork) closeTap() {
	if pn.nic.Tap != nil {
		pn.nic.Tap.Close()
		pn.nic.Tap = nil
	}
}

// detach removes what attachPodNetwork added to the pod's namespace: the
// tap (gone already once QEMU exited) and the ingress qdiscs with their
// filters. A namespace CRI already removed has nothing left to undo.
func (pn *podNetwork) detach() error {
	pn.closeTap()
	ns, err := netns.GetFromPath(pn.netns)
	if err != nil {
		return nil
	}
	defer ns.Close()
	h, err := netlink.NewHandleAt(ns)
	if err != nil {
		return err
	}
	defer h.Delete()
	var errs []error
	if l, err := h.LinkByName(tapName); err == nil {
		errs = append(errs, h.LinkDel(l))
	}
	if l, err := h.LinkByName(pn.link); err == nil {
		q := &netlink.Ingress{QdiscAttrs: netlink.QdiscAttrs{LinkIndex: l.Attrs().Index, Parent: netlink.HANDLE_INGRESS, Handle: netlink.MakeHandle(0xffff, 0)}}
		if err := h.QdiscDel(q); err != nil && !errors.Is(err, unix.ENOENT) && !errors.Is(err, unix.EINVAL) {
			errs = append(errs, fmt.Errorf("remove the redirect from %s: %w", pn.link, err))
		}
	}
	return errors.Join(errs...)
}
