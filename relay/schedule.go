package relay

import (
	"math/rand/v2"
	"time"
)

// Schedule says when a failed delivery is tried again (DESIGN.md §2).
type Schedule interface {
	// Next returns the delay before the attempt that follows failed attempt number attempt (1 for
	// the first attempt of the schedule), before jitter, and false when no attempt follows.
	Next(attempt int) (time.Duration, bool)
}

// webhookDelays are the Standard Webhooks attempts: immediately, then 5 s, 5 min, 30 min, 2 h,
// 5 h, 10 h, 14 h, 20 h and 24 h after the attempt before.
var webhookDelays = []time.Duration{0, 5 * time.Second, 5 * time.Minute, 30 * time.Minute,
	2 * time.Hour, 5 * time.Hour, 10 * time.Hour, 14 * time.Hour, 20 * time.Hour, 24 * time.Hour}

// WebhookSchedule is the schedule of webhooks: ten attempts, the last a day after the ninth.
type WebhookSchedule struct{}

// Next implements Schedule.
func (WebhookSchedule) Next(attempt int) (time.Duration, bool) {
	if attempt < 1 || attempt >= len(webhookDelays) {
		return 0, false
	}
	return webhookDelays[attempt], true
}

// BackoffSchedule is the schedule of NATS and the JSONL file: min(attempt⁴ s, MaxDelay), for up
// to Attempts attempts.
type BackoffSchedule struct {
	Attempts int
	MaxDelay time.Duration
}

// DefaultBackoff returns the schedule of the NATS and file sinks: 25 attempts, at most an hour
// apart.
func DefaultBackoff() BackoffSchedule { return BackoffSchedule{Attempts: 25, MaxDelay: time.Hour} }

// Next implements Schedule.
func (b BackoffSchedule) Next(attempt int) (time.Duration, bool) {
	if attempt < 1 || attempt >= b.Attempts {
		return 0, false
	}
	n := time.Duration(attempt)
	if d := n * n * n * n * time.Second; d < b.MaxDelay {
		return d, true
	}
	return b.MaxDelay, true
}

// ScheduleFor returns the schedule of the sink named name ("webhook", "nats", "file").
func ScheduleFor(name string) Schedule {
	if name == "webhook" {
		return WebhookSchedule{}
	}
	return DefaultBackoff()
}

// Jitter is the spread of a retry delay: ±10 %, so that events that failed together do not all
// come back at one instant.
const Jitter = 0.10

// jitter spreads d uniformly over d ± Jitter.
func jitter(d time.Duration) time.Duration {
	return time.Duration(float64(d) * (1 - Jitter + 2*Jitter*rand.Float64()))
}
