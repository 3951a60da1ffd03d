//go:build windows

package hcs

import "unsafe"

// Handles of computecore.dll: HCS_OPERATION, HCS_SYSTEM, HCS_PROCESS.
type (
	hcsOperation uintptr
	hcsSystem    uintptr
	hcsProcess   uintptr
)

// hcsProcessInformation is HCS_PROCESS_INFORMATION: the process id and
// the host's ends of the std pipes HCS made for it.
type hcsProcessInformation struct {
	ProcessID uint32
	reserved  uint32
	StdInput  uintptr
	StdOutput uintptr
	StdError  uintptr
}

// hcsEvent is HCS_EVENT, as a callback receives it.
type hcsEvent struct {
	Type      uint32
	EventData *uint16
	Operation hcsOperation
}

// HCS_EVENT_TYPE values winctr acts on.
const (
	eventSystemExited  = 0x00000001
	eventProcessExited = 0x00010000
	eventServiceGone   = 0x02000000
)

// The '?' makes a missing export an error instead of a panic: older
// Windows builds lack some of these.

//sys hcsCreateOperation(context uintptr, callback uintptr) (operation hcsOperation, err error) = computecore.HcsCreateOperation?
//sys hcsCloseOperation(operation hcsOperation) = computecore.HcsCloseOperation?
//sys hcsWaitForOperationResult(operation hcsOperation, timeoutMs uint32, resultDocument **uint16) (hr error) = computecore.HcsWaitForOperationResult?
//sys hcsWaitForOperationResultAndProcessInfo(operation hcsOperation, timeoutMs uint32, processInformation *hcsProcessInformation, resultDocument **uint16) (hr error) = computecore.HcsWaitForOperationResultAndProcessInfo?
//sys hcsCancelOperation(operation hcsOperation) (hr error) = computecore.HcsCancelOperation?

//sys hcsEnumerateComputeSystems(query *uint16, operation hcsOperation) (hr error) = computecore.HcsEnumerateComputeSystems?
//sys hcsCreateComputeSystem(id *uint16, configuration *uint16, operation hcsOperation, securityDescriptor unsafe.Pointer, computeSystem *hcsSystem) (hr error) = computecore.HcsCreateComputeSystem?
//sys hcsOpenComputeSystem(id *uint16, requestedAccess uint32, computeSystem *hcsSystem) (hr error) = computecore.HcsOpenComputeSystem?
//sys hcsCloseComputeSystem(computeSystem hcsSystem) = computecore.HcsCloseComputeSystem?
//sys hcsStartComputeSystem(computeSystem hcsSystem, operation hcsOperation, options *uint16) (hr error) = computecore.HcsStartComputeSystem?
//sys hcsShutDownComputeSystem(computeSystem hcsSystem, operation hcsOperation, options *uint16) (hr error) = computecore.HcsShutDownComputeSystem?
//sys hcsTerminateComputeSystem(computeSystem hcsSystem, operation hcsOperation, options *uint16) (hr error) = computecore.HcsTerminateComputeSystem?
//sys hcsPauseComputeSystem(computeSystem hcsSystem, operation hcsOperation, options *uint16) (hr error) = computecore.HcsPauseComputeSystem?
//sys hcsResumeComputeSystem(computeSystem hcsSystem, operation hcsOperation, options *uint16) (hr error) = computecore.HcsResumeComputeSystem?
//sys hcsGetComputeSystemProperties(computeSystem hcsSystem, operation hcsOperation, propertyQuery *uint16) (hr error) = computecore.HcsGetComputeSystemProperties?
//sys hcsModifyComputeSystem(computeSystem hcsSystem, operation hcsOperation, configuration *uint16, identity uintptr) (hr error) = computecore.HcsModifyComputeSystem?
//sys hcsSetComputeSystemCallback(computeSystem hcsSystem, callbackOptions uint32, context uintptr, callback uintptr) (hr error) = computecore.HcsSetComputeSystemCallback?

//sys hcsCreateProcess(computeSystem hcsSystem, processParameters *uint16, operation hcsOperation, securityDescriptor unsafe.Pointer, process *hcsProcess) (hr error) = computecore.HcsCreateProcess?
//sys hcsCloseProcess(process hcsProcess) = computecore.HcsCloseProcess?
//sys hcsTerminateProcess(process hcsProcess, operation hcsOperation, options *uint16) (hr error) = computecore.HcsTerminateProcess?
//sys hcsSignalProcess(process hcsProcess, operation hcsOperation, options *uint16) (hr error) = computecore.HcsSignalProcess?
//sys hcsGetProcessProperties(process hcsProcess, operation hcsOperation, propertyQuery *uint16) (hr error) = computecore.HcsGetProcessProperties?
//sys hcsModifyProcess(process hcsProcess, operation hcsOperation, settings *uint16) (hr error) = computecore.HcsModifyProcess?
//sys hcsSetProcessCallback(process hcsProcess, callbackOptions uint32, context uintptr, callback uintptr) (hr error) = computecore.HcsSetProcessCallback?

var _ unsafe.Pointer

//sys hcsGrantVmAccess(vmID *uint16, filePath *uint16) (hr error) = computecore.HcsGrantVmAccess?
