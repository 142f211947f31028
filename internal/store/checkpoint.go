package store

import (
	"context"
	"database/sql"
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
