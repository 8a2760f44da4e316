// Package state is pppoed's state directory: what a new process needs to
// pick up the sessions a previous one left in the pinned BPF maps (after a
// restart, an upgrade or a crash) and to go on with discovery as if
// nothing happened: one record per session, the AC-Cookie key, the PPPoE
// session-id cursor, the session handle ceiling, and how the last run
// ended.
//
// # Storage and durability
//
// The state is one bbolt file, state.db, in the directory given to Open
// (pppoed's --state-dir, /var/lib/pppoe-xdp by default). bbolt is a
// copy-on-write B+tree: a transaction is committed by writing its pages,
// then the meta page that makes them current. A process killed at any
// point leaves the file at the last committed transaction, never half of
// one.
//
// What must survive is the daemon, not the machine: the sessions a record
// describes live in pinned BPF maps, which a reboot (or kernel crash, or
// power cut) takes away with the page cache. So Put and Delete return
// once their transaction is written to the file (in the page cache: a
// kill -9 of pppoed the next instant loses nothing), without waiting for
// fdatasync, which costs a setup milliseconds on an ordinary disk
// (README, restart). What outlives a reboot is synced before its method
// returns: the AC-Cookie key, the handle ceiling (ReserveHandles), the
// exit record. Open notices a reboot (the kernel's boot_id differs from
// the one the file was last opened under): it drops the session records,
// which name nothing any more, after checking the file; a file that a
// power cut left inconsistent is moved aside (state.db.damaged-TIME) and
// a new one started, with a warning. Options.Sync syncs every write.
//
// Writes that arrive together (sessions set up in parallel) share one
// transaction: Put and Delete go through bbolt's Batch, which waits up to
// Options.MaxBatchDelay for companions. pppoed writes through a Writer
// instead (writer.go): the session event loops only queue, one goroutine
// commits.
//
// Other buckets (the RADIUS backend's accounting, Writer.PutIn) hold
// per-key records of other kinds; unlike the session records they are
// kept across a reboot.
//
// # Format and versions
//
// The file holds two buckets. "meta" has fixed keys (see the meta*
// constants), among them "format": the format version, a big-endian
// uint32, FormatVersion for files this code writes. "sessions" maps a
// session's handle (big-endian uint64, so the bucket is in handle order)
// to its Session record in a compact binary form whose first byte is the
// record's own version (record.go). Format 1 held JSON records; format 2
// the binary ones, which a start with 100,000 sessions decodes several
// times faster.
//
// Open compares the file's format with FormatVersion: equal, it is used
// as is; older, the migrations from its version up to this one run in one
// transaction (a failed migration leaves the file untouched) and the new
// version is written (1 to 2 re-encodes every session record); newer (a
// downgrade to a binary that does not know the format), Open fails with
// ErrFormatTooNew and changes nothing, so that the newer binary can still
// use it. A change that older binaries can read (a new meta key, a new
// bucket) does not bump the version; one that they would misread (a
// field added to the binary record) does, with a migration.
package state

import (
	"bytes"
	"crypto/rand"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"sync"
	"time"

	bolt "go.etcd.io/bbolt"
)

// DefaultDir is pppoed's --state-dir unless given (systemd's
// StateDirectory=pppoe-xdp).
const DefaultDir = "/var/lib/pppoe-xdp"

// FileName is the store's file in the state directory.
const FileName = "state.db"

// FormatVersion is the format this code reads and writes: 1 had JSON
// session records, 2 has binary ones.
const FormatVersion uint32 = 2

// ErrFormatTooNew is returned by Open for a file written by a newer
// pppoed in a format this one does not know.
var ErrFormatTooNew = errors.New("state: file format newer than this pppoed")

// Buckets and meta keys.
var (
	bucketMeta     = []byte("meta")
	bucketSessions = []byte("sessions")

	metaFormat        = []byte("format")         // uint32: FormatVersion
	metaCookieKey     = []byte("cookie_key")     // 32 bytes: AC-Cookie HMAC key
	metaSIDCursor     = []byte("sid_cursor")     // uint16: pppoe.SessionIDs' cursor
	metaHandleCeiling = []byte("handle_ceiling") // uint64: no handle above it was handed out
	metaLastExit      = []byte("last_exit")      // JSON Exit: how the last run ended
	metaBootID        = []byte("boot_id")        // the kernel boot_id the file was last opened under
)

