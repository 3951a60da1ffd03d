// Package layers turns what containerd prepared for a container (its rootfs
// mounts) into a directory a runtime can use, on the host or in a share
// that a utility VM sees; on Windows hosts, the image's Windows layers
// into a mounted container volume.
package layers
