package store

import (
	"context"
	"database/sql"
	"os"
	"strconv"
	"sync/atomic"
	"time"
)

// Background WAL checkpoints for SQLite.
//
// SQLite's automatic checkpoint runs inside the COMMIT that crosses the
// threshold, on the one writer connection: that commit copies thousands of
// pages into the database file and fsyncs it while every other write waits
// behind it, which was most of the writes' p99 on the benchmark. A PASSIVE
// checkpoint needs no writer lock, so a goroutine with a connection of its
// own runs one every checkpointInterval while writes go on; the writer's
// automatic checkpoint stays as a backstop at a much larger WAL
// (walBackstopPages).

const (
	checkpointInterval = time.Second
	// walBackstopPages (~400 MB of WAL) is only reached if the background
	// checkpoints cannot keep up or are not running.
	walBackstopPages = 100_000
)

type checkpointer struct {
	db   *sql.DB
	quit chan struct{}
	done chan struct{}
}

func startCheckpointer(path string) *checkpointer {
	db := sql.OpenDB(newStmtCacheConnector(sqliteDSN(path, false)))
	db.SetMaxOpenConns(1)
	c := &checkpointer{db: db, quit: make(chan struct{}), done: make(chan struct{})}
	go c.loop()
	return c
}

func (c *checkpointer) loop() {
	defer close(c.done)
	t := time.NewTicker(checkpointInterval)
	defer t.Stop()
	for {
		select {
		case <-c.quit:
			return
		case <-t.C:
			// Best effort: a failure (the file busy with another process's
			// checkpoint) is retried on the next tick, and the writer's own
			// automatic checkpoint remains.
			_, _ = c.db.ExecContext(context.Background(), "PRAGMA wal_checkpoint(PASSIVE)")
		}
	}
}

func (c *checkpointer) stop() {
	close(c.quit)
	<-c.done
	_ = c.db.Close()
}

// walBound keeps the WAL file from growing without bound under sustained
// writes. The background PASSIVE checkpoints copy the WAL into the database
// but never make the writer start the WAL again from its beginning while
// writes keep arriving, so the file only grew: 393 MiB in 20 s of
// approvals, and 1.8 GiB when readers kept read transactions open beside
// them. So the committer, between two of its transactions (it is the only
// writer, so none is waiting on the file), looks at the WAL's size at most
// every walCheckEvery and, past walLimit, runs a TRUNCATE checkpoint on the
// writer connection: it copies what is left, waits for the readers still on
// old frames, and empties the file.
//
// How long it waits for readers adapts: it starts at walWaitReaders,
// doubles after a checkpoint the readers held up (up to walMaxWaitReaders)
// and shrinks back after one that succeeded. A short wait keeps writes
// flowing when reads are short, but readers whose read transactions overlap
// without a gap (a stream poll, an export page, a slow list) never all
// finish within it: with a fixed 200 ms wait the WAL still reached 489 MiB
// beside readers holding 400 ms each, and every failed attempt held the
// writes up for nothing. Readers that start once the WAL is copied read the
// database file and do not hold the checkpoint up, so a wait as long as the
// longest read succeeds, and it ends as soon as the readers are done.
const (
	walLimit          = 32 << 20
	walCheckEvery     = 100 * time.Millisecond
	walWaitReaders    = 200 * time.Millisecond
	walMaxWaitReaders = 2 * time.Second
)

type walBound struct {
	path string
	next time.Time
	wait time.Duration // how long the next checkpoint waits for readers
	// Peak is the largest WAL size seen, for tests and benchmarks.
	peak atomic.Int64
}

func (w *walBound) check(db *sql.DB) {
	now := time.Now()
	if now.Before(w.next) {
		return
	}
	w.next = now.Add(walCheckEvery)
	fi, err := os.Stat(w.path)
	if err != nil {
		return
	}
	if fi.Size() > w.peak.Load() {
		w.peak.Store(fi.Size())
	}
	if fi.Size() <= walLimit {
		return
	}
	if w.wait == 0 {
		w.wait = walWaitReaders
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second+w.wait)
	defer cancel()
	conn, err := db.Conn(ctx)
	if err != nil {
		return
	}
	defer conn.Close()
	// The writer's usual busy timeout (10 s) would hold every write that
	// long behind a slow reader; wait only w.wait, and put it back.
	if _, err := conn.ExecContext(ctx, "PRAGMA busy_timeout = "+strconv.FormatInt(w.wait.Milliseconds(), 10)); err != nil {
		return
	}
	// Best effort: a checkpoint the readers held up is tried again at the
	// next check, waiting longer.
	var busy, frames, copied int
	err = conn.QueryRowContext(ctx, "PRAGMA wal_checkpoint(TRUNCATE)").Scan(&busy, &frames, &copied)
	if err != nil || busy != 0 {
		w.wait = min(walMaxWaitReaders, 2*w.wait)
	} else {
		w.wait = max(walWaitReaders, w.wait*3/4)
	}
	_, _ = conn.ExecContext(ctx, "PRAGMA busy_timeout = 10000")
}

// walPeak is the largest size the SQLite WAL file was seen at by the
// committer's checks (0 on PostgreSQL).
func (s *Store) walPeak() int64 {
	if s.group == nil {
		return 0
	}
	return s.group.wal.peak.Load()
}