// migrations[v] turns a format v file into format v+1, inside the
// transaction Open runs them in.
var migrations = map[uint32]func(tx *bolt.Tx) error{1: binaryRecords}

// binaryRecords is the migration from format 1 to 2: every session
// record re-encoded from JSON. One that does not decode is left as it is:
// Sessions reports it as bad, and the start sweeps it as before.
func binaryRecords(tx *bolt.Tx) error {
	b := tx.Bucket(bucketSessions)
	type kv struct{ k, v []byte }
	var recoded []kv
	err := b.ForEach(func(k, v []byte) error {
		rec, err := decodeV1(v)
		if err != nil {
			return nil
		}
		nv, err := rec.MarshalBinary()
		if err != nil {
			return nil
		}
		recoded = append(recoded, kv{append([]byte(nil), k...), nv})
		return nil
	})
	if err != nil {
		return err
	}
	for _, r := range recoded {
		if err := b.Put(r.k, r.v); err != nil {
			return err
		}
	}
	return nil
}

// Options tune Open.
type Options struct {
	// MaxBatchDelay is how long a Put or Delete waits for others to share
	// its transaction; 0 means DefaultMaxBatchDelay.
	MaxBatchDelay time.Duration
	// Sync makes Put and Delete wait for fdatasync too, so that records
	// survive a power cut; nothing needs them then (see the package doc),
	// and every setup pays a sync. For measuring that cost.
	Sync bool
	// Log receives the warning of a damaged file moved aside; nil: none.
	Log func(msg string)
	// BootID overrides the kernel's boot_id (tests).
	BootID string
}

// DefaultMaxBatchDelay bounds the latency Batch adds to a session's setup.
const DefaultMaxBatchDelay = time.Millisecond

// Store is an open state directory. Its methods are safe for concurrent
// use.
type Store struct {
	db   *bolt.DB
	path string
}

// Open opens (creating it if needed) the store in dir. The directory is
// created with mode 0700: it holds the AC-Cookie key and RADIUS class
// attributes. One process at a time: a second Open of the same file fails
// after a second instead of corrupting it (bbolt's flock).
func Open(dir string, opts Options) (*Store, error) {
	if dir == "" {
		dir = DefaultDir
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("state: %w", err)
	}
	path := filepath.Join(dir, FileName)
	boot := opts.BootID
	if boot == "" {
		boot = bootID()
	}
	db, err := openDB(path, boot, opts)
	if errors.Is(err, errDamaged) {
		aside := fmt.Sprintf("%s.damaged-%s", path, time.Now().UTC().Format("20060102T150405"))
		if rerr := os.Rename(path, aside); rerr != nil {
			return nil, fmt.Errorf("state: %w; moving it aside: %w", err, rerr)
		}
		if opts.Log != nil {
			opts.Log(fmt.Sprintf("state: %v; moved to %s, starting a new store", err, aside))
		}
		db, err = openDB(path, boot, opts)
	}
	if err != nil {
		return nil, err
	}
	return &Store{db: db, path: path}, nil
}

// errDamaged marks a file a reboot left inconsistent.
var errDamaged = errors.New("damaged")

