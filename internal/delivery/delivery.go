// Package delivery sends approved recommendations to the notification
// system, reliably, through a transactional job queue (River).
//
// # Pipeline
//
// Approving a recommendation (single, bulk, flag resolution, or an admin's
// retry of a failed delivery) writes, in the approving transaction, a
// `deliveries` row (status queued) and a River job of kind
// "deliver_recommendation" (store.DeliveryJobKind). The store calls the
// enqueuer this package installs (Enqueuer, via New), so an approval without
// a job, or a job without an approval, cannot be committed. Workers then load
// the recommendation, send it through a Sink, and record the outcome on the
// delivery row: delivered, queued with attempts and last error (a retry is
// scheduled with backoff), or failed.
//
// # Drivers
//
// Every store transaction is a *sql.Tx, so River runs on its database/sql
// drivers: riversqlite on the SQLite write pool and riverdatabasesql on the
// PostgreSQL pool (pgx's stdlib driver underneath). The client is therefore a
// river.Client[*sql.Tx]. Neither driver listens for notifications here;
// clients poll for new jobs every PollInterval (200 ms by default). On SQLite
// the write pool is River's one connection (its driver's advice against
// SQLITE_BUSY), shared with the API's write transactions, which are short;
// the API's reads use the separate read-only pool and are not serialized.
//
// # Guarantees
//
// Delivery is at least once. A receiver may see the same recommendation
// more than once (a crash between a successful POST and recording it, a
// receiver that timed out after accepting, an admin retry): every attempt
// carries the same X-SpendSense-Delivery header (and Idempotency-Key, and
// delivery_id in the body), the recommendation id, and consumers must
// de-duplicate on it. A worker never sends a delivery that is already
// delivered or failed, so duplicates come only from those windows.
//
// # Processes
//
// Every process that serves the API needs the enqueuer, so New always builds
// a client able to insert jobs. Only a Service started with Start works jobs:
// `serve --workers=false` runs the API alone, `serve --api=false` workers
// alone; on PostgreSQL any number of each may share the database.
package delivery

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/rivertype"

	"github.com/spendsense/operator-api/internal/review"
	"github.com/spendsense/operator-api/internal/store"
)

// Queue is the River queue deliveries run on.
const Queue = "delivery"

// Defaults.
const (
	DefaultMaxAttempts   = 8
	DefaultPollInterval  = 200 * time.Millisecond
	DefaultMaxRetryAfter = 5 * time.Minute
	DefaultJobTimeout    = time.Minute
)

// DeliverArgs is the job: deliver one approved recommendation. It is unique
// by recommendation while a job for it is still live, so a delivery never
// has two jobs at once; once its job has finished (delivered, or failed and
// cancelled), an admin retry can enqueue a new one.
type DeliverArgs struct {
	RecommendationID string `json:"recommendation_id" river:"unique"`
}

// Kind is the job kind (store.DeliveryJobKind).
func (DeliverArgs) Kind() string { return store.DeliveryJobKind }

// InsertOpts puts deliveries on their own queue, unique while live.
func (DeliverArgs) InsertOpts() river.InsertOpts {
	return river.InsertOpts{
		Queue: Queue,
		UniqueOpts: river.UniqueOpts{
			ByArgs: true,
			// Not completed, cancelled or discarded: those are finished jobs,
			// and a failed delivery must be retryable.
			ByState: []rivertype.JobState{rivertype.JobStateAvailable, rivertype.JobStatePending,
				rivertype.JobStateRunning, rivertype.JobStateRetryable, rivertype.JobStateScheduled},
		},
	}
}

// Config configures a Service.
type Config struct {
	Store *store.Store
	// Sink receives deliveries; nil is LogSink.
	Sink   Sink
	Logger *slog.Logger
	// Registry receives spendsense_deliveries_total; nil registers nothing.
	Registry prometheus.Registerer
	// InsertOnly builds a client that only inserts jobs (an API-only
	// process): Start does nothing.
	InsertOnly bool
	// MaxWorkers is how many deliveries run at once in this process
	// (default 10 on PostgreSQL, 6 on SQLite, where writes are serial).
	MaxWorkers int
	// MaxAttempts is the attempts per delivery before it fails (default 8).
	// It is fixed on each job when it is inserted.
	MaxAttempts int
	// PollInterval is how often workers look for new jobs (default 200 ms).
	PollInterval time.Duration
	// Backoff is the wait before retry n+1 after attempt n failed; nil is
	// River's default (n⁴ seconds: 1 s, 16 s, 81 s, 4 m 16 s, …).
	Backoff func(attempt int) time.Duration
	// MaxRetryAfter caps the receiver's Retry-After that is honoured
	// (default 5 minutes); a longer one falls back to Backoff.
	MaxRetryAfter time.Duration
	// JobTimeout bounds one attempt, sink included (default 1 minute).
	JobTimeout time.Duration
	// RescueAfter is how long a job may stay running (its worker died)
	// before River runs it again (default 5 minutes).
	RescueAfter time.Duration
	// Jobs are other background jobs that run on this River client (the
	// audit seals). One client per process: River elects one leader per
	// database, and only the leader's client schedules periodic jobs.
	Jobs []Jobs
}

