// Package wcow runs a pod's Windows containers on a Windows host through
// the Host Compute Service, behind the task service's Host seam: process
// isolated (a silo on the host's kernel) or Hyper-V isolated (hosted in a
// Windows utility VM). The mapping of signals, resource updates and
// statistics is plain Go and tested everywhere; the HCS calls are in the
// _windows files.
package wcow
