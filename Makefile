# winctr: `make demo` sets up and runs a container through containerd with
# winctr; `make test` runs the unit tests and the end-to-end suite.

export PATH := /usr/local/go/bin:$(PATH)
GO ?= go
BIN := bin
SHIM := $(BIN)/containerd-shim-winctr-v1
AGENT := $(BIN)/winctr-gcs
PREFIX ?= /usr/local
BOOTFILES_DIR ?= $(PREFIX)/share/winctr/lcow
# The guest's OCI runtime: Debian's crun linked statically by make deps
# (hack/build-guest-crun.sh).
GUEST_RUNTIME ?= $(CURDIR)/_output/tools/guest/crun
E2E_TIMEOUT ?= 30m

.PHONY: all build bootfiles bench bench-uvm deps demo unit e2e e2e-compat fault fuzz test vet protos clean

all: build

# The agent is stripped: every byte of it is unpacked and copied in each
# VM's boot, and held in its memory.
build:
	CGO_ENABLED=0 $(GO) build -trimpath -o $(SHIM) ./cmd/containerd-shim-winctr-v1
	CGO_ENABLED=0 GOOS=linux $(GO) build -trimpath -ldflags "-s -w" -o $(AGENT) ./cmd/winctr-gcs

# The utility VM's kernel and initrd (our agent as /init, the kernel
# modules it loads, and crun). GUEST_KERNEL picks the kernel: debian, the
# cloud kernel installed on the host (installed if missing); or project,
# Debian's source built with hack/guest-kernel/config, once, into
# GUEST_KERNEL_DIR (hack/build-guest-kernel.sh).
GUEST_KERNEL ?= debian
GUEST_KERNEL_DIR ?= $(CURDIR)/_output/guest-kernel
bootfiles: deps build
ifeq ($(GUEST_KERNEL),project)
	./hack/build-guest-kernel.sh $(GUEST_KERNEL_DIR)
	$(GO) run ./cmd/winctr-bootfiles -agent $(AGENT) -runtime $(GUEST_RUNTIME) -out $(BOOTFILES_DIR) \
		-kernel-root $(GUEST_KERNEL_DIR)/root -kernel-release "$$(cat $(GUEST_KERNEL_DIR)/release)"
else ifeq ($(GUEST_KERNEL),debian)
	$(GO) run ./cmd/winctr-bootfiles -agent $(AGENT) -runtime $(GUEST_RUNTIME) -out $(BOOTFILES_DIR)
else
	$(error GUEST_KERNEL is debian or project, not $(GUEST_KERNEL))
endif

deps:
	./hack/install-deps.sh

demo: deps build
	$(GO) run ./test/demo

unit:
	$(GO) test -count=1 ./...

# The suite through ctr, the CRI suite, and the boot of a bare VM that
# both build on; one package at a time (each starts its own containerd).
e2e: deps build bootfiles
	$(GO) test -tags e2e -count=1 -v -p 1 -timeout $(E2E_TIMEOUT) ./internal/uvm/qemu/ ./test/e2e/... ./test/cri/...

# The same suite against containerd 2.2, which starts shims with the
# protocol that containerd 2.0-2.2 use.
e2e-compat: deps build bootfiles
	WINCTR_CONTAINERD=$(CURDIR)/_output/tools/compat/bin/containerd \
		$(GO) test -tags e2e -count=1 -v -timeout $(E2E_TIMEOUT) ./test/e2e/...

# The fault suite: the shim killed at each step of its life, QEMU and
# virtiofsd killed, a frozen guest, containerd restarted under running pods,
# churn, output integrity, hostile input (the fuzz targets below and the
# suite's own checks) and isolation; against containerd 2.4, both
# isolation modes. Each test logs its figures (go test -v).
fault: deps build bootfiles fuzz
	$(GO) test -tags e2e -count=1 -v -timeout $(E2E_TIMEOUT) ./test/fault/

# winctr's figures against containerd's runc shim and a bare VM boot, each
# interleaved with its baseline in one run; a table, and JSON in
# bench/results/ (BENCH_OUT picks the file). BENCH_FLAGS=-quick for a short
# run; see `go run ./test/bench/suite -h` for the rest.
BENCH_FLAGS ?=
BENCH_OUT ?=
bench: deps build bootfiles
	$(GO) run ./test/bench/suite $(if $(BENCH_OUT),-out $(BENCH_OUT)) $(BENCH_FLAGS)

# Median ctr run -> first line of a VM container against a bare boot of the
# same kernel, interleaved in one run.
bench-uvm: deps build bootfiles
	$(GO) run ./test/bench/uvm

# A count, not a duration: Go 1.26's fuzz coordinator can report its own
# -fuzztime deadline as a failure (golang/go#75804, fixed in Go 1.27).
FUZZTIME ?= 200000x

# Bounded fuzzing of what containerd's input passes through.
# Each fuzz target (package:name) runs FUZZTIME inputs; their seed corpora in
# testdata/fuzz also run with the unit tests.
FUZZ_TARGETS := ./internal/task/options/:FuzzDecodeAndResolve ./internal/containerhost/:FuzzCheckSpec \
	./internal/lcow/:FuzzGuestSpec ./cmd/winctr-gcs/:FuzzStreamHeader \
	./cmd/winctr-gcs/:FuzzMountRequest ./cmd/winctr-gcs/:FuzzAgentRequests

fuzz:
	@set -e; for t in $(FUZZ_TARGETS); do \
		echo "fuzz $${t##*:} ($(FUZZTIME))"; \
		$(GO) test -run '^$$' -fuzz "^$${t##*:}$$" -fuzztime $(FUZZTIME) "$${t%%:*}"; \
	done

test: vet unit e2e e2e-compat fault

vet:
	@test -z "$$(gofmt -l cmd internal protos test)" || { gofmt -l cmd internal protos test; echo "gofmt needed"; exit 1; }
	$(GO) vet ./...
	GOOS=windows $(GO) build ./...
	GOOS=windows $(GO) vet ./...
	$(GO) vet -tags e2e ./test/... ./internal/uvm/...

protos:
	./hack/gen-protos.sh

clean:
	rm -rf $(BIN) _output
