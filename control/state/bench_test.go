package state

import (
	"strconv"
	"sync/atomic"
	"testing"

	bolt "go.etcd.io/bbolt"
)

// What a session costs the store over its life: its record when it is up,
// its removal when it ends (control/server's journal). The benchmarks
// report that per session.

func benchSetups(b *testing.B, opts Options, writers int) {
	s, err := Open(b.TempDir(), opts)
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	var next atomic.Uint64
	one := func() bool {
		h := next.Add(1)
		if err := s.Put(full(h), uint16(h)); err != nil {
			b.Error(err)
			return false
		}
		if err := s.Delete(h); err != nil {
			b.Error(err)
			return false
		}
		return true
	}
	b.ResetTimer()
	if writers == 1 {
		for i := 0; i < b.N && one(); i++ {
		}
	} else {
		b.SetParallelism(writers) // × GOMAXPROCS goroutines
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() && one() {
			}
		})
	}
	b.ReportMetric(float64(b.Elapsed().Microseconds())/float64(b.N), "µs/session")
}

// BenchmarkSessionWrites: 32 sessions at once per CPU (64 on two, as
// bench-sessions dials), as pppoed writes: into the file, no fdatasync.
func BenchmarkSessionWrites(b *testing.B) { benchSetups(b, Options{}, 32) }

// BenchmarkSessionWritesOne: one session at a time.
func BenchmarkSessionWritesOne(b *testing.B) { benchSetups(b, Options{}, 1) }

// BenchmarkSessionWritesSync: as BenchmarkSessionWrites with every commit
// synced (Options.Sync): what surviving a power cut would cost.
func BenchmarkSessionWritesSync(b *testing.B) { benchSetups(b, Options{Sync: true}, 32) }

// BenchmarkSessionWritesSyncOne: one session at a time, synced: the
// latency a lone setup would see.
func BenchmarkSessionWritesSyncOne(b *testing.B) { benchSetups(b, Options{Sync: true}, 1) }

// BenchmarkReadSessions reads n records back, as a starting pppoed does
// before adopting: the store's share of adoption time.
func BenchmarkReadSessions(b *testing.B) {
	for _, n := range []int{10_000, 100_000} {
		b.Run(strconv.Itoa(n), func(b *testing.B) {
			s, err := Open(b.TempDir(), Options{})
			if err != nil {
				b.Fatal(err)
			}
			defer s.Close()
			// One transaction per 1,000 records: filling is not measured.
			for i := 0; i < n; i += 1000 {
				err := s.db.Update(func(tx *bolt.Tx) error {
					for h := i + 1; h <= min(n, i+1000); h++ {
						rec := full(uint64(h))
						v, _ := rec.MarshalBinary()
						if err := tx.Bucket(bucketSessions).Put(handleKey(uint64(h)), v); err != nil {
							return err
						}
					}
					return nil
				})
				if err != nil {
					b.Fatal(err)
				}
			}
			b.ResetTimer()
			for b.Loop() {
				recs, bad, err := s.Sessions()
				if err != nil || len(bad) != 0 || len(recs) != n {
					b.Fatalf("%d records, %d bad, %v", len(recs), len(bad), err)
				}
			}
		})
	}
}
