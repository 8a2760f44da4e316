package daemon

import (
	"context"
	"fmt"
	"io"
	"os"
	"time"
)

// settle is how long a config file must have stayed unchanged to be read
// as final. Editors and configuration tools that write in place truncate
// the file and then write it, in several writes for a large one; a read
// between two of them would see a valid but truncated configuration, and
// a reload would end the sessions of every secret not yet written.
var settle = 100 * time.Millisecond

// maxReads bounds the reads of a file that keeps changing.
const maxReads = 10

// readStable reads a config file whole, as one consistent version: the
// size and modification time it had when opened are still its size and
// time after the read, and it was last modified at least settle before;
// else it waits and reads again. Writing the file to a temporary name and
// renaming it over the old one makes every read consistent at once.
func readStable(ctx context.Context, path string) ([]byte, error) {
	for n := 1; ; n++ {
		b, st, err := readOnce(path)
		if err != nil {
			return nil, err
		}
		if st != nil {
			age := time.Since(st.ModTime())
			if age >= settle || age < 0 {
				return b, nil
			}
			if err := sleep(ctx, settle-age); err != nil {
				return nil, err
			}
			if now, err := os.Stat(path); err == nil && os.SameFile(st, now) && now.Size() == st.Size() &&
				now.ModTime().Equal(st.ModTime()) {
				return b, nil
			}
		}
		if n == maxReads {
			return nil, fmt.Errorf("%s: still changing after %d reads: write it to a temporary file and rename that over it", path, n)
		}
		if err := sleep(ctx, settle); err != nil {
			return nil, err
		}
	}
}

// readOnce reads path whole. It returns a nil FileInfo if the file changed
// while being read.
func readOnce(path string) ([]byte, os.FileInfo, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, nil, err
	}
	defer f.Close()
	before, err := f.Stat()
	if err != nil {
		return nil, nil, err
	}
	if !before.Mode().IsRegular() {
		return nil, nil, fmt.Errorf("%s: not a regular file", path)
	}
	b, err := io.ReadAll(f)
	if err != nil {
		return nil, nil, err
	}
	after, err := f.Stat()
	if err != nil {
		return nil, nil, err
	}
	if after.Size() != int64(len(b)) || after.Size() != before.Size() || !after.ModTime().Equal(before.ModTime()) {
		return b, nil, nil
	}
	return b, after, nil
}

func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
