# winctr: `make demo` sets up and runs a container through containerd with
# winctr; `make test` runs the unit tests and the end-to-end suite.

export PATH := /usr/local/go/bin:$(PATH)
GO ?= go
BIN := bin
SHIM := $(BIN)/containerd-shim-winctr-v1
AGENT := $(BIN)/winctr-gcs
WINCTR := $(BIN)/winctr
# winctr's version and revision, put into every binary (-v, winctr version).
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo unknown)
REVISION ?= $(shell git rev-parse HEAD 2>/dev/null)
VERSION_LDFLAGS := -X github.com/winctr/winctr/internal/version.Version=$(VERSION) \
	-X github.com/winctr/winctr/internal/version.Revision=$(REVISION)
PREFIX ?= /usr/local
BOOTFILES_DIR ?= $(PREFIX)/share/winctr/lcow
# The guest's OCI runtime: Debian's crun linked statically by make deps
# (hack/build-guest-crun.sh).
GUEST_RUNTIME ?= $(CURDIR)/_output/tools/guest/crun
E2E_TIMEOUT ?= 30m

.PHONY: install uninstall deb
.PHONY: all build guest-kernel bootfiles bench bench-uvm deps test-deps demo fresh unit e2e e2e-compat fault fuzz test vet protos clean

all: build

# The shim's build tags. grpcnotrace leaves out gRPC's request tracing
# pages (golang.org/x/net/trace, off unless a program turns them on): they
# import html/template, and with it the linker keeps every exported method
# of every type in the binary, called or not. shim_tracing,
# as for containerd's runc shim, adds OpenTelemetry spans on every ttrpc
# call: make build SHIM_TAGS="grpcnotrace shim_tracing".
SHIM_TAGS ?= grpcnotrace

# The agent is stripped: every byte of it is unpacked and copied in each
# VM's boot, and held in its memory.
build:
	CGO_ENABLED=0 $(GO) build -trimpath -tags "$(SHIM_TAGS)" -ldflags "$(VERSION_LDFLAGS)" -o $(SHIM) ./cmd/containerd-shim-winctr-v1
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags "$(VERSION_LDFLAGS)" -o $(WINCTR) ./cmd/winctr
	CGO_ENABLED=0 GOOS=linux $(GO) build -trimpath -ldflags "-s -w $(VERSION_LDFLAGS)" -o $(AGENT) ./cmd/winctr-gcs

# The utility VM's kernel and initrd (our agent as /init, the kernel
# modules it loads, and crun), into the directory that follows.
BUILD_BOOTFILES = $(GO) run ./cmd/winctr-bootfiles -agent $(AGENT) -runtime $(GUEST_RUNTIME) -out

# GUEST_KERNEL picks the kernel: project (the default), Debian's linux
# source built with hack/guest-kernel/config, once, into GUEST_KERNEL_DIR
# (hack/build-guest-kernel.sh; a later run with the same source, config
# and script does nothing); or debian, the cloud kernel installed on the
# host (make deps installs it then).
GUEST_KERNEL ?= project
GUEST_KERNEL_DIR ?= $(CURDIR)/_output/guest-kernel
ifeq ($(GUEST_KERNEL),project)
KERNEL_FLAGS = -kernel-root $(GUEST_KERNEL_DIR)/root -kernel-release "$$(cat $(GUEST_KERNEL_DIR)/release)"
else ifneq ($(GUEST_KERNEL),debian)
$(error GUEST_KERNEL is project or debian, not $(GUEST_KERNEL))
endif

guest-kernel: deps
ifeq ($(GUEST_KERNEL),project)
	./hack/build-guest-kernel.sh $(GUEST_KERNEL_DIR)
endif

bootfiles: deps build guest-kernel
	$(BUILD_BOOTFILES) $(BOOTFILES_DIR) $(KERNEL_FLAGS)

# What the demo and the boot files use; test-deps adds what only the
# tests use (an older containerd, containerd's runc shim, CNI plugins).
deps:
	GUEST_KERNEL=$(GUEST_KERNEL) ./hack/install-deps.sh demo

test-deps:
	GUEST_KERNEL=$(GUEST_KERNEL) ./hack/install-deps.sh test

# The demo boots its own copy of the boot files, so that it neither needs
# nor replaces the installed ones.
DEMO_BOOTFILES := $(CURDIR)/_output/demo-lcow
demo: deps build guest-kernel
	$(BUILD_BOOTFILES) $(DEMO_BOOTFILES) $(KERNEL_FLAGS)
	$(GO) run ./test/demo -bootfiles $(DEMO_BOOTFILES)

