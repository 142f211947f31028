// Package auditseal is the periodic background job that seals the audit
// trail: every interval, the River leader's process signs the rows written
// since the last seal (store.SealAudit). It runs on the delivery service's
// River client (delivery.Jobs).
package auditseal

import (
	"context"
	"crypto/ed25519"
	"log/slog"
	"time"

	"github.com/riverqueue/river"
	"github.com/riverqueue/river/rivertype"

	"github.com/spendsense/operator-api/internal/delivery"
	"github.com/spendsense/operator-api/internal/store"
)

// Queue is the River queue seals run on: one worker, since seals are
// serial anyway (each links to the one before).
const Queue = "audit_seal"

// DefaultInterval is how often the trail is sealed: a row is unsealed (its
// removal with its whole chain undetectable) at most this long plus one
// seal's duration.
const DefaultInterval = time.Minute

// Args is the seal job; it carries nothing.
type Args struct{}

// Kind implements river.JobArgs.
func (Args) Kind() string { return "audit_seal" }

// InsertOpts puts seal jobs on their queue, one pending at a time.
func (Args) InsertOpts() river.InsertOpts {
	return river.InsertOpts{Queue: Queue, MaxAttempts: 3,
		UniqueOpts: river.UniqueOpts{ByState: []rivertype.JobState{rivertype.JobStateAvailable, rivertype.JobStatePending,
			rivertype.JobStateRunning, rivertype.JobStateRetryable, rivertype.JobStateScheduled}}}
}

type worker struct {
	river.WorkerDefaults[Args]
	store *store.Store
	key   ed25519.PrivateKey
	log   *slog.Logger
}

// Work seals everything unsealed, in seals of store.DefaultSealRows.
func (w *worker) Work(ctx context.Context, _ *river.Job[Args]) error {
	start := time.Now()
	n, err := w.store.SealAllAudit(ctx, w.key, store.DefaultSealRows)
	if err != nil {
		return err
	}
	if n > 0 {
		w.log.InfoContext(ctx, "audit sealed", slog.Int("seals", n), slog.Duration("took", time.Since(start)))
	}
	return nil
}

// Jobs is the seal job for delivery.Config.Jobs, every interval (and once
// at start).
func Jobs(s *store.Store, key ed25519.PrivateKey, interval time.Duration, log *slog.Logger) delivery.Jobs {
	if interval <= 0 {
		interval = DefaultInterval
	}
	w := &worker{store: s, key: key, log: log.With(slog.String("component", "audit_seal"))}
	return delivery.Jobs{
		Register: func(ws *river.Workers) { river.AddWorker(ws, w) },
		Queues:   map[string]river.QueueConfig{Queue: {MaxWorkers: 1}},
		Periodic: []*river.PeriodicJob{river.NewPeriodicJob(river.PeriodicInterval(interval),
			func() (river.JobArgs, *river.InsertOpts) { return Args{}, nil },
			&river.PeriodicJobOpts{RunOnStart: true})},
	}
}