func openDB(path, boot string, opts Options) (*bolt.DB, error) {
	// NoSync: Put and Delete need the page cache only; what needs the
	// disk is synced explicitly (syncedUpdate).
	db, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: time.Second, NoSync: !opts.Sync, FreelistType: bolt.FreelistMapType})
	if err != nil {
		if errors.Is(err, bolt.ErrTimeout) {
			return nil, fmt.Errorf("state: %s is in use by another process (another pppoed with this --state-dir?)", path)
		}
		if errors.Is(err, bolt.ErrInvalid) || errors.Is(err, bolt.ErrChecksum) || errors.Is(err, bolt.ErrVersionMismatch) {
			return nil, fmt.Errorf("state: %s: %w: %w", path, errDamaged, err)
		}
		return nil, fmt.Errorf("state: open %s: %w", path, err)
	}
	db.MaxBatchDelay = opts.MaxBatchDelay
	if db.MaxBatchDelay == 0 {
		db.MaxBatchDelay = DefaultMaxBatchDelay
	}
	rebooted := false
	err = db.Update(func(tx *bolt.Tx) error {
		if err := prepare(tx); err != nil {
			return err
		}
		meta := tx.Bucket(bucketMeta)
		if string(meta.Get(metaBootID)) == boot {
			return nil
		}
		rebooted = meta.Get(metaBootID) != nil
		if rebooted {
			for err := range tx.Check() {
				return fmt.Errorf("%w after a reboot: %w", errDamaged, err)
			}
			// The maps these records describe went with the reboot.
			if err := tx.DeleteBucket(bucketSessions); err != nil {
				return err
			}
			if _, err := tx.CreateBucket(bucketSessions); err != nil {
				return err
			}
		}
		return meta.Put(metaBootID, []byte(boot))
	})
	if err == nil {
		err = db.Sync()
	}
	if err != nil {
		db.Close()
		if errors.Is(err, errDamaged) || errors.Is(err, ErrFormatTooNew) {
			return nil, fmt.Errorf("state: %s: %w", path, err)
		}
		return nil, fmt.Errorf("state: %s: %w", path, err)
	}
	return db, nil
}

// bootID is the kernel's id of this boot, "" where it cannot be read
// (then a reboot goes unnoticed and records are kept, harmlessly: the
// sweep at start finds their sessions gone).
func bootID() string {
	b, err := os.ReadFile("/proc/sys/kernel/random/boot_id")
	if err != nil {
		return ""
	}
	return string(bytes.TrimSpace(b))
}

// syncedUpdate is an Update that is on disk when it returns.
func (s *Store) syncedUpdate(fn func(tx *bolt.Tx) error) error {
	if err := s.db.Update(fn); err != nil {
		return err
	}
	return s.db.Sync()
}

// batch is a Batch: in the file when it returns, on disk too with
// Options.Sync (bbolt then syncs each commit).
func (s *Store) batch(fn func(tx *bolt.Tx) error) error { return s.db.Batch(fn) }

// prepare creates the buckets of a new file and brings an older one to
// FormatVersion.
func prepare(tx *bolt.Tx) error {
	meta, err := tx.CreateBucketIfNotExists(bucketMeta)
	if err != nil {
		return err
	}
	if _, err := tx.CreateBucketIfNotExists(bucketSessions); err != nil {
		return err
	}
	v := FormatVersion
	if b := meta.Get(metaFormat); b != nil {
		if len(b) != 4 {
			return fmt.Errorf("format version: %d bytes, want 4", len(b))
		}
		v = binary.BigEndian.Uint32(b)
	}
	if v > FormatVersion {
		return fmt.Errorf("%w: version %d, this pppoed knows %d; run a pppoed at least as new as the one that wrote it, "+
			"or move the file away (sessions installed then are not adopted)", ErrFormatTooNew, v, FormatVersion)
	}
	for ; v < FormatVersion; v++ {
		m, ok := migrations[v]
		if !ok {
			return fmt.Errorf("no migration from format %d", v)
		}
		if err := m(tx); err != nil {
			return fmt.Errorf("migrating format %d to %d: %w", v, v+1, err)
		}
	}
	return meta.Put(metaFormat, binary.BigEndian.AppendUint32(nil, FormatVersion))
}

// Path is the store's file.
func (s *Store) Path() string { return s.path }

// Close closes the file. Everything written is already on disk.
func (s *Store) Close() error { return s.db.Close() }

