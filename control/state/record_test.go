package state

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"net/netip"
	"path/filepath"
	"reflect"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"
)

func TestRecordRoundTrip(t *testing.T) {
	for _, rec := range []Session{
		full(1),
		{Handle: 2, Role: RoleServer, Phase: PhaseUp}, // nearly empty: every list and time absent
		{Handle: 3, Role: RoleServer, Phase: PhaseUp, IPv6: &IPv6{}},
		{Handle: 4, Role: RoleClient, Phase: PhaseUp, ClientState: &ClientState{Config: "digest", ACName: "ac1",
			SLAAC: netip.MustParsePrefix("2001:db8:0:1::2/64"), SLAACUntil: time.Date(2026, 12, 2, 18, 0, 0, 0, time.UTC)}},
	} {
		b, err := rec.MarshalBinary()
		if err != nil {
			t.Fatal(err)
		}
		if b[0] != recordV1 {
			t.Errorf("record %d starts with %d, want the version %d", rec.Handle, b[0], recordV1)
		}
		var got Session
		if err := got.UnmarshalBinary(b); err != nil {
			t.Fatalf("record %d: %v", rec.Handle, err)
		}
		if !reflect.DeepEqual(got, rec) {
			t.Errorf("record %d:\n got %+v\nwant %+v", rec.Handle, got, rec)
		}
	}
}

// Damaged records are an error, never a panic or a huge allocation.
func TestRecordDamaged(t *testing.T) {
	rec := full(1)
	good, err := rec.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name string
		b    []byte
		eof  bool
	}{
		{"empty", nil, true},
		{"version only", []byte{recordV1}, true},
		{"truncated", good[:len(good)/2], true},
		{"one byte short", good[:len(good)-1], true},
		{"trailing byte", append(append([]byte(nil), good...), 0), false},
		{"unknown version", append([]byte{recordV1 + 1}, good[1:]...), false},
		{"JSON (format 1)", []byte(`{"handle":1}`), false},
		// version, handle 1, then the role's length: 2^63, far past the end.
		{"huge length", []byte{recordV1, 0, 0, 0, 0, 0, 0, 0, 1, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x01}, true},
		// version, handle 1, role "", phase "", sid, MACs, name "", parent
		// "", ifindex, no VLAN, client "", magics, MRU, MTU, MSS, MP
		// sequence, four empty strings, then an address 7 bytes long.
		{"bad address length", append(append([]byte{recordV1, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 1},
			make([]byte, 12+2+4+1+1+4+4+2+2+2+4+4)...), 7), false},
	} {
		var s Session
		err := s.UnmarshalBinary(c.b)
		if err == nil {
			t.Errorf("%s: decoded", c.name)
			continue
		}
		if c.eof != errors.Is(err, io.ErrUnexpectedEOF) {
			t.Errorf("%s: %v; io.ErrUnexpectedEOF %v", c.name, err, c.eof)
		}
	}
}