// Jobs is a set of background jobs to run beside the deliveries.
type Jobs struct {
	Register func(*river.Workers)
	Queues   map[string]river.QueueConfig
	Periodic []*river.PeriodicJob
}

// Service is the delivery queue: a River client and, unless InsertOnly, its
// workers.
type Service struct {
	cfg     Config
	store   *store.Store
	client  *river.Client[*sql.Tx]
	log     *slog.Logger
	metrics *metrics
	started bool
}

// New builds the service and installs its enqueuer on cfg.Store, so every
// approval from now on inserts its delivery job in the approving
// transaction — in API-only processes too.
func New(cfg Config) (*Service, error) {
	if cfg.Store == nil {
		return nil, errors.New("delivery: no store")
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.Sink == nil {
		cfg.Sink = LogSink{Logger: cfg.Logger}
	}
	if cfg.MaxWorkers <= 0 {
		cfg.MaxWorkers = 10
		if cfg.Store.Engine == store.SQLite {
			cfg.MaxWorkers = 6
		}
	}
	if cfg.MaxAttempts <= 0 {
		cfg.MaxAttempts = DefaultMaxAttempts
	}
	if cfg.PollInterval <= 0 {
		cfg.PollInterval = DefaultPollInterval
	}
	if cfg.MaxRetryAfter <= 0 {
		cfg.MaxRetryAfter = DefaultMaxRetryAfter
	}
	if cfg.JobTimeout <= 0 {
		cfg.JobTimeout = DefaultJobTimeout
	}
	if cfg.RescueAfter <= cfg.JobTimeout {
		cfg.RescueAfter = max(5*time.Minute, 2*cfg.JobTimeout)
	}
	svc := &Service{cfg: cfg, store: cfg.Store, log: cfg.Logger.With(slog.String("component", "delivery"))}
	m, err := newMetrics(cfg.Registry)
	if err != nil {
		return nil, err
	}
	svc.metrics = m

	workers := river.NewWorkers()
	river.AddWorker(workers, &worker{svc: svc})
	for _, j := range cfg.Jobs {
		j.Register(workers)
	}
	rc := &river.Config{
		Logger:               newRiverLogger(cfg.Logger.With(slog.String("component", "river")), cfg.Store),
		MaxAttempts:          cfg.MaxAttempts,
		Workers:              workers,
		FetchPollInterval:    cfg.PollInterval,
		FetchCooldown:        min(cfg.PollInterval, 50*time.Millisecond),
		JobTimeout:           cfg.JobTimeout,
		RescueStuckJobsAfter: cfg.RescueAfter,
		// Completed jobs are only bookkeeping: the deliveries table is the
		// record. Keep finished jobs a day for inspection.
		CompletedJobRetentionPeriod: 24 * time.Hour,
	}
	if !cfg.InsertOnly {
		rc.Queues = map[string]river.QueueConfig{Queue: {MaxWorkers: cfg.MaxWorkers}}
		for _, j := range cfg.Jobs {
			for name, q := range j.Queues {
				rc.Queues[name] = q
			}
			rc.PeriodicJobs = append(rc.PeriodicJobs, j.Periodic...)
		}
	}
	client, err := river.NewClient(cfg.Store.RiverDriver(), rc)
	if err != nil {
		return nil, fmt.Errorf("delivery: river client: %w", err)
	}
	svc.client = client
	return svc, nil
}

// Queue is the store.DeliveryQueue of this service's client: wire it with
// store.SetDeliveryQueue so that approvals insert their jobs.
func (s *Service) Queue() store.DeliveryQueue {
	return store.DeliveryQueue{Enqueue: s.Enqueuer(), Cancel: Canceller(s.client)}
}

// Client is the River client (for tests and tools).
func (s *Service) Client() *river.Client[*sql.Tx] { return s.client }

// Enqueuer is the store's EnqueueFunc for this service's client.
func (s *Service) Enqueuer() store.EnqueueFunc { return Enqueuer(s.client) }

// Enqueuer returns a store.EnqueueFunc that inserts one delivery job per
// recommendation id with client, inside the store transaction. If a live job
// for one of them already exists (an admin retrying a delivery whose failed
// job River has not finished recording), it returns a conflict, so the
// transaction rolls back rather than claiming a job it did not insert.
func Enqueuer(client *river.Client[*sql.Tx]) store.EnqueueFunc {
	return func(ctx context.Context, tx *store.Tx, ids []string, at time.Time) error {
		res, err := insertJobs(ctx, client, tx, ids, at)
		if err != nil {
			return err
		}
		for i, r := range res {
			if r.UniqueSkippedAsDuplicate {
				return review.Errorf(review.EConflict,
					"a delivery job for recommendation %q is still finishing; try again in a moment", ids[i])
			}
		}
		return nil
	}
}

// lenientEnqueuer is Enqueuer that accepts an existing live job as enough
// (used when repairing gaps, where another process may be doing the same).
func lenientEnqueuer(client *river.Client[*sql.Tx]) store.EnqueueFunc {
	return func(ctx context.Context, tx *store.Tx, ids []string, at time.Time) error {
		_, err := insertJobs(ctx, client, tx, ids, at)
		return err
	}
}

// Canceller returns a store.CancelFunc that cancels, inside the store
// transaction, the live delivery jobs of the given recommendations (an
// undone approval's scheduled job), so that a new approval can enqueue
// its own.
func Canceller(client *river.Client[*sql.Tx]) store.CancelFunc {
	return func(ctx context.Context, tx *store.Tx, ids []string) error {
		jobIDs, err := tx.LiveDeliveryJobs(ctx, ids)
		if err != nil {
			return err
		}
		for _, id := range jobIDs {
			if _, err := client.JobCancelTx(ctx, tx.SQLTx(), id); err != nil {
				return fmt.Errorf("cancel delivery job %d: %w", id, err)
			}
		}
		return nil
	}
}

func insertJobs(ctx context.Context, client *river.Client[*sql.Tx], tx *store.Tx, ids []string, at time.Time) ([]*rivertype.JobInsertResult, error) {
	if len(ids) == 0 {
		return nil, nil
	}
	params := make([]river.InsertManyParams, len(ids))
	for i, id := range ids {
		params[i] = river.InsertManyParams{Args: DeliverArgs{RecommendationID: id}}
		if !at.IsZero() {
			// An approval's delivery waits out its undo window (River's
			// scheduled jobs); the queue and uniqueness still come from
			// DeliverArgs.InsertOpts.
			params[i].InsertOpts = &river.InsertOpts{ScheduledAt: at}
		}
	}
	res, err := client.InsertManyTx(tx.Context(ctx), tx.SQLTx(), params)
	if err != nil {
		return nil, fmt.Errorf("enqueue delivery job: %w", err)
	}
	return res, nil
}

// Start starts the workers (a no-op for InsertOnly). First it enqueues a job
// for every queued delivery that has none — rows written before River or by
// a seed — so nothing queued is left behind. ctx only bounds start-up: the
// workers run until Stop.
func (s *Service) Start(ctx context.Context) error {
	if s.cfg.InsertOnly {
		return nil
	}
	ids, err := s.store.RequeueDeliveryGaps(ctx, lenientEnqueuer(s.client))
	if err != nil {
		return fmt.Errorf("delivery: requeue: %w", err)
	}
	if len(ids) > 0 {
		s.log.WarnContext(ctx, "queued deliveries had no job; enqueued them", slog.Int("count", len(ids)))
	}
	if err := s.client.Start(context.WithoutCancel(ctx)); err != nil {
		return fmt.Errorf("delivery: start workers: %w", err)
	}
	s.started = true
	s.log.InfoContext(ctx, "delivery workers started", slog.String("queue", Queue), slog.Int("max_workers", s.cfg.MaxWorkers),
		slog.Int("max_attempts", s.cfg.MaxAttempts))
	return nil
}

// Stop lets running deliveries finish and stops the workers. If ctx ends
// first, running deliveries are cancelled (River makes them available again
// without counting the attempt) and Stop waits briefly for that.
func (s *Service) Stop(ctx context.Context) error {
	if !s.started {
		return nil
	}
	err := s.client.Stop(ctx)
	if err != nil && ctx.Err() != nil {
		hctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
		err = s.client.StopAndCancel(hctx)
	}
	if err == nil {
		s.started = false
		s.log.Info("delivery workers stopped")
	}
	return err
}
