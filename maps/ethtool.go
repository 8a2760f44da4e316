package maps

import (
	"encoding/binary"
	"fmt"
	"runtime"
	"unsafe"

	"golang.org/x/sys/unix"
)

// ethtool string set of offload features (enum ethtool_stringset).
const (
	ethSSFeatures  = 4
	ethGStringLen  = 32
	featureBlockSz = 16 // struct ethtool_get_features_block: 4 x u32
)

// setFeatures sets named offload features of a device on or off (ethtool
// -K name feature on|off) where they are not already. It returns the
// features it changed and those that are fixed (not changeable) in the
// wrong state; names the device does not know are ignored.
func setFeatures(dev string, names []string, on bool) (changed, fixed []string, err error) {
	all, err := featureNames(dev)
	if err != nil {
		return nil, nil, err
	}
	n := (len(all) + 31) / 32
	get := make([]byte, 8+n*featureBlockSz)
	binary.NativeEndian.PutUint32(get, unix.ETHTOOL_GFEATURES)
	binary.NativeEndian.PutUint32(get[4:], uint32(n))
	if err := ethtoolIoctl(dev, get); err != nil {
		return nil, nil, err
	}
	word := func(block, field int) uint32 {
		return binary.NativeEndian.Uint32(get[8+block*featureBlockSz+field*4:])
	}
	set := make([]byte, 8+n*8)
	binary.NativeEndian.PutUint32(set, unix.ETHTOOL_SFEATURES)
	binary.NativeEndian.PutUint32(set[4:], uint32(n))
	for _, want := range names {
		bit := -1
		for i, name := range all {
			if name == want {
				bit = i
			}
		}
		if bit < 0 {
			continue
		}
		blk, mask := bit/32, uint32(1)<<(bit%32)
		active := word(blk, 2)&mask != 0
		if active == on {
			continue
		}
		if word(blk, 0)&mask == 0 || word(blk, 3)&mask != 0 { // not available, or never changes
			fixed = append(fixed, want)
			continue
		}
		valid := binary.NativeEndian.Uint32(set[8+blk*8:]) | mask
		req := binary.NativeEndian.Uint32(set[8+blk*8+4:]) &^ mask
		if on {
			req |= mask
		}
		binary.NativeEndian.PutUint32(set[8+blk*8:], valid)
		binary.NativeEndian.PutUint32(set[8+blk*8+4:], req)
		changed = append(changed, want)
	}
	if len(changed) == 0 {
		return nil, fixed, nil
	}
	if err := ethtoolIoctl(dev, set); err != nil {
		return nil, fixed, fmt.Errorf("set %v: %w", changed, err)
	}
	return changed, fixed, nil
}

// featureNames is the device's ETH_SS_FEATURES string set: the name of
// each feature bit.
func featureNames(dev string) ([]string, error) {
	info := make([]byte, 20) // struct ethtool_sset_info with one data word
	binary.NativeEndian.PutUint32(info, unix.ETHTOOL_GSSET_INFO)
	binary.NativeEndian.PutUint64(info[8:], 1<<ethSSFeatures)
	if err := ethtoolIoctl(dev, info); err != nil {
		return nil, err
	}
	if binary.NativeEndian.Uint64(info[8:]) == 0 {
		return nil, fmt.Errorf("%s: no feature names", dev)
	}
	count := int(binary.NativeEndian.Uint32(info[16:]))
	strs := make([]byte, 12+count*ethGStringLen) // struct ethtool_gstrings
	binary.NativeEndian.PutUint32(strs, unix.ETHTOOL_GSTRINGS)
	binary.NativeEndian.PutUint32(strs[4:], ethSSFeatures)
	binary.NativeEndian.PutUint32(strs[8:], uint32(count))
	if err := ethtoolIoctl(dev, strs); err != nil {
		return nil, err
	}
	names := make([]string, count)
	for i := range names {
		names[i] = unix.ByteSliceToString(strs[12+i*ethGStringLen : 12+(i+1)*ethGStringLen])
	}
	return names, nil
}

// ethtoolIoctl runs one SIOCETHTOOL command whose struct (command first)
// is buf.
func ethtoolIoctl(dev string, buf []byte) error {
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return err
	}
	defer unix.Close(fd)
	var ifr struct {
		name [unix.IFNAMSIZ]byte
		data uintptr
		_    [16]byte
	}
	copy(ifr.name[:], dev)
	ifr.data = uintptr(unsafe.Pointer(&buf[0]))
	_, _, errno := unix.Syscall(unix.SYS_IOCTL, uintptr(fd), unix.SIOCETHTOOL, uintptr(unsafe.Pointer(&ifr)))
	runtime.KeepAlive(buf)
	if errno != 0 {
		return fmt.Errorf("%s: ethtool command %#x: %w", dev, binary.NativeEndian.Uint32(buf), errno)
	}
	return nil
}

// ethtoolValue runs one SIOCETHTOOL command that takes or returns a
// struct ethtool_value, and returns the value.
func ethtoolValue(name string, cmd, data uint32) (uint32, error) {
	var buf [8]byte
	binary.NativeEndian.PutUint32(buf[0:], cmd)
	binary.NativeEndian.PutUint32(buf[4:], data)
	if err := ethtoolIoctl(name, buf[:]); err != nil {
		return 0, err
	}
	return binary.NativeEndian.Uint32(buf[4:]), nil
}
