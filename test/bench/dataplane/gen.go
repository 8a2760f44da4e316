package main

// The benchmark's helper programs (bpf/bench.c), generated and committed
// like the data plane's (see maps/gen.go).
//go:generate go tool bpf2go -cc clang-19 -strip llvm-strip-19 -target bpfel -type gen_cfg -type bare_pair -cflags "-O2 -g -Wall -Werror -I/usr/include/x86_64-linux-gnu" bench ../../../bpf/bench.c -- -I../../../bpf
