package state

import (
	"crypto/rand"
	"fmt"

	bolt "go.etcd.io/bbolt"
)

// metaServerUUID is the UUID of the AC's DHCPv6 DUID (16 bytes).
var metaServerUUID = []byte("dhcpv6_server_uuid")

// ServerUUID returns the UUID the AC's DHCPv6 server DUID is made of
// (DUID-UUID, RFC 8415 §11.5), drawing and storing a random one (RFC
// 9562 version 4) the first time. A DUID is a server's for good (RFC 8415
// §11): clients keep it to Renew with, and a server that came back under
// another would refuse their Renews (§18.3.4) until they Rebind.
func (s *Store) ServerUUID() ([16]byte, error) {
	var id [16]byte
	err := s.syncedUpdate(func(tx *bolt.Tx) error {
		meta := tx.Bucket(bucketMeta)
		if v := meta.Get(metaServerUUID); len(v) == len(id) {
			copy(id[:], v)
			return nil
		}
		if _, err := rand.Read(id[:]); err != nil {
			return err
		}
		id[6] = id[6]&0x0f | 0x40 // version 4
		id[8] = id[8]&0x3f | 0x80 // variant 10
		return meta.Put(metaServerUUID, id[:])
	})
	if err != nil {
		return id, fmt.Errorf("state: dhcpv6 server uuid: %w", err)
	}
	return id, nil
}
