package models

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"gorm.io/gorm"
)

// Effect statuses: the outbox lifecycle.
const (
	EffectPending   = "pending"   // waiting for its time (next_attempt_at)
	EffectDone      = "done"      // delivered
	EffectFailed    = "failed"    // gave up after the allowed attempts; an admin may retry
	EffectCancelled = "cancelled" // superseded before delivery (e.g. a ballot closed first)
)

// Effect is one side effect a policy decided (execute, revert, post, notify, open or close a
// ballot), stored in the transaction that decided it and delivered afterwards by the runtime.
type Effect struct {
	ID            int64
	CommunityID   int64
	ProposalID    *int64
	ActionID      *int64
	Seq           int // order within its proposal, as the policy recorded it
	Kind          string
	Platform      string
	Payload       map[string]any `gorm:"serializer:json"`
	IdemKey       string         // unique: recording the same effect twice keeps one row
	Status        string
	Attempts      int
	NextAttemptAt time.Time
	LastError     string
	ClaimedBy     string
	ClaimedUntil  *time.Time
	Result        map[string]any `gorm:"serializer:json"`
	DeliveredAt   *time.Time
	CreatedAt     time.Time
}

// InsertEffects stores effects in one statement; an effect whose idempotency key already
// exists is skipped (the same intent recorded by a re-evaluation).
func (s *Store) InsertEffects(ctx context.Context, es []Effect) error {
	if len(es) == 0 {
		return nil
	}
	if err := insertRows(ctx, s, es, "idem_key"); err != nil {
		return fmt.Errorf("insert effects: %w", err)
	}
	return nil
}

// EffectsOf lists the effects of a proposal in recorded order.
func (s *Store) EffectsOf(ctx context.Context, communityID, proposalID int64) ([]Effect, error) {
	var es []Effect
	err := s.q(ctx).Where("community_id = ? AND proposal_id = ?", communityID, proposalID).Order("seq, id").Find(&es).Error
	return es, err
}

// ClaimEffects leases up to limit due effects to a worker until `until`, and returns them.
// An effect is due when its time has come, nobody holds an unexpired lease on it, and no
// earlier effect of the same action is still pending: effects of one action are delivered
// in the order they were recorded. On PostgreSQL, rows other replicas are claiming are
// skipped (FOR UPDATE SKIP LOCKED), so no effect is claimed twice. Each claim counts an
// attempt, before the platform is called: an attempt that crashes still counts, and the
// next one knows to reconcile. The pending status is written into the SQL, not bound, so
// that even a generic plan of the prepared statement walks the partial pending indexes.
func (s *Store) ClaimEffects(ctx context.Context, worker string, now, until time.Time, limit int) ([]Effect, error) {
	lock := ""
	if s.Dialect() == DialectPostgres {
		lock = "FOR UPDATE SKIP LOCKED"
	}
	var es []Effect
	err := s.q(ctx).Raw(`UPDATE effects SET claimed_by = ?, claimed_until = ?, attempts = attempts + 1
		WHERE id IN (
			SELECT e.id FROM effects e
			WHERE e.status = '`+EffectPending+`' AND e.next_attempt_at <= ? AND (e.claimed_until IS NULL OR e.claimed_until < ?)
			AND NOT EXISTS (SELECT 1 FROM effects p WHERE p.action_id = e.action_id AND p.id < e.id AND p.status = '`+EffectPending+`')
			ORDER BY e.id LIMIT ? `+lock+`)
		RETURNING *`, worker, until, now, now, limit).Scan(&es).Error
	if err != nil {
		return nil, fmt.Errorf("claim effects: %w", err)
	}
	return es, nil
}

// CompleteEffect records a delivered effect. Only the worker holding the claim may.
func (s *Store) CompleteEffect(ctx context.Context, id int64, worker string, result map[string]any, at time.Time) error {
	return s.q(ctx).Model(&Effect{}).Where("id = ? AND claimed_by = ?", id, worker).
		Updates(map[string]any{"status": EffectDone, "result": jsonText(result), "delivered_at": at, "claimed_until": nil, "last_error": ""}).Error
}

// RescheduleEffect puts an effect back in the queue for a later attempt. countAttempt false
// takes back the attempt the claim counted (a rate limit is not a failure).
func (s *Store) RescheduleEffect(ctx context.Context, id int64, worker string, next time.Time, lastError string, countAttempt bool) error {
	up := map[string]any{"next_attempt_at": next, "claimed_until": nil, "last_error": lastError}
	if !countAttempt {
		up["attempts"] = gorm.Expr("attempts - 1")
	}
	return s.q(ctx).Model(&Effect{}).Where("id = ? AND claimed_by = ?", id, worker).Updates(up).Error
}

// FailEffect gives up on an effect; it shows on its proposal and an admin may retry it.
func (s *Store) FailEffect(ctx context.Context, id int64, worker, lastError string) error {
	return s.q(ctx).Model(&Effect{}).Where("id = ? AND claimed_by = ?", id, worker).
		Updates(map[string]any{"status": EffectFailed, "claimed_until": nil, "last_error": lastError}).Error
}

// ReleaseClaims hands a worker's unfinished claims back at once (graceful shutdown).
func (s *Store) ReleaseClaims(ctx context.Context, worker string) error {
	return s.q(ctx).Model(&Effect{}).Where("claimed_by = ? AND status = ? AND claimed_until IS NOT NULL", worker, EffectPending).
		Updates(map[string]any{"claimed_until": nil, "attempts": gorm.Expr("attempts - 1")}).Error
}

// RetryEffect queues a failed effect of a community again.
func (s *Store) RetryEffect(ctx context.Context, communityID, id int64, now time.Time) (*Effect, error) {
	res := s.q(ctx).Model(&Effect{}).Where("id = ? AND community_id = ? AND status = ?", id, communityID, EffectFailed).
		Updates(map[string]any{"status": EffectPending, "attempts": 0, "next_attempt_at": now, "claimed_until": nil})
	if res.Error != nil {
		return nil, res.Error
	}
	if res.RowsAffected == 0 {
		return nil, fmt.Errorf("failed effect: %w", ErrNotFound)
	}
	var e Effect
	err := s.q(ctx).First(&e, id).Error
	return &e, err
}

// EffectCounts counts effects by status.
func (s *Store) EffectCounts(ctx context.Context) (map[string]int64, error) {
	var rows []struct {
		Status string
		N      int64
	}
	if err := s.q(ctx).Model(&Effect{}).Select("status, COUNT(*) AS n").Group("status").Scan(&rows).Error; err != nil {
		return nil, err
	}
	out := map[string]int64{}
	for _, r := range rows {
		out[r.Status] = r.N
	}
	return out, nil
}

func jsonText(v map[string]any) string {
	if v == nil {
		return "{}"
	}
	b, err := json.Marshal(v)
	if err != nil {
		return "{}"
	}
	return string(b)
}

// FailedEffectOf finds the latest effect of an action of a kind that failed for good; nil
// when there is none.
func (s *Store) FailedEffectOf(ctx context.Context, actionID int64, kind string) (*Effect, error) {
	var es []Effect
	err := s.q(ctx).Where("action_id = ? AND kind = ? AND status = ?", actionID, kind, EffectFailed).Order("id DESC").Limit(1).Find(&es).Error
	if err != nil || len(es) == 0 {
		return nil, err
	}
	return &es[0], nil
}
