package models

import (
	"context"
	"fmt"
	"time"

	"gorm.io/gorm/clause"
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
	if err := s.q(ctx).Clauses(clause.OnConflict{Columns: []clause.Column{{Name: "idem_key"}}, DoNothing: true}).
		Create(&es).Error; err != nil {
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
