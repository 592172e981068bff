package models

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"time"
)

// MergeMembers merges a member into another one found to be the same person
// (constitution.merge_members). The kept member gets the merged member's platform
// identities, roles, web login (when it has none) and its votes on proposals still pending;
// where both voted on the same pending proposal, the vote cast last stands. On pending
// ballots the kept member takes the merged member's place among the eligible voters. What is
// decided stays as it was recorded — votes on decided proposals, actions and audit events
// keep naming the merged member — so the audit log still verifies. The merged member is
// marked as having left, merged into the kept one. Run it in a transaction.
func (s *Store) MergeMembers(ctx context.Context, communityID, keepID, mergedID int64, now time.Time) error {
	if keepID == mergedID {
		return Invalid("duplicate", "a member cannot be merged into themselves")
	}
	keep, err := s.MemberByID(ctx, communityID, keepID)
	if err != nil {
		return err
	}
	merged, err := s.MemberByID(ctx, communityID, mergedID)
	if err != nil {
		return err
	}
	if keep.LeftAt != nil || merged.LeftAt != nil {
		return Invalid("duplicate", "only current members can be merged")
	}
	q := s.q(ctx)
	if err := q.Exec("UPDATE platform_identities SET member_id = ?, updated_at = ? WHERE community_id = ? AND member_id = ?",
		keepID, now.UTC(), communityID, mergedID).Error; err != nil {
		return fmt.Errorf("move identities: %w", err)
	}
	if err := s.mergeVotes(ctx, communityID, keepID, mergedID); err != nil {
		return err
	}
	if err := s.mergeEligibility(ctx, communityID, keepID, mergedID); err != nil {
		return err
	}
	if err := q.Exec(`INSERT INTO member_roles (member_id, role_id) SELECT ?, role_id FROM member_roles
		WHERE member_id = ? AND role_id NOT IN (SELECT role_id FROM member_roles WHERE member_id = ?)`, keepID, mergedID, keepID).Error; err != nil {
		return fmt.Errorf("give the kept member the merged member's roles: %w", err)
	}
	if err := q.Exec("UPDATE members SET left_at = ?, merged_into = ?, account_id = NULL WHERE id = ?", now.UTC(), keepID, mergedID).Error; err != nil {
		return fmt.Errorf("retire the merged member: %w", err)
	}
	if keep.AccountID == nil && merged.AccountID != nil {
		if err := q.Exec("UPDATE members SET account_id = ? WHERE id = ?", *merged.AccountID, keepID).Error; err != nil {
			return fmt.Errorf("move the web login: %w", err)
		}
	}
	return s.BumpPolicyEpoch(ctx, communityID)
}

// mergeVotes moves the merged member's votes on pending proposals to the kept member; where
// both voted, the one changed last stands.
func (s *Store) mergeVotes(ctx context.Context, communityID, keepID, mergedID int64) error {
	var vs []Vote
	err := s.q(ctx).Table("votes").Select("votes.*").Joins("JOIN proposals p ON p.id = votes.proposal_id").
		Where("votes.community_id = ? AND votes.member_id IN ? AND p.status = ?", communityID, []int64{keepID, mergedID}, StatusPending).
		Find(&vs).Error
	if err != nil {
		return fmt.Errorf("load the members' votes: %w", err)
	}
	kept := map[int64]Vote{}
	for _, v := range vs {
		if v.MemberID == keepID {
			kept[v.ProposalID] = v
		}
	}
	var drop, move []int64
	for _, v := range vs {
		if v.MemberID != mergedID {
			continue
		}
		k, both := kept[v.ProposalID]
		switch {
		case !both:
			move = append(move, v.ID)
		case v.UpdatedAt.After(k.UpdatedAt): // the merged member's vote is the later one
			drop = append(drop, k.ID)
			move = append(move, v.ID)
		default:
			drop = append(drop, v.ID)
		}
	}
	if len(drop) > 0 {
		if err := s.q(ctx).Exec("DELETE FROM votes WHERE id IN ?", drop).Error; err != nil {
			return fmt.Errorf("drop superseded votes: %w", err)
		}
	}
	if len(move) > 0 {
		if err := s.q(ctx).Exec("UPDATE votes SET member_id = ? WHERE id IN ?", keepID, move).Error; err != nil {
			return fmt.Errorf("move votes: %w", err)
		}
	}
	return nil
}

// mergeEligibility puts the kept member in the merged member's place on pending ballots.
func (s *Store) mergeEligibility(ctx context.Context, communityID, keepID, mergedID int64) error {
	var ps []Proposal
	// The LIKE narrows the rows to decode; the decoded list decides.
	err := s.q(ctx).Where("community_id = ? AND status = ? AND ballot LIKE ?", communityID, StatusPending, "%"+strconv.FormatInt(mergedID, 10)+"%").
		Find(&ps).Error
	if err != nil {
		return fmt.Errorf("load pending ballots: %w", err)
	}
	for i := range ps {
		p := &ps[i]
		if p.Ballot == nil || !slices.Contains(p.Ballot.Eligible, mergedID) {
			continue
		}
		p.Ballot.Eligible = slices.DeleteFunc(p.Ballot.Eligible, func(id int64) bool { return id == mergedID })
		if !slices.Contains(p.Ballot.Eligible, keepID) {
			p.Ballot.Eligible = append(p.Ballot.Eligible, keepID)
			slices.Sort(p.Ballot.Eligible)
		}
		if err := s.q(ctx).Model(&Proposal{}).Where("id = ?", p.ID).Select("ballot").Updates(p).Error; err != nil {
			return fmt.Errorf("update ballot of proposal %d: %w", p.ID, err)
		}
	}
	return nil
}
