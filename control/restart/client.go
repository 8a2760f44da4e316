package restart

// Clients adopts the client sessions (/interface pppoe-client) a previous
// run left: Reconcile offers it every installed session marked as a
// client's (maps.Installed.Client) with its record, as it offers the
// access concentrator's to the Adopter; an error sweeps the session as
// any other (PADT to the AC, entries removed, record deleted).
// control/host.ClientAdoption over control/client.Manager implements it.
type Clients interface {
	Adopter
	// Reconciled is called once every session was offered: the clients,
	// held until then, go on (with the session they adopted, or dialing).
	Reconciled()
}

// adopterOf is who is offered an installed session: client sessions go
// to the clients, the others to the access concentrator. A nil one
// (none given) sweeps the session.
func adopterOf(o Options, client bool) Adopter {
	if client {
		if o.Clients == nil {
			return nil
		}
		return o.Clients
	}
	return o.Adopter
}
