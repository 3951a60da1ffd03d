package options

import optionsv1 "github.com/winctr/winctr/protos/options/v1"

// VMHost is how a Linux host runs a utility VM: the programs and kernel
// parameters, and what the operator allows in it. They come from the
// runtime's options only.
type VMHost struct {
	// QEMUBinary and VirtiofsdBinary are the programs to run; empty for
	// the driver's defaults.
	QEMUBinary      string
	VirtiofsdBinary string
	// KernelParams are appended to the guest kernel's command line.
	KernelParams string
	// DebugShell lets an operator run a shell in the guest (winctr shell).
	DebugShell bool
	// RequireKVM refuses to boot under TCG emulation.
	RequireKVM bool
}

func vmHost(o *optionsv1.Options) VMHost {
	return VMHost{
		QEMUBinary:      o.GetQemuBinary(),
		VirtiofsdBinary: o.GetVirtiofsdBinary(),
		KernelParams:    o.GetKernelParams(),
		DebugShell:      o.GetDebugShell(),
		RequireKVM:      o.GetRequireKvm(),
	}
}
