//go:build !linux

package stdio

import "io"

// fifoUnread cannot tell off Linux: exits are reported once the copy ends.
func fifoUnread(w io.Writer) func() (int, error) { return nil }

// unreadBytes cannot tell off Linux.
func unreadBytes(any) func() (int, error) { return nil }