# The clean-root check: the README's first command on a minimal Debian 12
# made for the purpose, from a clone of the committed HEAD.
fresh:
	./hack/fresh-root.sh

unit:
	$(GO) test -count=1 ./...
	$(GO) test -count=1 -tags "$(SHIM_TAGS) shim_tracing" ./cmd/containerd-shim-winctr-v1/

# The suite through ctr, the CRI suite, the winctr command's suite and the
# boot of a bare VM that they build on; one package at a time (each starts
# its own containerd).
e2e: test-deps build bootfiles
	$(GO) test -tags e2e -count=1 -v -p 1 -timeout $(E2E_TIMEOUT) ./internal/uvmdriver/qemu/ ./test/e2e/... ./test/cri/... ./test/ops/...

# The same suite against containerd 2.2, which starts shims with the
# protocol that containerd 2.0-2.2 use, and with Debian's cloud kernel in
# its VMs: the kernel GUEST_KERNEL=debian selects keeps working too.
COMPAT_BOOTFILES := $(CURDIR)/_output/debian-lcow
e2e-compat: test-deps build
	$(MAKE) bootfiles GUEST_KERNEL=debian BOOTFILES_DIR=$(COMPAT_BOOTFILES)
	WINCTR_CONTAINERD=$(CURDIR)/_output/tools/compat/bin/containerd WINCTR_BOOTFILES=$(COMPAT_BOOTFILES) \
		$(GO) test -tags e2e -count=1 -v -timeout $(E2E_TIMEOUT) ./test/e2e/...

# The fault suite: the shim killed at each step of its life, QEMU and
# virtiofsd killed, a frozen guest, containerd restarted under running pods,
# churn, output integrity, hostile input (the fuzz targets below and the
# suite's own checks) and isolation; against containerd 2.4, both
# isolation modes. Each test logs its figures (go test -v).
fault: test-deps build bootfiles fuzz
	$(GO) test -tags e2e -count=1 -v -timeout $(E2E_TIMEOUT) ./test/fault/

# winctr's figures against containerd's runc shim and a bare VM boot, each
# interleaved with its baseline in one run; a table, and JSON in
# bench/results/ (BENCH_OUT picks the file). BENCH_FLAGS=-quick for a short
# run; see `go run ./test/bench/suite -h` for the rest.
BENCH_FLAGS ?=
BENCH_OUT ?=
bench: test-deps build bootfiles
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
FUZZ_TARGETS := ./internal/options/:FuzzDecodeAndResolve ./internal/containerhost/:FuzzCheckSpec \
	./internal/lcow/:FuzzGuestSpec ./internal/gcs/:FuzzStreamHeader \
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
	$(GO) vet -tags e2e ./test/... ./internal/uvm/... ./internal/uvmdriver/...
	$(GO) vet -tags "grpcnotrace shim_tracing" ./cmd/containerd-shim-winctr-v1/

protos:
	./hack/gen-protos.sh

clean:
	rm -rf $(BIN) _output

# Installing. `make install` puts the shim and winctr in $(PREFIX)/bin, the
# boot files (built by `make bootfiles` into a staging directory) in
# $(PREFIX)/share/winctr/lcow, containerd's config drop-in with the winctr
# and winctr-vm runtime handlers in $(SYSCONFDIR)/containerd/conf.d and
# runtime options for ctr in $(SYSCONFDIR)/winctr/vm.toml; configuration
# files already there are left as they are. DESTDIR stages the whole tree.
# `make deb` builds the same as a Debian package in _output/.
SYSCONFDIR ?= /etc
INSTALL_BOOTFILES = $(PREFIX)/share/winctr/lcow
STAGED_BOOTFILES := _output/bootfiles
DROPIN := $(SYSCONFDIR)/containerd/conf.d/winctr.toml
CTR_OPTIONS := $(SYSCONFDIR)/winctr/vm.toml
# Debian versions start with a digit: a tag's v goes, a bare commit gets 0.0~git.
DEB_VERSION ?= $(shell echo '$(VERSION)' | sed -e 's/^v//' -e '/^[0-9][0-9]*\./!s/^/0.0~git/' -e 's/-/+/g')
DEB_ROOT := _output/deb/winctr
DEB := _output/winctr_$(DEB_VERSION)_amd64.deb