// Put writes a session's record, replacing the one with its handle; it
// returns once the record is in the file (see the package doc). It also raises the handle ceiling to
// the record's handle, and stores cursor as the session-id allocator's
// cursor (pppoe.SessionIDs.Cursor) when it is not 0, so that both move
// with no write of their own.
func (s *Store) Put(rec Session, cursor uint16) error {
	if rec.Handle == 0 {
		return errors.New("state: put: session without a handle")
	}
	v, err := rec.MarshalBinary()
	if err != nil {
		return fmt.Errorf("state: put session %d: %w", rec.Handle, err)
	}
	err = s.batch(func(tx *bolt.Tx) error {
		if err := tx.Bucket(bucketSessions).Put(handleKey(rec.Handle), v); err != nil {
			return err
		}
		meta := tx.Bucket(bucketMeta)
		if rec.Handle > getUint64(meta, metaHandleCeiling) {
			if err := meta.Put(metaHandleCeiling, binary.BigEndian.AppendUint64(nil, rec.Handle)); err != nil {
				return err
			}
		}
		if cursor != 0 {
			return meta.Put(metaSIDCursor, binary.BigEndian.AppendUint16(nil, cursor))
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("state: put session %d: %w", rec.Handle, err)
	}
	return nil
}

// Delete removes a session's record (it ended); a missing one is no error.
// It returns once the removal is in the file.
func (s *Store) Delete(handle uint64) error {
	err := s.batch(func(tx *bolt.Tx) error { return tx.Bucket(bucketSessions).Delete(handleKey(handle)) })
	if err != nil {
		return fmt.Errorf("state: delete session %d: %w", handle, err)
	}
	return nil
}

// Session returns the record of a handle; ok is false if there is none.
func (s *Store) Session(handle uint64) (rec Session, ok bool, err error) {
	err = s.db.View(func(tx *bolt.Tx) error {
		v := tx.Bucket(bucketSessions).Get(handleKey(handle))
		if v == nil {
			return nil
		}
		ok = true
		return rec.UnmarshalBinary(v)
	})
	if err != nil {
		return Session{}, false, fmt.Errorf("state: session %d: %w", handle, err)
	}
	return rec, ok, nil
}

// Sessions returns every record in handle order. A record that does not
// decode is returned in bad by its handle rather than failing the rest:
// the caller sweeps what it cannot restore. The records are decoded on
// every CPU.
func (s *Store) Sessions() (recs []Session, bad []uint64, err error) {
	err = s.db.View(func(tx *bolt.Tx) error {
		type raw struct {
			h uint64
			v []byte // valid while tx is open
		}
		var raws []raw
		err := tx.Bucket(bucketSessions).ForEach(func(k, v []byte) error {
			if len(k) == 8 { // not ours otherwise: no handle key is another length
				raws = append(raws, raw{binary.BigEndian.Uint64(k), v})
			}
			return nil
		})
		if err != nil {
			return err
		}
		out := make([]Session, len(raws))
		ok := make([]bool, len(raws))
		workers := min(runtime.GOMAXPROCS(0), max(1, len(raws)/1024))
		var wg sync.WaitGroup
		for w := range workers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := w; i < len(raws); i += workers {
					ok[i] = out[i].UnmarshalBinary(raws[i].v) == nil && out[i].Handle == raws[i].h
				}
			}()
		}
		wg.Wait()
		recs = out[:0]
		for i := range raws {
			if ok[i] {
				recs = append(recs, out[i])
			} else {
				bad = append(bad, raws[i].h)
			}
		}
		return nil
	})
	if err != nil {
		return nil, nil, fmt.Errorf("state: sessions: %w", err)
	}
	return recs, bad, nil
}

// CookieKey returns the AC-Cookie HMAC key, drawing and storing a new
// 32-byte one the first time: with the same key after a restart, a PADR
// answering a PADO of the previous run is still accepted.
func (s *Store) CookieKey() ([]byte, error) {
	var key []byte
	err := s.syncedUpdate(func(tx *bolt.Tx) error {
		meta := tx.Bucket(bucketMeta)
		if k := meta.Get(metaCookieKey); len(k) == 32 {
			key = append([]byte(nil), k...)
			return nil
		}
		key = make([]byte, 32)
		if _, err := rand.Read(key); err != nil {
			return err
		}
		return meta.Put(metaCookieKey, key)
	})
	if err != nil {
		return nil, fmt.Errorf("state: cookie key: %w", err)
	}
	return key, nil
}

