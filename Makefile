# pppoe-xdp build. `make test` is the whole suite (it needs root: BPF and
# network namespaces); CI runs exactly that after checking that the committed
# BPF objects are what `make generate` produces.
#
# demo, test, generate and deb first install the Debian packages they use
# through scripts/deps.sh (it says what and why, and does nothing when all
# are there). NO_INSTALL=1 turns installing off: a missing package is then
# an error naming it.

GO       ?= go
BPF_CC   ?= clang-19
BPF_STRIP?= llvm-strip-19
export BPF2GO_CC    := $(BPF_CC)
export BPF2GO_STRIP := $(BPF_STRIP)

.PHONY: all generate build test bench bench-dataplane bench-sessions bench-flood bench-ratelimit lint demo demo-fleet deb clean \
	deps-generate deps-demo deps-fleet deps-test deps-deb

# NO_INSTALL reaches scripts/deps.sh through the environment, from the
# command line (make test NO_INSTALL=1) as from the shell.
export NO_INSTALL

all: build

# bpf2go: compiles bpf/*.c with clang and writes maps/*_bpfel.{go,o}.
generate: deps-generate
	$(GO) generate ./...

build:
	@mkdir -p bin
	$(GO) build -o bin/ ./cmd/...

test: deps-test
	$(GO) test -count=1 -timeout 15m ./...

bench: bench-dataplane bench-sessions bench-flood bench-ratelimit

bench-dataplane:
	$(GO) run ./test/bench/dataplane

# Flags for the sessions bench: make bench-sessions BENCH_FLAGS="-aaa radius".
BENCH_FLAGS ?=

bench-sessions:
	$(GO) run ./test/bench/sessions $(BENCH_FLAGS)

bench-flood:
	$(GO) run ./test/bench/sessions -flood

# Rate-limit accuracy with real TCP and UDP (iperf3) through namespace
# sessions; prints, never fails on a figure.
bench-ratelimit: deps-test
	$(GO) test -count=1 -timeout 30m -run 'TestRateLimitAccuracy$$' -v ./test/daemon -args -bench-ratelimit

# A namespace lab: pppoed as AC and clients with the RouterOS reference's
# examples, live traffic, pppoectl and bpftool views; Ctrl-C (or
# DEMO_SECONDS=N) tears it all down. Needs root.
demo: deps-demo build
	scripts/demo.sh

# Two pppoed ACs on one bridge sharing subscribers by pado-delay, with
# FLEET_SUBSCRIBERS (200) emulated subscribers, addresses from FreeRADIUS
# sqlippool on PostgreSQL; reports the split, a Disconnect to the wrong AC
# (503) and the right one, and the failover when one AC is killed.
# FLEET_AAA=local: local pools, the split only. Needs root.
demo-fleet: deps-demo deps-fleet build
	scripts/demo-fleet.sh

# A Debian package, pppoe-xdp_VERSION_ARCH.deb here, built with dpkg-deb:
# pppoed and pppoectl (no cgo, PIE), the unit, an example configuration (disabled
# until edited), /etc/default/pppoed, /var/lib/pppoe-xdp, the dashboard.
# Install with apt install ./pppoe-xdp_*.deb; scripts/deb/check.sh is CI's
# check of it.
deb: deps-deb
	GO=$(GO) scripts/deb/build.sh

deps-generate deps-demo deps-fleet deps-test deps-deb:
	@scripts/deps.sh $(@:deps-%=%)

lint:
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...

clean:
	rm -rf bin pppoe-xdp_*.deb
