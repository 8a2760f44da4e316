package state

import (
	"encoding/binary"
	"errors"
	"fmt"
	"sync"
	"time"

	bolt "go.etcd.io/bbolt"
)

// Writer does a Store's writes of session records, and of the other
// per-key records the daemon keeps (Put, PutIn), on one goroutine of its
// own: its methods queue the write and return at once, so that the
// session event loops that call them never wait for the file (a bbolt
// commit, or a Batch's delay, held every session of the loop before).
//
// Writes to the same key coalesce: only the newest of a key's queued
// writes is done, a removal included; so the queue never holds more than
// one write per session. It is bounded (WriterOptions.Limit keys): a
// caller adding a key to a full queue waits for the writer, which is the
// store's own pace, never a loss. Everything queued goes in one
// transaction, so the writer's throughput grows with the load.
//
// The writer waits WriterOptions.Delay after the first write of a batch
// before it commits, so that the writes of sessions set up together
// share a commit, and a write wakes it only when the queue was empty:
// woken for every write and committing a few records at a time, it took
// a sixth of the AC's CPU during a setup burst, on the CPUs the session
// loops need (README, restart).
//
// A write queued is in the file after the commit that takes it, within
// about a millisecond (the Delay, then the commit) unless the disk is
// slow: a kill -9 in that window loses it (the session is then swept at the next start, or its
// accounting resent, not corrupted). Flush waits until everything queued
// before it is in the file: a planned restart and a stop call it before
// they exit.
type Writer struct {
	s    *Store
	opts WriterOptions

	mu       sync.Mutex
	cond     *sync.Cond    // signalled on a first write to an empty queue, a commit, Close
	hurry    chan struct{} // cuts the writer's Delay short: Flush, Close, a full queue
	pending  map[writeKey]write
	cursor   uint16 // the session-id cursor to store with the next commit; 0: none
	writing  bool
	closed   bool
	queued   uint64 // writes taken, for Flush
	done     uint64 // writes committed (or failed), for Flush
	finished chan struct{}
}

// WriterOptions tune a Writer.
type WriterOptions struct {
	// Limit bounds the keys queued; 0 means DefaultWriterLimit.
	Limit int
	// Log receives a failed commit's error (its writes are lost; the
	// sessions go on); nil: none.
	Log func(error)
	// BeforeCommit, if set, runs on the writer before each commit: tests
	// hold the writer with it as a slow disk would.
	BeforeCommit func()
	// Delay is how long the writer gathers writes after the first of a
	// batch before it commits them; 0 means DefaultWriterDelay, a
	// negative value none. Flush and Close do not wait for it.
	Delay time.Duration
}

// DefaultWriterDelay keeps a write's way to the file within about a
// millisecond while a box setting sessions up at thousands a second
// commits at most a couple of thousand times a second.
const DefaultWriterDelay = 500 * time.Microsecond

// DefaultWriterLimit is a Writer's queue bound: every session of a large
// box changing at once fits.
const DefaultWriterLimit = 1 << 18

type writeKey struct {
	bucket string // "" for the sessions bucket
	key    uint64
}

type write struct {
	rec *Session // a session record to encode, or
	val []byte   // a value for another bucket; nil with rec nil: a removal
}

// NewWriter starts s's writer. Close it before the Store.
func NewWriter(s *Store, opts WriterOptions) *Writer {
	if opts.Limit <= 0 {
		opts.Limit = DefaultWriterLimit
	}
	if opts.Delay == 0 {
		opts.Delay = DefaultWriterDelay
	}
	w := &Writer{s: s, opts: opts, pending: map[writeKey]write{}, hurry: make(chan struct{}, 1), finished: make(chan struct{})}
	w.cond = sync.NewCond(&w.mu)
	go w.run()
	return w
}

// Put queues a session's record, as Store.Put writes it (the handle
// ceiling raised to its handle; cursor, when not 0, stored as the
// session-id cursor).
func (w *Writer) Put(rec Session, cursor uint16) error {
	if rec.Handle == 0 {
		return errors.New("state: put: session without a handle")
	}
	return w.queue(writeKey{key: rec.Handle}, write{rec: &rec}, cursor)
}

// Delete queues the removal of a session's record.
func (w *Writer) Delete(handle uint64) error {
	return w.queue(writeKey{key: handle}, write{}, 0)
}

// PutIn queues value under key in the named bucket (see Store.Records).
func (w *Writer) PutIn(bucket string, key uint64, value []byte) error {
	if err := otherBucket(bucket); err != nil {
		return err
	}
	if value == nil {
		value = []byte{}
	}
	return w.queue(writeKey{bucket, key}, write{val: value}, 0)
}

// DeleteIn queues the removal of key from the named bucket.
func (w *Writer) DeleteIn(bucket string, key uint64) error {
	if err := otherBucket(bucket); err != nil {
		return err
	}
	return w.queue(writeKey{bucket, key}, write{}, 0)
}

func (w *Writer) queue(k writeKey, wr write, cursor uint16) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	for {
		if w.closed {
			return errors.New("state: writer closed")
		}
		if _, ok := w.pending[k]; ok || len(w.pending) < w.opts.Limit {
			break
		}
		w.hasten()
		w.cond.Wait()
	}
	// Only a write to an empty queue wakes the writer: it is waiting
	// for one, or will look at the queue when its commit is done.
	wake := len(w.pending) == 0
	w.pending[k] = wr
	if cursor != 0 {
		w.cursor = cursor
	}
	w.queued++
	if wake {
		w.cond.Broadcast()
	}
	return nil
}