// SIDCursor returns the session-id allocator's cursor as last stored (0
// if never).
func (s *Store) SIDCursor() (uint16, error) {
	var c uint16
	err := s.db.View(func(tx *bolt.Tx) error {
		if b := tx.Bucket(bucketMeta).Get(metaSIDCursor); len(b) == 2 {
			c = binary.BigEndian.Uint16(b)
		}
		return nil
	})
	if err != nil {
		return 0, fmt.Errorf("state: session id cursor: %w", err)
	}
	return c, nil
}

// ReserveHandles reserves n session handles for this run and returns the
// first: handles are unique for the life of the state directory (they are
// RADIUS's Acct-Session-Id). The ceiling moves past the block at once, so
// a run that crashes before storing any session still never repeats one.
// A run handing out more than n handles goes on above the block; Put
// raises the ceiling past every stored handle, so only handles of sessions
// never stored (failed setups) could repeat then.
func (s *Store) ReserveHandles(n uint64) (first uint64, err error) {
	if n == 0 {
		return 0, errors.New("state: reserve 0 handles")
	}
	err = s.syncedUpdate(func(tx *bolt.Tx) error {
		meta := tx.Bucket(bucketMeta)
		first = getUint64(meta, metaHandleCeiling) + 1
		return meta.Put(metaHandleCeiling, binary.BigEndian.AppendUint64(nil, first+n-1))
	})
	if err != nil {
		return 0, fmt.Errorf("state: reserve handles: %w", err)
	}
	return first, nil
}

// ExitKind is how a run of pppoed ended.
type ExitKind string

const (
	// ExitStop: stopped (SIGTERM, SIGINT); sessions were ended with PADT.
	ExitStop ExitKind = "stop"
	// ExitRestart: a planned restart or upgrade (SIGUSR2); sessions were
	// left in the data plane and the store for the next run.
	ExitRestart ExitKind = "restart"
	// ExitCrash: the run ended without saying how (kill -9, a crash, a
	// power cut): what TakeExit returns when nothing was recorded.
	ExitCrash ExitKind = "crash"
)

// Exit is how the last run ended, as it recorded it.
type Exit struct {
	Kind ExitKind  `json:"kind"`
	At   time.Time `json:"at"`
	PID  int       `json:"pid"`
	// Version is the exiting binary's version, if it knows one.
	Version string `json:"version,omitempty"`
}

// RecordExit stores how this run ends, just before it exits.
func (s *Store) RecordExit(e Exit) error {
	v, err := json.Marshal(&e)
	if err != nil {
		return fmt.Errorf("state: record exit: %w", err)
	}
	if err := s.syncedUpdate(func(tx *bolt.Tx) error { return tx.Bucket(bucketMeta).Put(metaLastExit, v) }); err != nil {
		return fmt.Errorf("state: record exit: %w", err)
	}
	return nil
}

// TakeExit returns how the previous run ended and clears it, so that a
// crash of this run is not taken for what the previous one recorded. A
// store without a record (a crash, or the first run: fresh tells which)
// returns Kind ExitCrash.
func (s *Store) TakeExit() (e Exit, fresh bool, err error) {
	err = s.syncedUpdate(func(tx *bolt.Tx) error {
		meta := tx.Bucket(bucketMeta)
		v := meta.Get(metaLastExit)
		if v == nil {
			e.Kind = ExitCrash
			fresh = meta.Get(metaHandleCeiling) == nil && tx.Bucket(bucketSessions).Stats().KeyN == 0
			return nil
		}
		if json.Unmarshal(v, &e) != nil || e.Kind == "" {
			e = Exit{Kind: ExitCrash}
		}
		return meta.Delete(metaLastExit)
	})
	if err != nil {
		return Exit{}, false, fmt.Errorf("state: last exit: %w", err)
	}
	return e, fresh, nil
}

func handleKey(h uint64) []byte { return binary.BigEndian.AppendUint64(nil, h) }

func getUint64(b *bolt.Bucket, key []byte) uint64 {
	if v := b.Get(key); len(v) == 8 {
		return binary.BigEndian.Uint64(v)
	}
	return 0
}
