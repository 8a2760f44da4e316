package daemon

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"

	"github.com/pppoe-xdp/pppoe-xdp/control/api"
	"github.com/pppoe-xdp/pppoe-xdp/control/client"
	"github.com/pppoe-xdp/pppoe-xdp/control/config"
)

// Menus the daemon serves itself rather than from the configuration.
const (
	menuActive = "/ppp active"
	menuQueue  = "/queue simple"
	menuServer = "/interface pppoe-server server"
	menuClient = "/interface pppoe-client"
	menuReload = "/system reload" // a command path, like RouterOS's /system reboot
	// menuRestart restarts pppoed keeping its sessions (Options.Restart).
	menuRestart = "/system restart"
)

// errNotAvailable answers commands for a component this daemon runs without.
var errNotAvailable = errors.New("not available in this daemon")

// configVerbs change the configuration.
var configVerbs = map[string]bool{
	"add": true, "set": true, "remove": true, "enable": true, "disable": true, "unset": true,
}

// Exec implements api.Handler: it runs a RouterOS command script. Runs of
// configuration commands are applied together, all or nothing, through the
// same path as a reload; other commands (print, export, monitor, scan,
// /ppp active remove, /system reload) run in order between them. The first
// error stops the script; errors carry the script line.
func (d *Daemon) Exec(ctx context.Context, req api.Request, out io.Writer) error {
	menu := req.Menu
	if menu == "" {
		menu = "/"
	}
	cmds, err := config.ParseIn(menu, req.Script)
	if err != nil {
		return err
	}
	var batch []config.Command
	flush := func() error {
		if len(batch) == 0 {
			return nil
		}
		err := d.apply(batch)
		batch = nil
		return err
	}
	for _, cmd := range cmds {
		if configVerbs[cmd.Verb] && cmd.Menu != menuActive {
			batch = append(batch, cmd)
			continue
		}
		if err := flush(); err != nil {
			return err
		}
		if err := d.run(ctx, cmd, req.JSON, out); err != nil {
			return &config.Error{Line: cmd.Line, Err: err}
		}
	}
	return flush()
}

// run executes one command that is not a configuration change.
func (d *Daemon) run(ctx context.Context, cmd config.Command, asJSON bool, out io.Writer) error {
	verb, menu := cmd.Verb, cmd.Menu
	if verb == "" {
		// "/export" and "/system reload" parse as menu paths.
		switch {
		case menu == menuReload:
			return d.reloadCmd(ctx, out)
		case menu == menuRestart:
			if d.opts.Restart == nil {
				return fmt.Errorf("%s: %w", menuRestart, errNotAvailable)
			}
			if _, err := io.WriteString(out, "restarting: sessions stay installed\n"); err != nil {
				return err
			}
			return d.opts.Restart()
		case menu == "/export" || strings.HasSuffix(menu, " export"):
			verb, menu = "export", strings.TrimSuffix(strings.TrimSuffix(menu, "export"), " ")
			if menu == "" {
				menu = "/"
			}
		case knownMenu(menu):
			return nil // a menu line of a script
		default:
			return fmt.Errorf("%s: no such menu or command", menu)
		}
	}
	switch {
	case verb == "print" && menu == menuActive:
		return d.printActive(out, cmd, asJSON)
	case verb == "print" && menu == menuQueue:
		return d.printQueues(out, cmd, asJSON)
	case verb == "print" && menu == menuDHCPv6Client && d.dhcpv6Clients():
		return d.printDHCPv6Clients(out, cmd, asJSON)
	case verb == "print" && menu == menuIPv6Pool && d.dhcpv6Clients():
		return d.printIPv6Pools(out, cmd, asJSON)
	case verb == "remove" && menu == menuActive:
		return d.removeActive(cmd)
	case verb == "monitor" && menu == menuClient:
		return d.monitor(ctx, cmd, asJSON, out)
	case verb == "scan" && menu == menuClient:
		return d.scan(ctx, cmd, asJSON, out)
	case verb == "print":
		opt, err := printArgs(cmd)
		if err != nil {
			return err
		}
		cfg := d.Config()
		opt.Invalid = d.invalid(menu)
		var s string
		if asJSON {
			b, err := config.PrintJSONWith(cfg, menu, opt)
			if err != nil {
				return err
			}
			s = string(b) + "\n"
		} else if s, err = config.PrintWith(cfg, menu, opt); err != nil {
			return err
		}
		_, err = io.WriteString(out, s)
		return err
	case verb == "export":
		if len(cmd.Args) > 0 || cmd.Target != nil {
			return fmt.Errorf("export: unexpected argument %s", cmd.Args[0])
		}
		s, err := exportMenu(d.Config(), menu)
		if err != nil {
			return err
		}
		_, err = io.WriteString(out, s)
		return err
	}
	return fmt.Errorf("%s %s: no such command", menu, verb)
}

// knownMenu reports whether a script may move to menu: one of ours or a
// path leading to one ("/ppp", "/interface").
func knownMenu(menu string) bool {
	if menu == "/" {
		return true
	}
	for _, m := range append(config.Menus(), menuActive, menuQueue) {
		if m == menu || strings.HasPrefix(m, menu+" ") {
			return true
		}
	}
	return false
}

// printFlags reads the arguments of a print that takes only valueless
// flags among allowed, and no item selector: the flags given.
func printFlags(cmd config.Command, allowed ...string) (map[string]bool, error) {
	given := map[string]bool{}
	for _, a := range cmd.Args {
		if a.HasValue || !slices.Contains(allowed, a.Name) {
			return nil, fmt.Errorf("print: unsupported argument %s", a)
		}
		given[a.Name] = true
	}
	if cmd.Target != nil {
		return nil, fmt.Errorf("print: unexpected item selector")
	}
	return given, nil
}

