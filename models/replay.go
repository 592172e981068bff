package models

import (
	"context"
	"fmt"
)

// DecidedProposals lists a community's most recently decided proposals (passed or failed),
// newest decision first, in one query.
func (s *Store) DecidedProposals(ctx context.Context, communityID int64, limit int) ([]Proposal, error) {
	var ps []Proposal
	err := s.q(ctx).Where("community_id = ? AND status IN ?", communityID, []string{StatusPassed, StatusFailed}).
		Order("decided_at DESC, id DESC").Limit(limit).Find(&ps).Error
	if err != nil {
		return nil, fmt.Errorf("load decided proposals: %w", err)
	}
	return ps, nil
}

// ProposalAuditEvents loads the audit events of several proposals of a community, of the
// given kinds, in chain order, in one query.
func (s *Store) ProposalAuditEvents(ctx context.Context, communityID int64, proposalIDs []int64, kinds ...string) ([]AuditEvent, error) {
	if len(proposalIDs) == 0 {
		return nil, nil
	}
	q := s.q(ctx).Where("community_id = ? AND proposal_id IN ?", communityID, proposalIDs)
	if len(kinds) > 0 {
		q = q.Where("kind IN ?", kinds)
	}
	var es []AuditEvent
	if err := q.Order("seq").Find(&es).Error; err != nil {
		return nil, fmt.Errorf("load audit events: %w", err)
	}
	return es, nil
}
