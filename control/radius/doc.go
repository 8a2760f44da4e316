// Package radius is pppoe-xdp's RADIUS client: authentication (RFC 2865,
// RFC 2548 for MS-CHAP), accounting (RFC 2866, RFC 2869) and dynamic
// authorization (RFC 5176), over layeh.com/radius's codec and generated
// dictionaries (rfc2865…rfc5176, vendors/microsoft, vendors/mikrotik).
//
// It is a building block: it knows servers, packets and queues, not
// sessions. The session engine turns a PPP link's credentials into an
// AuthRequest, a session's counters into Usage, and implements Handler
// for Disconnect and CoA.
//
// Trust: every request carries a Message-Authenticator; an
// Access-Accept or Access-Reject counts only with a right Response
// Authenticator and a right Message-Authenticator (BlastRADIUS,
// CVE-2024-3596; Server.AcceptUnsigned relaxes the latter for servers that
// cannot sign); an answer that matches no outstanding request, or fails a
// check, is dropped as if it never came, so a forger racing the real
// server cannot end a request. layeh.com/radius does none of the
// Message-Authenticator work (packet.go does it on the encoded bytes).
//
// Secrets are of type Secret, which prints as "<hidden>" in every format,
// so no log line or dump shows one.
package radius
