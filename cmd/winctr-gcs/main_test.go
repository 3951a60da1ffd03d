//go:build linux

package main

import (
	"slices"
	"testing"
)

func TestModuleLists(t *testing.T) {
	tests := []struct {
		name                  string
		hypervisor, transport string
		pci                   bool
		want                  []string
	}{
		{"q35, serial channel", "", "", true, []string{modulesList, modulesList + ".pci"}},
		{"q35, vsock", "", "vsock", true, []string{modulesList, modulesList + ".pci", modulesList + ".vsock"}},
		{"microvm", "", "", false, []string{modulesList, modulesList + ".mmio"}},
		{"hyper-v", "hyperv", "vsock", false, []string{modulesList + ".hyperv"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := moduleLists(tt.hypervisor, tt.transport, tt.pci); !slices.Equal(got, tt.want) {
				t.Errorf("got %v, want %v", got, tt.want)
			}
		})
	}
}
