package main

import (
	"fmt"
	"os"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/spendsense/operator-api/internal/store"
)

// envFlag is a serve flag that an environment variable can also set (the
// flag wins when both are given).
type envFlag struct{ flag, env string }

// applyEnv sets every flag not given on the command line from its
// variable, so a bad value in either is the same start-up error.
func applyEnv(flags *pflag.FlagSet, bindings []envFlag) error {
	for _, b := range bindings {
		v, ok := os.LookupEnv(b.env)
		if !ok || v == "" || flags.Changed(b.flag) {
			continue
		}
		if err := flags.Set(b.flag, v); err != nil {
			return fmt.Errorf("%s=%q: %w", b.env, v, err)
		}
	}
	return nil
}

// alertFlags adds the /alerts thresholds to serve.
func alertFlags(cmd *cobra.Command, th *store.AlertThresholds) []envFlag {
	d := store.DefaultAlertThresholds
	f := cmd.Flags()
	f.Int64Var(&th.QueuePending, "alert-queue-pending", d.QueuePending, "long_queue alert when more recommendations than this are pending (env SPENDSENSE_ALERT_QUEUE_PENDING)")
	f.DurationVar(&th.QueueAge, "alert-queue-age", d.QueueAge, "long_queue alert when the oldest pending recommendation is older (env SPENDSENSE_ALERT_QUEUE_AGE)")
	f.Float64Var(&th.RejectionRate, "alert-rejection-rate", d.RejectionRate, "high_rejection_rate alert at this percentage of the last hour's decisions (env SPENDSENSE_ALERT_REJECTION_RATE)")
	f.Int64Var(&th.RejectionMinDecisions, "alert-rejection-min-decisions", d.RejectionMinDecisions, "decisions in the last hour before high_rejection_rate can fire (env SPENDSENSE_ALERT_REJECTION_MIN_DECISIONS)")
	f.Int64Var(&th.GuardrailFailures, "alert-guardrail-failures", d.GuardrailFailures, "guardrail_failures alert at this many pending items that failed a guardrail (env SPENDSENSE_ALERT_GUARDRAIL_FAILURES)")
	f.DurationVar(&th.FlagAgeMedium, "alert-flag-age-medium", d.FlagAgeMedium, "flagged_item is medium once the oldest open flag is this old (env SPENDSENSE_ALERT_FLAG_AGE_MEDIUM)")
	f.DurationVar(&th.FlagAgeHigh, "alert-flag-age-high", d.FlagAgeHigh, "flagged_item is high once the oldest open flag is this old (env SPENDSENSE_ALERT_FLAG_AGE_HIGH)")
	f.Float64Var(&th.FastApprovalsPerMinute, "alert-fast-approvals", d.FastApprovalsPerMinute, "unusual_pattern alert when an operator makes this many single approvals within a minute (env SPENDSENSE_ALERT_FAST_APPROVALS)")
	return []envFlag{
		{"alert-queue-pending", "SPENDSENSE_ALERT_QUEUE_PENDING"},
		{"alert-queue-age", "SPENDSENSE_ALERT_QUEUE_AGE"},
		{"alert-rejection-rate", "SPENDSENSE_ALERT_REJECTION_RATE"},
		{"alert-rejection-min-decisions", "SPENDSENSE_ALERT_REJECTION_MIN_DECISIONS"},
		{"alert-guardrail-failures", "SPENDSENSE_ALERT_GUARDRAIL_FAILURES"},
		{"alert-flag-age-medium", "SPENDSENSE_ALERT_FLAG_AGE_MEDIUM"},
		{"alert-flag-age-high", "SPENDSENSE_ALERT_FLAG_AGE_HIGH"},
		{"alert-fast-approvals", "SPENDSENSE_ALERT_FAST_APPROVALS"},
	}
}

// checkAlertThresholds refuses thresholds that could never or would always fire.
func checkAlertThresholds(th store.AlertThresholds) error {
	switch {
	case th.QueuePending < 1 || th.RejectionMinDecisions < 1 || th.GuardrailFailures < 1:
		return fmt.Errorf("alert counts must be at least 1")
	case th.QueueAge <= 0 || th.FlagAgeMedium <= 0 || th.FlagAgeHigh < th.FlagAgeMedium:
		return fmt.Errorf("alert ages must be positive, and --alert-flag-age-high at least --alert-flag-age-medium")
	case th.RejectionRate <= 0 || th.RejectionRate > 100:
		return fmt.Errorf("--alert-rejection-rate must be a percentage above 0 and at most 100")
	case th.FastApprovalsPerMinute <= 0:
		return fmt.Errorf("--alert-fast-approvals must be positive")
	}
	return nil
}

// realtimeSettings are the live stream's serve settings.
type realtimeSettings struct {
	anonymous  string
	maxStreams int
	retention  time.Duration
}

// realtimeFlags adds the live stream's settings to serve.
func realtimeFlags(cmd *cobra.Command, rs *realtimeSettings) []envFlag {
	f := cmd.Flags()
	f.StringVar(&rs.anonymous, "realtime-anonymous", "on", "on: clients without a token or ticket get redacted live events (type and timestamp); off: 401 (env SPENDSENSE_REALTIME_ANONYMOUS)")
	f.IntVar(&rs.maxStreams, "realtime-max-streams", 2000, "live streams served at once; more are answered 503 with Retry-After (-1: no limit) (env SPENDSENSE_REALTIME_MAX_STREAMS)")
	f.DurationVar(&rs.retention, "realtime-retention", 2*time.Hour, "how long live events are kept for clients resuming with Last-Event-ID (at least 1h) (env SPENDSENSE_REALTIME_RETENTION)")
	return []envFlag{
		{"realtime-anonymous", "SPENDSENSE_REALTIME_ANONYMOUS"},
		{"realtime-max-streams", "SPENDSENSE_REALTIME_MAX_STREAMS"},
		{"realtime-retention", "SPENDSENSE_REALTIME_RETENTION"},
	}
}

// check refuses settings that are not what they seem.
func (rs realtimeSettings) check() error {
	if rs.anonymous != "on" && rs.anonymous != "off" {
		return fmt.Errorf("SPENDSENSE_REALTIME_ANONYMOUS / --realtime-anonymous must be on or off, not %q", rs.anonymous)
	}
	if rs.maxStreams == 0 || rs.maxStreams < -1 {
		return fmt.Errorf("--realtime-max-streams must be positive, or -1 for no limit")
	}
	if rs.retention < time.Hour {
		return fmt.Errorf("--realtime-retention must be at least 1h (clients may resume up to an hour back)")
	}
	return nil
}
