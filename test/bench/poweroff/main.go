//go:build linux

// Command poweroff is the smallest init a VM can boot: it powers the VM off
// at once. The UVM benchmark boots it to measure the bare-boot floor.
package main

import "golang.org/x/sys/unix"

func main() {
	_ = unix.Reboot(unix.LINUX_REBOOT_CMD_POWER_OFF)
}
