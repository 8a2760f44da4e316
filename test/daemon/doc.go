// Package daemon holds the end-to-end tests of the pppoed and pppoectl
// binaries: real daemons in network namespaces over veth, one as the
// access concentrator and others as clients, driven and checked the way an
// operator would, with pppoectl, the metrics endpoint, signals, ip and
// bpftool. It needs root.
package daemon
