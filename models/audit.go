package models

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"strconv"
	"time"

	"gorm.io/gorm/clause"
)

// AuditEvent is one append-only, hash-chained record of a change to governance state. Each
// event's hash covers the previous event's hash, so editing or deleting any event breaks
// every later hash.
type AuditEvent struct {
	ID          int64
	CommunityID int64
	Seq         int64
	Kind        string
	ProposalID  *int64
	ActionID    *int64
	MemberID    *int64
	Payload     string // canonical JSON, exactly the bytes hashed
	PrevHash    string
	Hash        string
	CreatedAt   time.Time
}

// NewAuditEvent is an event to append.
type NewAuditEvent struct {
	Kind       string
	ProposalID *int64
	ActionID   *int64
	MemberID   *int64
	Payload    any
}

// AuditHash is the chain rule: sha256 over the previous hash, the sequence number, the
// kind, the ids and the payload, separated so no field can bleed into another.
func AuditHash(prev string, seq int64, kind string, proposalID, actionID, memberID *int64, payload string, at time.Time) string {
	h := sha256.New()
	for _, part := range []string{prev, strconv.FormatInt(seq, 10), kind, idString(proposalID), idString(actionID), idString(memberID), at.UTC().Format(time.RFC3339Nano), payload} {
		h.Write([]byte(part))
		h.Write([]byte{0})
	}
	return hex.EncodeToString(h.Sum(nil))
}

func idString(id *int64) string {
	if id == nil {
		return ""
	}
	return strconv.FormatInt(*id, 10)
}

// AppendAudit appends events to the community's chain. It must run inside a transaction: it
// locks the community row (the chain head) so concurrent appends queue instead of forking.
// Governance transactions take that lock first (LockCommunity) to avoid upgrading a lock.
func (s *Store) AppendAudit(ctx context.Context, communityID int64, at time.Time, events ...NewAuditEvent) error {
	if len(events) == 0 {
		return nil
	}
	var head Community
	q := s.q(ctx).Select("id", "audit_seq", "audit_hash")
	if s.Dialect() == DialectPostgres {
		q = q.Clauses(clause.Locking{Strength: "NO KEY UPDATE"})
	}
	if err := q.Where("id = ?", communityID).First(&head).Error; err != nil {
		return notFound(err, "community")
	}
	at = at.UTC().Truncate(time.Microsecond) // both databases keep microseconds
	rows := make([]AuditEvent, len(events))
	seq, prev := head.AuditSeq, head.AuditHash
	for i, e := range events {
		payload, err := json.Marshal(e.Payload)
		if err != nil {
			return fmt.Errorf("encode audit payload: %w", err)
		}
		seq++
		hash := AuditHash(prev, seq, e.Kind, e.ProposalID, e.ActionID, e.MemberID, string(payload), at)
		rows[i] = AuditEvent{CommunityID: communityID, Seq: seq, Kind: e.Kind, ProposalID: e.ProposalID, ActionID: e.ActionID,
			MemberID: e.MemberID, Payload: string(payload), PrevHash: prev, Hash: hash, CreatedAt: at}
		prev = hash
	}
	if err := insertRows(ctx, s, rows, ""); err != nil {
		return fmt.Errorf("append audit events: %w", err)
	}
	return s.q(ctx).Model(&Community{}).Where("id = ?", communityID).
		Updates(map[string]any{"audit_seq": seq, "audit_hash": prev}).Error
}

// AuditFilter selects audit events of a community.
type AuditFilter struct {
	ProposalID int64
	MemberID   int64
	Kind       string
	Since      *time.Time
	Until      *time.Time
	AfterSeq   int64
	Limit      int
}

// AuditEvents lists a community's audit events in chain order.
func (s *Store) AuditEvents(ctx context.Context, communityID int64, f AuditFilter) ([]AuditEvent, error) {
	q := s.q(ctx).Where("community_id = ?", communityID)
	if f.ProposalID != 0 {
		q = q.Where("proposal_id = ?", f.ProposalID)
	}
	if f.MemberID != 0 {
		q = q.Where("member_id = ?", f.MemberID)
	}
	if f.Kind != "" {
		q = q.Where("kind = ?", f.Kind)
	}
	if f.Since != nil {
		q = q.Where("created_at >= ?", *f.Since)
	}
	if f.Until != nil {
		q = q.Where("created_at < ?", *f.Until)
	}
	if f.AfterSeq != 0 {
		q = q.Where("seq > ?", f.AfterSeq)
	}
	if f.Limit > 0 {
		q = q.Limit(f.Limit)
	}
	var es []AuditEvent
	err := q.Order("seq").Find(&es).Error
	return es, err
}
