# pppoe-xdp build. `make test` is the whole suite (it needs root: BPF and
# network namespaces); CI runs exactly that after checking that the committed
# BPF objects are what `make generate` produces.

GO       ?= go
BPF_CC   ?= clang-19
BPF_STRIP?= llvm-strip-19
export BPF2GO_CC    := $(BPF_CC)
export BPF2GO_STRIP := $(BPF_STRIP)

.PHONY: all generate build test bench bench-dataplane bench-sessions bench-flood lint demo clean

all: build

# bpf2go: compiles bpf/*.c with clang and writes maps/*_bpfel.{go,o}.
generate:
	$(GO) generate ./...

build:
	@mkdir -p bin
	$(GO) build -o bin/ ./cmd/...

test:
	$(GO) test -count=1 -timeout 15m ./...

bench: bench-dataplane bench-sessions bench-flood

bench-dataplane:
	$(GO) run ./test/bench/dataplane

bench-sessions:
	$(GO) run ./test/bench/sessions

bench-flood:
	$(GO) run ./test/bench/sessions -flood

# A namespace lab: pppoed as AC and clients with the RouterOS reference's
# examples, live traffic, pppoectl and bpftool views; Ctrl-C (or
# DEMO_SECONDS=N) tears it all down. Needs root.
demo: build
	scripts/demo.sh

lint:
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...

clean:
	rm -rf bin
