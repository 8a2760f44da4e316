package maps

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"go.uber.org/zap"
	"golang.org/x/sys/unix"
)

// sysBPF is where a host keeps its bpffs, and where bpftool looks for it.
const sysBPF = "/sys/fs/bpf"

// prepareBPFFS makes dir a directory on a bpffs, mounting one only where
// it hides nothing:
//   - dir, or its nearest existing ancestor, is on a bpffs: use it;
//   - dir is below /sys/fs/bpf and nothing is mounted there: mount there,
//     as the host would have (sysfs keeps that directory empty for it);
//   - otherwise mount on dir itself, which must be missing or empty: a
//     mount over the parent would hide the files next to dir (a config, a
//     socket), and one over a directory with files would hide them.
//
// It returns where it mounted a bpffs, "" if it did not.
func prepareBPFFS(dir string) (string, error) {
	dir, err := filepath.Abs(dir)
	if err != nil {
		return "", fmt.Errorf("maps: bpffs %s: %w", dir, err)
	}
	onBPFFS, err := isBPFFS(nearestExisting(dir))
	if err != nil {
		return "", err
	}
	mountAt := ""
	switch {
	case onBPFFS:
	case dir == sysBPF || strings.HasPrefix(dir, sysBPF+"/"):
		if _, err := os.Stat(sysBPF); err != nil {
			return "", fmt.Errorf("maps: bpffs %s: %w (is sysfs mounted on /sys?)", dir, err)
		}
		mountAt = sysBPF
	default:
		if err := os.MkdirAll(dir, 0o700); err != nil {
			return "", fmt.Errorf("maps: bpffs %s: %w", dir, err)
		}
		ents, err := os.ReadDir(dir)
		if err != nil {
			return "", fmt.Errorf("maps: bpffs %s: %w", dir, err)
		}
		if len(ents) > 0 {
			return "", fmt.Errorf("maps: %s is not on a bpffs and holds files (%s, …): refusing to mount a bpffs "+
				"over them; give a directory below a mounted bpffs, an empty directory, or one that does not exist", dir, ents[0].Name())
		}
		mountAt = dir
	}
	if mountAt != "" {
		if err := unix.Mount("bpf", mountAt, "bpf", 0, "mode=0700"); err != nil {
			return "", fmt.Errorf("maps: mount bpffs on %s: %w", mountAt, err)
		}
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return "", fmt.Errorf("maps: bpffs %s: %w", dir, err)
	}
	return mountAt, nil
}

// removePinDir removes the emptied pin directory; where a bpffs was
// mounted on the directory itself (prepareBPFFS's last case) that mount
// goes first, or the directory could not go.
func removePinDir(dir string) error {
	var st, up unix.Stat_t
	if err := unix.Stat(dir, &st); err != nil {
		if errors.Is(err, unix.ENOENT) {
			return nil
		}
		return err
	}
	if err := unix.Stat(filepath.Dir(dir), &up); err == nil && st.Dev != up.Dev {
		if ents, err := os.ReadDir(dir); err == nil && onlyPreloaded(ents) {
			if err := unix.Unmount(dir, unix.MNT_DETACH); err != nil {
				return fmt.Errorf("unmount %s: %w", dir, err)
			}
		}
	}
	if err := os.Remove(dir); err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	return nil
}

// onlyPreloaded reports whether a bpffs root holds nothing but what the
// kernel puts in every new one (the maps.debug and progs.debug iterators).
func onlyPreloaded(ents []os.DirEntry) bool {
	for _, e := range ents {
		if e.Name() != "maps.debug" && e.Name() != "progs.debug" {
			return false
		}
	}
	return true
}

// nearestExisting returns dir or its closest ancestor that exists.
func nearestExisting(dir string) string {
	for {
		if _, err := os.Stat(dir); err == nil || dir == "/" {
			return dir
		}
		dir = filepath.Dir(dir)
	}
}

func isBPFFS(path string) (bool, error) {
	var st unix.Statfs_t
	if err := unix.Statfs(path, &st); err != nil {
		return false, fmt.Errorf("maps: bpffs %s: %w", path, err)
	}
	return st.Type == unix.BPF_FS_MAGIC, nil
}

// privateMountNS reports whether this process's mount namespace is not
// the host's, as under `ip netns exec` (which also remounts /sys): a bpffs
// mounted there is seen by nobody else and goes away with the namespace.
// The host's is init's; where init's can't be read (a sandbox), the
// parent's stands in for it, which is what `ip netns exec` and `unshare`
// leave behind.
func privateMountNS() bool {
	self, err := os.Readlink("/proc/self/ns/mnt")
	if err != nil {
		return false // no /proc: can't tell, say nothing
	}
	for _, pid := range []int{1, os.Getppid()} {
		if other, err := os.Readlink(fmt.Sprintf("/proc/%d/ns/mnt", pid)); err == nil {
			return self != other
		}
	}
	return false
}

// warnPrivateMount says, once, what a bpffs mounted in a private mount
// namespace costs and how to avoid it.
func warnPrivateMount(log *zap.Logger, mountedAt string) {
	if mountedAt == "" || !privateMountNS() {
		return
	}
	log.Warn("mounted a bpffs inside a private mount namespace: bpftool outside it cannot see the pinned maps, "+
		"and they go away when pppoed exits, so sessions cannot survive a restart; "+
		"mount a bpffs the host shares (mount -t bpf bpf /sys/fs/bpf in the host's namespace, "+
		"bound into this one) and point --bpffs below it",
		zap.String("mounted_at", mountedAt))
}
