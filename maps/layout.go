package maps

import (
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/btf"
)

// LayoutVersion numbers the layout of the pinned maps (bpf/types.h,
// bpf/maps.h). The fingerprint stamped beside it catches any change of a
// map's shape by itself; the version names layouts for people and for a
// migration, should one be written: bump it with every change to a pinned
// map's key, value or type.
//
//	1: the first stamped layout.
//	2: rates (configuration and bucket of a direction in one cache line)
//	   and rates_on replace rate_limits and rate_states; session_counters
//	   is padded to a cache line.
//	3: session_attrs keeps a delegated IPv6 prefix beside the link /64
//	   (pd_len, pd_prefix, pd_all; ipv6_prefix is its 8 bytes) for the
//	   upstream anti-spoof check.
const LayoutVersion = 3

// ErrLayoutChanged is wrapped by the error Open returns when the maps
// pinned under the pin path have another layout than this binary's.
var ErrLayoutChanged = errors.New("pinned BPF maps have another layout")

// LayoutError is the error Open returns when the pinned maps cannot be
// reused by this binary: installed sessions would be misread. It says
// what to do.
type LayoutError struct {
	PinPath string
	// Pinned and Want are the pinned maps' stamp and this binary's;
	// PinnedVersion 0 means the pins carry no stamp (a pppoed older than
	// layout stamps) and Map names the map the kernel found incompatible.
	PinnedVersion, WantVersion uint32
	PinnedPrint, WantPrint     [32]byte
	Map                        string
	Err                        error
}

func (e *LayoutError) Error() string {
	what := fmt.Sprintf("layout %d (%x), this pppoed has %d (%x)", e.PinnedVersion, e.PinnedPrint[:4], e.WantVersion, e.WantPrint[:4])
	if e.Map != "" {
		what = fmt.Sprintf("map %s does not match this pppoed's (%v)", e.Map, e.Err)
	}
	return fmt.Sprintf("maps: the BPF maps pinned under %s were made by another pppoed version: %s. "+
		"This pppoed cannot take over the sessions installed in them and has changed nothing. Either run the pppoed "+
		"that made them, or end those sessions first: stop it (systemctl stop pppoed: PADT to every subscriber) and "+
		"remove %s (rm -r %s), then start this one; subscribers reconnect", e.PinPath, what, e.PinPath, e.PinPath)
}

func (e *LayoutError) Unwrap() []error {
	if e.Err != nil {
		return []error{ErrLayoutChanged, e.Err}
	}
	return []error{ErrLayoutChanged}
}

// layoutFingerprint hashes the shape of every pinned map of spec: name,
// type, key and value sizes, flags, and the BTF of key and value (member
// names, offsets, sizes), but not the sizes Options sets (max entries).
func layoutFingerprint(spec *ebpf.CollectionSpec) [32]byte {
	h := sha256.New()
	names := make([]string, 0, len(spec.Maps))
	for name, m := range spec.Maps {
		if m.Pinning == ebpf.PinByName && name != dataplaneMapLayout {
			names = append(names, name)
		}
	}
	slices.Sort(names)
	for _, name := range names {
		m := spec.Maps[name]
		fmt.Fprintf(h, "%s %v %d %d %d\n", name, m.Type, m.KeySize, m.ValueSize, m.Flags)
		writeType(h, m.Key, 0)
		writeType(h, m.Value, 0)
	}
	var out [32]byte
	copy(out[:], h.Sum(nil))
	return out
}

// writeType writes a BTF type's layout: what a reader of the map's bytes
// depends on.
func writeType(w io.Writer, t btf.Type, depth int) {
	if t == nil || depth > 8 {
		fmt.Fprint(w, "-;")
		return
	}
	switch t := btf.UnderlyingType(t).(type) {
	case *btf.Struct:
		fmt.Fprintf(w, "struct %s %d{", t.Name, t.Size)
		for _, m := range t.Members {
			fmt.Fprintf(w, "%s@%d:%d ", m.Name, m.Offset, m.BitfieldSize)
			writeType(w, m.Type, depth+1)
		}
		fmt.Fprint(w, "};")
	case *btf.Union:
		fmt.Fprintf(w, "union %s %d{", t.Name, t.Size)
		for _, m := range t.Members {
			fmt.Fprintf(w, "%s@%d ", m.Name, m.Offset)
			writeType(w, m.Type, depth+1)
		}
		fmt.Fprint(w, "};")
	case *btf.Array:
		fmt.Fprintf(w, "[%d]", t.Nelems)
		writeType(w, t.Type, depth+1)
	case *btf.Int:
		fmt.Fprintf(w, "int%d%v;", t.Size, t.Encoding)
	case *btf.Enum:
		fmt.Fprintf(w, "enum%d;", t.Size)
	default:
		fmt.Fprintf(w, "%T;", t)
	}
}

// pinnedLayout reads the stamp pinned under pinPath; ok is false where
// there is none (no pins yet, or pins of a pppoed older than stamps).
func pinnedLayout(pinPath string) (stamp dataplaneLayoutStamp, ok bool, err error) {
	path := filepath.Join(pinPath, dataplaneMapLayout)
	if _, err := os.Stat(path); errors.Is(err, os.ErrNotExist) {
		return stamp, false, nil
	}
	m, err := ebpf.LoadPinnedMap(path, nil)
	if err != nil {
		return stamp, false, fmt.Errorf("maps: pinned %s: %w", path, err)
	}
	defer m.Close()
	if m.ValueSize() != uint32(len(stamp.Fingerprint)+8) {
		// Not a stamp as this binary knows it: another layout.
		return dataplaneLayoutStamp{Version: ^uint32(0)}, true, nil
	}
	if err := m.Lookup(uint32(0), &stamp); err != nil {
		return stamp, false, fmt.Errorf("maps: pinned %s: %w", path, err)
	}
	return stamp, stamp.Version != 0, nil
}

// checkLayout refuses pins stamped with another layout than want.
func checkLayout(pinPath string, want dataplaneLayoutStamp) error {
	got, ok, err := pinnedLayout(pinPath)
	if err != nil || !ok {
		return err
	}
	if got.Version != want.Version || got.Fingerprint != want.Fingerprint {
		return &LayoutError{PinPath: pinPath, PinnedVersion: got.Version, WantVersion: want.Version,
			PinnedPrint: got.Fingerprint, WantPrint: want.Fingerprint}
	}
	return nil
}

// incompatibleMap names a pinned map that does not match its spec after a
// load failed with ErrMapIncompatible, "" if it finds none; capacity is
// true when only the number of entries differs (another --capacity, not
// another layout).
func incompatibleMap(spec *ebpf.CollectionSpec, pinPath string) (name string, capacity bool) {
	names := make([]string, 0, len(spec.Maps))
	for name := range spec.Maps {
		names = append(names, name)
	}
	slices.Sort(names)
	sized := ""
	for _, name := range names {
		m := spec.Maps[name]
		if m.Pinning != ebpf.PinByName {
			continue
		}
		p, lerr := ebpf.LoadPinnedMap(filepath.Join(pinPath, name), nil)
		if lerr != nil {
			continue
		}
		shape := p.Type() != m.Type || p.KeySize() != m.KeySize || p.ValueSize() != m.ValueSize
		// A spec without a size (a perf event array: one entry per CPU)
		// is sized by the kernel, so its pinned size says nothing.
		size := m.MaxEntries != 0 && p.MaxEntries() != m.MaxEntries
		p.Close()
		if shape {
			return name, false
		}
		if size && sized == "" {
			sized = name
		}
	}
	return sized, sized != ""
}
