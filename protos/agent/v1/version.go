package agent

// ProtocolVersion is the version of the agent API that this tree's shim
// and guest agent speak. It changes whenever a shim could no longer work
// with an agent built from an older tree (or the reverse): the boot files
// record their agent's, and the shim refuses boot files of another.
const ProtocolVersion = 1
