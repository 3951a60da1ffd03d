// Package gcs is the core of the guest agent (cmd/winctr-gcs): the
// container and process half of the agent API, run through a container
// Host (crun in the guest), and the router that sorts the streams the
// host opens into API, stdio and log streams. It knows nothing of the
// guest's system (mounts, modules, network), so that a test drives the
// whole protocol over in-memory connections, without a VM.
package gcs
