# Installs containerd and winctr's shim on a Windows host as the workflow's
# Windows jobs and the README's Windows section do: containerd's release
# under Program Files\containerd, the shim beside containerd.exe (where
# containerd looks for it), containerd registered and started as a
# service. With -Scratch, the LCOW scratch template that
# `winctr-bootfiles -lcow-scratch` writes goes into the windows-lcow
# snapshotter's root, so that the snapshotter does not look for runhcs.exe.
# Run it from an elevated PowerShell.
param(
    [Parameter(Mandatory = $true)][string]$Shim,
    [string]$Version = $env:CONTAINERD_VERSION,
    [string]$Scratch = ""
)
$ErrorActionPreference = "Stop"
if (-not $Version) { throw "no containerd version: pass -Version or set CONTAINERD_VERSION" }

$dir = Join-Path $env:ProgramFiles "containerd"
$bin = Join-Path $dir "bin"
if (Get-Service containerd -ErrorAction SilentlyContinue) {
    Stop-Service containerd
    & (Join-Path $bin "containerd.exe") --unregister-service
}
$tgz = Join-Path $env:TEMP "containerd-$Version-windows-amd64.tar.gz"
Invoke-WebRequest "https://github.com/containerd/containerd/releases/download/v$Version/containerd-$Version-windows-amd64.tar.gz" -OutFile $tgz
New-Item -ItemType Directory -Force $dir | Out-Null
tar -xzf $tgz -C $dir
if ($LASTEXITCODE -ne 0) { throw "tar exited $LASTEXITCODE" }
Copy-Item $Shim $bin

if ($Scratch) {
    $root = Join-Path $env:ProgramData "containerd\root\io.containerd.snapshotter.v1.windows-lcow"
    New-Item -ItemType Directory -Force $root | Out-Null
    Copy-Item $Scratch (Join-Path $root "scratch.vhdx")
}

& (Join-Path $bin "containerd.exe") --register-service
if ($LASTEXITCODE -ne 0) { throw "containerd --register-service exited $LASTEXITCODE" }
Start-Service containerd
& (Join-Path $bin "ctr.exe") version
if ($LASTEXITCODE -ne 0) { throw "ctr version exited $LASTEXITCODE" }
