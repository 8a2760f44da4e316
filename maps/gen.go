package maps

// The BPF objects are generated from ../bpf by bpf2go and committed, so
// `go build` needs no clang. Regenerate with `make generate` (or
// `go generate ./maps`), which needs clang-19 and llvm-strip-19; the
// compiler and strip binaries are named by flags below, so the
// BPF2GO_CC/BPF2GO_STRIP environment variables the Makefile exports are
// not needed here. Output is deterministic: CI regenerates and diffs.
//go:generate go tool bpf2go -cc clang-19 -strip llvm-strip-19 -target bpfel -type session_key -type session_attrs -type session_hot -type session_counters -type v6_lpm_key -type v6_slot -type v6_lengths -type dp_config -type reason -type session_flag -type client_dev -type client_flag -type disc_host_key -type disc_host -type disc_limits -type disc_global -type mp_divert_hdr -type layout_stamp -type rate_line -type rate_ring -type rate_half -type rate_session -type rate_dir -type rate_flag -type rx_spread -type fib6_cache_ctl -type fib6_cache_entry -cflags "-O2 -g -Wall -Werror -I/usr/include/x86_64-linux-gnu" dataplane ../bpf/dataplane.c -- -I../bpf