# The host's runc that make deps builds (hack/build-host-runc.sh), installed
# where the shim takes it by default (runchost.BundledPath).
HOST_RUNC := _output/tools/bin/runc
INSTALL_RUNC = $(PREFIX)/libexec/winctr/runc

$(HOST_RUNC):
	./hack/build-host-runc.sh $(CURDIR)/$(HOST_RUNC)

$(STAGED_BOOTFILES)/initrd.img: $(AGENT)
	$(MAKE) bootfiles BOOTFILES_DIR=$(STAGED_BOOTFILES)

# $(1): template, $(2): destination; an existing file is kept.
define install-config
	@if [ -e "$(DESTDIR)$(2)" ]; then \
		echo "kept $(DESTDIR)$(2) (exists; compare with $(1))"; \
	else \
		install -d "$(dir $(DESTDIR)$(2))" && \
		sed -e 's|@BOOTFILES_DIR@|$(INSTALL_BOOTFILES)|g' -e 's|@SYSCONFDIR@|$(SYSCONFDIR)|g' $(1) > "$(DESTDIR)$(2)" && \
		chmod 0644 "$(DESTDIR)$(2)" && echo "installed $(DESTDIR)$(2)"; \
	fi
endef

install: build $(STAGED_BOOTFILES)/initrd.img $(HOST_RUNC)
	install -D -m 0755 $(SHIM) $(DESTDIR)$(PREFIX)/bin/containerd-shim-winctr-v1
	install -D -m 0755 $(WINCTR) $(DESTDIR)$(PREFIX)/bin/winctr
	install -D -m 0755 $(HOST_RUNC) $(DESTDIR)$(INSTALL_RUNC)
	install -d $(DESTDIR)$(INSTALL_BOOTFILES)
	install -m 0644 $(STAGED_BOOTFILES)/kernel $(STAGED_BOOTFILES)/initrd.img $(STAGED_BOOTFILES)/manifest.json $(DESTDIR)$(INSTALL_BOOTFILES)/
	$(call install-config,packaging/containerd-winctr.toml.in,$(DROPIN))
	$(call install-config,packaging/winctr-vm.toml.in,$(CTR_OPTIONS))

# Configuration files go only if they are still what install wrote.
uninstall:
	rm -f $(DESTDIR)$(PREFIX)/bin/containerd-shim-winctr-v1 $(DESTDIR)$(PREFIX)/bin/winctr $(DESTDIR)$(INSTALL_RUNC)
	-rmdir $(DESTDIR)$(PREFIX)/libexec/winctr 2>/dev/null
	rm -f $(DESTDIR)$(INSTALL_BOOTFILES)/kernel $(DESTDIR)$(INSTALL_BOOTFILES)/initrd.img $(DESTDIR)$(INSTALL_BOOTFILES)/manifest.json
	-rmdir $(DESTDIR)$(INSTALL_BOOTFILES) $(DESTDIR)$(PREFIX)/share/winctr 2>/dev/null
	@for pair in packaging/containerd-winctr.toml.in:$(DROPIN) packaging/winctr-vm.toml.in:$(CTR_OPTIONS); do \
		tmpl=$${pair%%:*}; f=$(DESTDIR)$${pair#*:}; [ -e "$$f" ] || continue; \
		if sed -e 's|@BOOTFILES_DIR@|$(INSTALL_BOOTFILES)|g' -e 's|@SYSCONFDIR@|$(SYSCONFDIR)|g' $$tmpl | cmp -s - "$$f"; then \
			rm -f "$$f" && echo "removed $$f"; else echo "kept $$f (changed since install)"; fi; \
	done

# The package installs under /usr; its configuration files are conffiles,
# which dpkg never overwrites once changed.
deb:
	rm -rf $(DEB_ROOT) _output/winctr_*.deb
	$(MAKE) install DESTDIR=$(DEB_ROOT) PREFIX=/usr SYSCONFDIR=/etc
	install -d $(DEB_ROOT)/DEBIAN
	sed -e 's|@DEB_VERSION@|$(DEB_VERSION)|' packaging/control.in > $(DEB_ROOT)/DEBIAN/control
	printf '%s\n' $(DROPIN) $(CTR_OPTIONS) > $(DEB_ROOT)/DEBIAN/conffiles
	dpkg-deb --root-owner-group --build -Zgzip $(DEB_ROOT) $(DEB)
	@echo "package: $(DEB)"
