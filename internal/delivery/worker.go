package delivery

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/riverqueue/river"

	"github.com/spendsense/operator-api/internal/review"
)

// worker delivers one recommendation per job.
type worker struct {
	river.WorkerDefaults[DeliverArgs]
	svc *Service
	// retryAt carries a receiver's Retry-After from Work to NextRetry, which
	// River calls right after Work returns, in this process.
	retryAt sync.Map // job id → time.Time
}

// NextRetry honours a short Retry-After, else the configured backoff, else
// River's default policy.
func (w *worker) NextRetry(job *river.Job[DeliverArgs]) time.Time {
	if v, ok := w.retryAt.LoadAndDelete(job.ID); ok {
		return v.(time.Time)
	}
	if b := w.svc.cfg.Backoff; b != nil {
		return time.Now().Add(max(b(job.Attempt), time.Millisecond))
	}
	return time.Time{}
}

// Work sends the delivery once and records the outcome.
func (w *worker) Work(ctx context.Context, job *river.Job[DeliverArgs]) error {
	st, log := w.svc.store, w.svc.log
	id := job.Args.RecommendationID
	log = log.With(slog.String("recommendation_id", id), slog.Int64("job_id", job.ID), slog.Int("attempt", job.Attempt))

	d, err := st.GetDelivery(ctx, id)
	if review.ErrorCode(err) == review.ENotFound {
		return river.JobCancel(err)
	}
	if err != nil {
		return err
	}
	switch d.Status {
	case review.DeliveryScheduled:
		// The undo window is over: start the delivery, unless an undo
		// cancelled it at this very moment (exactly one of the two wins).
		started, err := st.StartDelivery(ctx, id)
		if err != nil {
			return err
		}
		if !started {
			if d, err = st.GetDelivery(ctx, id); err != nil {
				return err
			}
			if d.Status == review.DeliveryCancelled {
				log.InfoContext(ctx, "approval undone; delivery cancelled")
				return river.JobCancel(fmt.Errorf("the approval of %q was undone", id))
			}
		}
	case review.DeliveryCancelled:
		log.InfoContext(ctx, "approval undone; delivery cancelled")
		return river.JobCancel(fmt.Errorf("the approval of %q was undone", id))
	case review.DeliveryDelivered:
		// Sent and recorded by an earlier run of this job whose completion
		// River did not get to record (a crash): nothing to do.
		log.InfoContext(ctx, "delivery already delivered; not sending again")
		return nil
	case review.DeliveryFailed:
		return river.JobCancel(fmt.Errorf("delivery of %q already failed", id))
	}
	rec, err := st.GetRecommendation(ctx, id)
	if review.ErrorCode(err) == review.ENotFound {
		return river.JobCancel(err)
	}
	if err != nil {
		return err
	}
	if rec.Status != review.StatusApproved {
		return river.JobCancel(fmt.Errorf("recommendation %q is %s, not approved", id, rec.Status))
	}

	sendErr := w.svc.cfg.Sink.Deliver(ctx, NewEvent(rec))

	// Record the outcome even if the job's context has just ended.
	mctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
	defer cancel()
	if sendErr == nil {
		if _, err := st.MarkDelivered(mctx, id); err != nil {
			// The receiver has it; the retry will send it again (at least once).
			return fmt.Errorf("delivered, but recording it failed: %w", err)
		}
		w.svc.metrics.count(OutcomeDelivered)
		log.InfoContext(ctx, "delivered")
		return nil
	}
	if ctx.Err() != nil && !errors.Is(ctx.Err(), context.DeadlineExceeded) {
		// The client is stopping: River puts the job back without counting
		// the attempt, so neither do we.
		return sendErr
	}
	if IsPermanent(sendErr) || job.Attempt >= job.MaxAttempts {
		if _, err := st.MarkDeliveryFailed(mctx, id, sendErr.Error()); err != nil {
			return fmt.Errorf("%w (and recording the failure failed: %v)", sendErr, err)
		}
		w.svc.metrics.count(OutcomeFailed)
		log.ErrorContext(ctx, "delivery failed", slog.String("error", sendErr.Error()), slog.Bool("permanent", IsPermanent(sendErr)))
		return river.JobCancel(sendErr)
	}
	if _, err := st.MarkDeliveryAttemptFailed(mctx, id, sendErr.Error()); err != nil {
		log.WarnContext(ctx, "could not record failed delivery attempt", slog.String("error", err.Error()))
	}
	if ra := retryAfterOf(sendErr); ra > 0 && ra <= w.svc.cfg.MaxRetryAfter {
		w.retryAt.Store(job.ID, time.Now().Add(ra))
	}
	w.svc.metrics.count(OutcomeRetry)
	log.WarnContext(ctx, "delivery attempt failed; will retry", slog.String("error", sendErr.Error()))
	return sendErr
}