// A format 1 file (JSON records, each with its link as JSON) is
// migrated at Open: every record re-encoded, its link kept as the JSON it
// was (the server reads both), the version stamped 2; a record that
// does not decode stays and is reported as bad, as before.
func TestFormat1Migrated(t *testing.T) {
	dir := t.TempDir()
	open(t, dir).Close()
	const v1 = `{"handle":7,"role":"server","phase":"up","session_id":7,` +
		`"peer_mac":"02:00:00:00:00:07","local_mac":"02:ac:00:00:00:01",` +
		`"interface":{"name":"ether1","parent":"ether1","ifindex":5,"vlans":[{"tpid":33024,"id":100}]},` +
		`"magic_local":1,"magic_peer":2,"mru":1492,"mtu":1492,"user":"alice","profile":"p","service":"internet","pool":"subs",` +
		`"local_ipv4":"10.0.0.1","peer_ipv4":"10.64.0.9","dns":["192.0.2.53"],"started":"2026-12-02T10:00:00Z",` +
		`"counters":{"packets_up":1,"bytes_up":2,"packets_down":3,"bytes_down":4,"base":{"packets_up":10,"bytes_up":20,"packets_down":0,"bytes_down":0}},` +
		`"radius_class":["AAEC/w=="],"session_timeout":3600000000000,"rate_limit":"10M/5M",` +
		`"link":{"Info":{"MRU":1492},"LCP":{"Protocol":49185}}}`
	db, err := bolt.Open(filepath.Join(dir, FileName), 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	err = db.Update(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketSessions)
		if err := b.Put(handleKey(7), []byte(v1)); err != nil {
			return err
		}
		return b.Put(handleKey(8), []byte(`{"handle":8,`))
	})
	db.Close()
	if err != nil {
		t.Fatal(err)
	}
	setFormat(t, dir, 1)

	s := open(t, dir)
	got, bad, err := s.Sessions()
	if err != nil || len(got) != 1 || !reflect.DeepEqual(bad, []uint64{8}) {
		t.Fatalf("Sessions after migration: %d records, bad %v, %v; want record 7 and bad [8]", len(got), bad, err)
	}
	want := Session{Handle: 7, Role: RoleServer, Phase: PhaseUp, SessionID: 7,
		PeerMAC: MAC{2, 0, 0, 0, 0, 7}, LocalMAC: MAC{2, 0xac, 0, 0, 0, 1},
		Iface:      Interface{Name: "ether1", Parent: "ether1", Ifindex: 5, VLANs: []VLAN{{TPID: 0x8100, ID: 100}}},
		MagicLocal: 1, MagicPeer: 2, MRU: 1492, MTU: 1492, User: "alice", Profile: "p", Service: "internet", Pool: "subs",
		LocalIPv4: netip.MustParseAddr("10.0.0.1"), PeerIPv4: netip.MustParseAddr("10.64.0.9"),
		DNS:         []netip.Addr{netip.MustParseAddr("192.0.2.53")},
		Started:     time.Date(2026, 12, 2, 10, 0, 0, 0, time.UTC),
		Counters:    Counters{PacketsUp: 1, BytesUp: 2, PacketsDown: 3, BytesDown: 4, Base: &Counters{PacketsUp: 10, BytesUp: 20}},
		RADIUSClass: [][]byte{{0, 1, 2, 0xff}}, SessionTimeout: time.Hour, RateLimit: "10M/5M",
		Link: []byte(`{"Info":{"MRU":1492},"LCP":{"Protocol":49185}}`)}
	if !reflect.DeepEqual(got[0], want) {
		t.Errorf("migrated record\n got %+v\nwant %+v", got[0], want)
	}
	err = s.db.View(func(tx *bolt.Tx) error {
		if v := tx.Bucket(bucketSessions).Get(handleKey(7)); len(v) == 0 || v[0] != recordV1 {
			t.Errorf("record 7 stored as %q, want the binary form", v)
		}
		if v := tx.Bucket(bucketSessions).Get(handleKey(8)); !bytes.Equal(v, []byte(`{"handle":8,`)) {
			t.Errorf("the undecodable record became %q", v)
		}
		if v := tx.Bucket(bucketMeta).Get(metaFormat); !bytes.Equal(v, []byte{0, 0, 0, 2}) {
			t.Errorf("format %x after migration, want 2", v)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

func FuzzRecord(f *testing.F) {
	rec := full(1)
	b, _ := rec.MarshalBinary()
	f.Add(b)
	f.Add([]byte{recordV1})
	f.Fuzz(func(t *testing.T, b []byte) {
		var s Session
		if s.UnmarshalBinary(b) != nil {
			return
		}
		again, err := s.MarshalBinary()
		if err != nil {
			t.Fatal(err)
		}
		var s2 Session
		if err := s2.UnmarshalBinary(again); err != nil || !reflect.DeepEqual(s, s2) {
			t.Fatalf("re-decoded %+v, %v; want %+v", s2, err, s)
		}
	})
}

// BenchmarkDecodeRecord: one full record (every field set) decoded from
// its binary form, and from the JSON of format 1 for comparison.
func BenchmarkDecodeRecord(b *testing.B) {
	rec := full(1)
	bin, _ := rec.MarshalBinary()
	js, _ := json.Marshal(&rec)
	b.Run("binary", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			var s Session
			if err := s.UnmarshalBinary(bin); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("json", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := decodeV1(js); err != nil {
				b.Fatal(err)
			}
		}
	})
}