// Flush waits until every write queued before it is in the file (or its
// commit failed and was logged).
func (w *Writer) Flush() {
	w.mu.Lock()
	defer w.mu.Unlock()
	target := w.queued
	if w.done < target {
		w.hasten()
	}
	for w.done < target && !w.stopped() {
		w.cond.Wait()
	}
}

// hasten makes the writer commit without waiting out its Delay.
func (w *Writer) hasten() {
	select {
	case w.hurry <- struct{}{}:
	default:
	}
}

func (w *Writer) stopped() bool {
	select {
	case <-w.finished:
		return true
	default:
		return false
	}
}

// Close writes what is queued and stops the writer.
func (w *Writer) Close() error {
	w.mu.Lock()
	w.closed = true
	w.cond.Broadcast()
	w.hasten()
	w.mu.Unlock()
	<-w.finished
	return nil
}

// Queued is the number of keys waiting for the writer.
func (w *Writer) Queued() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return len(w.pending)
}

func (w *Writer) run() {
	defer close(w.finished)
	var gather *time.Timer
	if w.opts.Delay > 0 {
		gather = time.NewTimer(w.opts.Delay)
		gather.Stop()
	}
	for {
		w.mu.Lock()
		for len(w.pending) == 0 && !w.closed {
			w.cond.Wait()
		}
		if len(w.pending) == 0 {
			w.mu.Unlock()
			return
		}
		if gather != nil && !w.closed {
			// Let the writes of sessions coming up with this one join
			// its commit.
			w.mu.Unlock()
			gather.Reset(w.opts.Delay)
			select {
			case <-gather.C:
			case <-w.hurry:
				gather.Stop()
			}
			w.mu.Lock()
		}
		batch, cursor, taken := w.pending, w.cursor, w.queued
		w.pending, w.cursor, w.writing = make(map[writeKey]write, len(batch)), 0, true
		w.cond.Broadcast() // room for callers waiting on a full queue
		w.mu.Unlock()

		if w.opts.BeforeCommit != nil {
			w.opts.BeforeCommit()
		}
		err := w.commit(batch, cursor)
		if err != nil && w.opts.Log != nil {
			w.opts.Log(fmt.Errorf("state: %d writes lost: %w", len(batch), err))
		}
		w.mu.Lock()
		w.writing = false
		w.done = taken
		w.cond.Broadcast()
		w.mu.Unlock()
	}
}

// commit writes a batch in one transaction. A session record that does
// not encode is left out (logged) rather than failing the others.
func (w *Writer) commit(batch map[writeKey]write, cursor uint16) error {
	return w.s.db.Update(func(tx *bolt.Tx) error {
		sessions, meta := tx.Bucket(bucketSessions), tx.Bucket(bucketMeta)
		ceiling := getUint64(meta, metaHandleCeiling)
		raised := false
		for k, wr := range batch {
			b := sessions
			if k.bucket != "" {
				var err error
				if b, err = tx.CreateBucketIfNotExists([]byte(k.bucket)); err != nil {
					return err
				}
			}
			key := handleKey(k.key)
			switch {
			case wr.rec != nil:
				v, err := wr.rec.MarshalBinary()
				if err != nil {
					if w.opts.Log != nil {
						w.opts.Log(fmt.Errorf("state: put session %d: %w", k.key, err))
					}
					continue
				}
				if err := b.Put(key, v); err != nil {
					return err
				}
				if k.key > ceiling {
					ceiling, raised = k.key, true
				}
			case wr.val != nil:
				if err := b.Put(key, wr.val); err != nil {
					return err
				}
			default:
				if err := b.Delete(key); err != nil {
					return err
				}
			}
		}
		if raised {
			if err := meta.Put(metaHandleCeiling, binary.BigEndian.AppendUint64(nil, ceiling)); err != nil {
				return err
			}
		}
		if cursor != 0 {
			return meta.Put(metaSIDCursor, binary.BigEndian.AppendUint16(nil, cursor))
		}
		return nil
	})
}

// otherBucket checks a bucket name given to PutIn, DeleteIn or Records:
// the store's own buckets are not for them.
func otherBucket(name string) error {
	if name == "" || name == string(bucketMeta) || name == string(bucketSessions) {
		return fmt.Errorf("state: bucket %q is not for records of other kinds", name)
	}
	return nil
}

// Records calls fn with every key and value of the named bucket, in key
// order; a bucket never written is empty. The value is only valid during
// the call. Buckets other than the sessions survive a reboot (see the
// package doc): what they hold, such as accounting records not yet
// delivered, is still owed after one.
func (s *Store) Records(bucket string, fn func(key uint64, value []byte) error) error {
	if err := otherBucket(bucket); err != nil {
		return err
	}
	err := s.db.View(func(tx *bolt.Tx) error {
		b := tx.Bucket([]byte(bucket))
		if b == nil {
			return nil
		}
		return b.ForEach(func(k, v []byte) error {
			if len(k) != 8 {
				return nil
			}
			return fn(binary.BigEndian.Uint64(k), v)
		})
	})
	if err != nil {
		return fmt.Errorf("state: %s: %w", bucket, err)
	}
	return nil
}

// Records reads the named bucket as Store.Records does: what is in the
// file, not writes still queued.
func (w *Writer) Records(bucket string, fn func(key uint64, value []byte) error) error {
	return w.s.Records(bucket, fn)
}
