// Package daemon holds the end-to-end tests of the pppoed and pppoectl
// binaries: real daemons in network namespaces over veth, one as the
// access concentrator and others as clients, driven and checked the way an
// operator would, with pppoectl, the metrics endpoint, signals, ip and
// bpftool. It needs root.
//
// Each test builds a lab of its own (namespaces, bpffs, temporary
// directories, daemons, RADIUS servers) and spends most of its time
// waiting, so most tests call t.Parallel and run GOMAXPROCS at a time. The
// rest pass or fail by how fast something happens: throughput through a
// rate limit or shaper, a flood against a token bucket, which of two ACs
// answers first. They are not parallel, so Go runs them one at a time
// before the parallel ones, with no other test of the package beside
// them; each says why.
package daemon
