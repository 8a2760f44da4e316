// Command pppoectl drives a running pppoed over its control socket with
// RouterOS commands:
//
//	pppoectl /ppp active print
//	pppoectl '/ppp active print'
//	pppoectl --json /ip pool print
//	pppoectl /ppp secret add name=u1 password=secret profile=p1
//	pppoectl /ppp active remove [find name=u1]
//	pppoectl /interface pppoe-client monitor pppoe-out1 once
//	pppoectl /interface pppoe-client scan ether1 duration=5
//	pppoectl /export
//	pppoectl /system reload
//	pppoectl /system restart
//	pppoectl < script.rsc
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"golang.org/x/sys/unix"

	"github.com/pppoe-xdp/pppoe-xdp/control/api"
	"github.com/pppoe-xdp/pppoe-xdp/control/config"
)

const usage = `Usage: pppoectl [flags] [COMMAND...]

Runs one RouterOS command against pppoed, e.g. "pppoectl /ppp active print"
or, as one argument, pppoectl '/ppp active print'; with no COMMAND, runs the
script read from standard input ("pppoectl < script.rsc", at most 16 MiB). Commands: add, set, remove, enable, disable, unset,
print [detail] [show-sensitive], export on /ip pool, /ppp profile,
/ppp secret, /ppp aaa, /radius, /radius incoming,
/interface pppoe-server server, /interface pppoe-client, /interface vlan,
/system identity (a /radius secret is printed only with show-sensitive); /ppp active print|remove; /interface pppoe-client
monitor NAME [once] and scan IFACE [duration=N]; /export; /system reload
(re-read the config file); /system restart (a planned restart: pppoed exits
with status 75, its sessions left installed; systemd starts it again).

Changes apply to the running configuration only; they are not written to the
config file. The exit status is 1 on any error, 2 on a usage error.

Flags:
`

func main() { os.Exit(run(os.Args[1:], os.Stdin, os.Stdout, os.Stderr)) }

func run(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("pppoectl", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() { fmt.Fprint(stderr, usage); fs.PrintDefaults() }
	socket := fs.String("socket", api.DefaultSocket, "pppoed's control socket `path`")
	asJSON := fs.Bool("json", false, "print as JSON")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	var script string
	switch {
	case fs.NArg() == 1:
		// The whole command as one argument, as scripts and
		// ssh host pppoectl "..." pass it: it is the command line.
		script = fs.Arg(0)
	case fs.NArg() > 1:
		script = joinArgs(fs.Args())
	default:
		b, err := io.ReadAll(io.LimitReader(stdin, api.MaxRequest+1))
		if err != nil {
			fmt.Fprintln(stderr, "pppoectl: read stdin:", err)
			return 1
		}
		if len(b) > api.MaxRequest {
			fmt.Fprintf(stderr, "pppoectl: script on standard input too large: more than %d bytes (16 MiB), the limit of pppoed's control socket; split it\n", api.MaxRequest)
			return 1
		}
		script = string(b)
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	out := stdout
	if f, ok := stdout.(*os.File); ok && isMonitor(script) && isTerminal(f) {
		out = refresher{f}
	}
	err := api.Do(ctx, *socket, api.Request{Script: script, JSON: *asJSON}, out)
	switch {
	case err == nil:
		return 0
	case errors.Is(err, context.Canceled) && isMonitor(script):
		return 0 // Ctrl-C ends a monitor, as in RouterOS
	}
	fmt.Fprintln(stderr, "pppoectl:", err)
	return 1
}

// joinArgs rebuilds the command line the shell split, quoting values the
// shell unquoted: password="a b" arrives as password=a b.
func joinArgs(args []string) string {
	out := make([]string, len(args))
	inFind := false // [find name=x] typed unquoted arrives as "[find" "name=x]"
	for i, a := range args {
		if strings.HasPrefix(a, "[") {
			inFind = true
		}
		switch name, value, ok := strings.Cut(a, "="); {
		case inFind || strings.HasPrefix(a, `"`):
			out[i] = a
			if strings.HasSuffix(a, "]") {
				inFind = false
			}
		case ok && !strings.ContainsAny(name, " \t\"") && name != "":
			out[i] = name + "=" + config.Quote(value)
		default:
			out[i] = config.Quote(a)
		}
	}
	return strings.Join(out, " ")
}

// isMonitor reports whether the script is a refreshing monitor.
func isMonitor(script string) bool {
	cmds, err := config.Parse(script)
	if err != nil || len(cmds) != 1 || cmds[0].Verb != "monitor" {
		return false
	}
	for _, a := range cmds[0].Args {
		if a.Name == "once" {
			return false
		}
	}
	return true
}

func isTerminal(f *os.File) bool {
	_, err := unix.IoctlGetTermios(int(f.Fd()), unix.TCGETS)
	return err == nil
}

// refresher redraws the screen for every monitor refresh (the daemon sends
// each refresh as one chunk), as RouterOS's monitor updates in place.
type refresher struct{ w io.Writer }

func (r refresher) Write(p []byte) (int, error) {
	if _, err := io.WriteString(r.w, "\x1b[H\x1b[2J"); err != nil {
		return 0, err
	}
	return r.w.Write(p)
}
