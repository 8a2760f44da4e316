package client

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/pppoe-xdp/pppoe-xdp/control/config"
	"github.com/pppoe-xdp/pppoe-xdp/control/pppoe"
)

// Offer is one row of "/interface pppoe-client scan": an access
// concentrator and a service it offers (RFC 2516 §5.2 PADO).
type Offer struct {
	Service    string `json:"service"`
	MACAddress string `json:"mac-address"`
	ACName     string `json:"ac-name"`
}

// Scan broadcasts PADIs on the interface iface for d and returns every
// answering AC, one row per (AC, service), in the order they answered.
func Scan(ctx context.Context, ifs Interfaces, iface string, d time.Duration) ([]Offer, error) {
	att, err := ifs.Attach(iface)
	if err != nil {
		return nil, fmt.Errorf("client: scan %s: %w", iface, err)
	}
	defer att.Conn.Close()
	return ScanConn(ctx, att, d)
}

// ScanConn is Scan on an attachment already open.
func ScanConn(ctx context.Context, att Attachment, d time.Duration) ([]Offer, error) {
	offers, err := pppoe.Scan(ctx, att.Conn, d, pppoe.ClientConfig{MAC: att.MAC, VLANs: att.VLANs})
	out := make([]Offer, len(offers))
	for i, o := range offers {
		out[i] = Offer{Service: o.Service, MACAddress: strings.ToUpper(o.MACAddress.String()), ACName: o.ACName}
	}
	if err != nil {
		return out, fmt.Errorf("client: scan: %w", err)
	}
	return out, nil
}

// RenderScan writes offers as RouterOS prints the scanner: a numbered
// table with the columns SERVICE, MAC-ADDRESS and AC-NAME.
func RenderScan(w io.Writer, offers []Offer) error {
	tw := tabwriter.NewWriter(w, 0, 0, 1, ' ', 0)
	fmt.Fprintln(tw, " #\tSERVICE\tMAC-ADDRESS\tAC-NAME")
	for i, o := range offers {
		// Service and AC-Name come from any host on the segment.
		fmt.Fprintf(tw, "%2d\t%s\t%s\t%s\n", i, config.Cell(o.Service), o.MACAddress, config.Cell(o.ACName))
	}
	return tw.Flush()
}

// ScanJSON encodes offers for scripts: an array of objects with the keys
// service, mac-address and ac-name.
func ScanJSON(offers []Offer) ([]byte, error) {
	if offers == nil {
		offers = []Offer{}
	}
	return json.Marshal(offers)
}