// printArgs reads print's arguments: detail, and show-sensitive, which
// RouterOS requires before it prints a /radius secret. Only whoever may
// open the control socket (mode 0660: root and its group) can give it.
func printArgs(cmd config.Command) (config.PrintOptions, error) {
	var opt config.PrintOptions
	for _, a := range cmd.Args {
		switch {
		case a.HasValue:
			return opt, fmt.Errorf("print: unsupported argument %s", a)
		case a.Name == "detail":
			opt.Detail = true
		case a.Name == "show-sensitive":
			opt.ShowSensitive = true
		default:
			return opt, fmt.Errorf("print: unsupported argument %s", a)
		}
	}
	return opt, nil
}

// exportMenu is Export restricted to one menu (and its submenus), as
// "/ppp export" prints /ppp profile and /ppp secret.
func exportMenu(cfg *config.Config, menu string) (string, error) {
	all := config.Export(cfg)
	if menu == "/" {
		return all, nil
	}
	known := false
	for _, m := range config.Menus() {
		if m == menu || strings.HasPrefix(m, menu+" ") {
			known = true
		}
	}
	if !known {
		return "", fmt.Errorf("export: %s: no such menu", menu)
	}
	var b strings.Builder
	keep := false
	for _, line := range strings.SplitAfter(all, "\n") {
		if strings.HasPrefix(line, "/") {
			m := strings.TrimSpace(line)
			keep = m == menu || strings.HasPrefix(m, menu+" ")
		}
		if keep {
			b.WriteString(line)
		}
	}
	return b.String(), nil
}

func (d *Daemon) reloadCmd(ctx context.Context, out io.Writer) error {
	changes, err := d.Reload(ctx)
	if err != nil {
		return err
	}
	if len(changes) == 0 {
		_, err = io.WriteString(out, "no changes\n")
		return err
	}
	for _, c := range changes {
		if _, err := fmt.Fprintln(out, c); err != nil {
			return err
		}
	}
	return nil
}

// monitor prints a client's status every MonitorInterval until the caller
// goes away, or once.
func (d *Daemon) monitor(ctx context.Context, cmd config.Command, asJSON bool, out io.Writer) error {
	if d.opts.Clients == nil {
		return fmt.Errorf("pppoe-client: %w", errNotAvailable)
	}
	once := false
	for _, a := range cmd.Args {
		if a.Name != "once" || a.HasValue {
			return fmt.Errorf("monitor: unsupported argument %s", a)
		}
		once = true
	}
	cfg := d.Config()
	names := make([]string, 0, cfg.Clients.Len())
	for _, c := range cfg.Clients.All() {
		names = append(names, c.Name)
	}
	idx, err := selectItems(cmd.Target, len(names), func(i int, prop string) (string, bool) {
		return names[i], prop == "name"
	})
	if err != nil {
		return fmt.Errorf("monitor: %w", err)
	}
	if len(idx) != 1 {
		return fmt.Errorf("monitor: %d clients selected, want one", len(idx))
	}
	name := names[idx[0]]
	t := time.NewTicker(d.opts.MonitorInterval)
	defer t.Stop()
	for {
		st, err := d.opts.Clients.Monitor(name)
		if err != nil {
			return fmt.Errorf("monitor %s: %w", name, err)
		}
		if err := writeStatus(out, st, asJSON); err != nil {
			return err
		}
		if once {
			return nil
		}
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}

// writeStatus prints one monitor refresh in a single write, so the client
// can tell refreshes apart: RouterOS's "name: value" lines or one JSON
// object.
func writeStatus(out io.Writer, st ClientStatus, asJSON bool) error {
	var b bytes.Buffer
	if asJSON {
		j, err := st.MarshalJSON()
		if err != nil {
			return err
		}
		b.Write(j)
		b.WriteByte('\n')
	} else if err := st.Render(&b); err != nil {
		return err
	}
	_, err := out.Write(b.Bytes())
	return err
}

// scan runs "/interface pppoe-client scan IFACE [duration=N]". IFACE may be an
// /interface vlan name: the PADI then carries its tags.
func (d *Daemon) scan(ctx context.Context, cmd config.Command, asJSON bool, out io.Writer) error {
	if d.opts.Scan == nil {
		return fmt.Errorf("scan: %w", errNotAvailable)
	}
	iface, dur := "", config.Seconds(5*time.Second)
	for _, a := range cmd.Args {
		switch {
		case !a.HasValue && iface == "":
			iface = a.Name
		case a.HasValue && a.Name == "interface":
			iface = a.Value
		case a.HasValue && a.Name == "duration":
			if err := dur.UnmarshalText([]byte(a.Value)); err != nil {
				return &config.Error{Line: cmd.Line, Property: "duration", Err: err}
			}
		default:
			return fmt.Errorf("scan: unsupported argument %s", a)
		}
	}
	if iface == "" {
		return errors.New("scan: interface required")
	}
	offers, err := d.opts.Scan(ctx, iface, time.Duration(dur))
	if err != nil && !errors.Is(err, context.Canceled) {
		return fmt.Errorf("scan %s: %w", iface, err)
	}
	if asJSON {
		b, err := client.ScanJSON(offers)
		if err != nil {
			return err
		}
		_, err = out.Write(append(b, '\n'))
		return err
	}
	var b bytes.Buffer
	if err := client.RenderScan(&b, offers); err != nil {
		return err
	}
	_, err = out.Write(b.Bytes())
	return err
}
