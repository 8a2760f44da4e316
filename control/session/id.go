package session

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync/atomic"
)

// ID is a session's handle: 64 bits, never 0, unique among the sessions of
// one IDs and never handed out twice by it. It names the session in logs,
// in /ppp active (as RouterOS's .id) and for removal; the PPPoE session id
// cannot, being unique per client MAC only (RFC 2516 §4) and reused once
// its 16 bits wrap.
type ID uint64

// String returns the id as RouterOS prints an item's .id: "*" and upper-case
// hex, "*1A".
func (id ID) String() string { return "*" + strings.ToUpper(strconv.FormatUint(uint64(id), 16)) }

// ErrBadID is wrapped by ParseID's errors.
var ErrBadID = errors.New("not a session .id")

// ParseID parses an id as String prints it ("*1a" as well: RouterOS reads
// hex in either case).
func ParseID(s string) (ID, error) {
	hex, ok := strings.CutPrefix(s, "*")
	if !ok || hex == "" || len(hex) > 16 {
		return 0, fmt.Errorf("%q: %w (*1A)", s, ErrBadID)
	}
	n, err := strconv.ParseUint(hex, 16, 64)
	if err != nil || n == 0 {
		return 0, fmt.Errorf("%q: %w (*1A)", s, ErrBadID)
	}
	return ID(n), nil
}

// IDs hands out session handles in increasing order from a seed. Seeded with
// 1 it makes them unique for the life of the process. To make them unique
// for the life of a state directory (RADIUS Acct-Session-Id must not repeat
// across restarts), the directory keeps the highest id reserved and a
// restart seeds IDs above it, reserving ahead in blocks so that not every
// session costs a write. IDs is safe for concurrent use.
type IDs struct {
	last atomic.Uint64
}

// NewIDs returns an allocator whose first id is first (1 if first is 0).
func NewIDs(first ID) *IDs {
	ids := &IDs{}
	if first == 0 {
		first = 1
	}
	ids.last.Store(uint64(first) - 1)
	return ids
}

// Next returns a new id.
func (ids *IDs) Next() ID { return ID(ids.last.Add(1)) }
