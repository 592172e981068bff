package models

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"time"

	"gorm.io/gorm"
)

// This file holds the read queries of the web pages and the JSON API: lists that join what a
// page shows in one query, so no page loads row by row.

// read starts a query whose statement is prepared once per connection and reused where the
// driver keeps prepared statements (PostgreSQL); pages run the same few statements at a high
// rate. Only fixed-shape queries use it (no IN lists of varying length), so the statement
// cache stays small.
func (s *Store) read(ctx context.Context) *gorm.DB {
	return s.q(ctx).Session(&gorm.Session{PrepareStmt: true})
}

// ProposalListRow is a proposal with what a list or a detail page shows about its action,
// initiator and governing policy version.
type ProposalListRow struct {
	Proposal
	ActionType    string
	ActionStatus  string
	ActionParams  map[string]any `gorm:"serializer:json"`
	ActionNote    string
	InitiatorID   *int64
	InitiatorName string
	PolicyName    string
	PolicyVersion int
	// Detail only: the governing version's check stage (for its deadline) and later stages.
	PolicyCheckSrc string
	PolicyStages   []int64 `gorm:"serializer:json"`
}

// proposalListColumns are those of the covering index proposals_community_list (migration
// 0004): lists leave out the proposal's rule, error, data and ballot, which ProposalDetail
// reads. A ballot lists every eligible member; reading and decoding fifty of them would
// dominate a list page.
const proposalListColumns = `proposals.id, proposals.community_id, proposals.action_id, proposals.policy_id,
	proposals.policy_version_id, proposals.stage, proposals.status, proposals.created_at, proposals.decided_at, ` + proposalJoinColumns

const proposalDetailColumns = `proposals.*, policy_versions.check_src AS policy_check_src,
	policy_versions.stages AS policy_stages, ` + proposalJoinColumns

const proposalJoinColumns = `actions.type AS action_type, actions.status AS action_status,
	actions.params AS action_params, actions.note AS action_note, actions.initiator_id,
	COALESCE(members.display_name, '') AS initiator_name,
	policy_versions.name AS policy_name, policy_versions.version AS policy_version`

// ProposalList lists a community's proposals, newest first, with their action, initiator
// and policy in one query (without rule, error, data and ballot). Pagination is by keyset (BeforeID), so
// every page costs the same however deep it is. Rows are scanned by hand: this is the
// busiest query of the site, and reflection per field was most of its cost.
func (s *Store) ProposalList(ctx context.Context, communityID int64, f ProposalFilter) ([]ProposalListRow, error) {
	if f.Limit <= 0 || f.Limit > 200 {
		f.Limit = 50
	}
	q := s.read(ctx).Table("proposals").Select(proposalListColumns).
		Joins("JOIN actions ON actions.id = proposals.action_id").
		Joins("JOIN policy_versions ON policy_versions.id = proposals.policy_version_id").
		Joins("LEFT JOIN members ON members.id = actions.initiator_id").
		Where("proposals.community_id = ?", communityID)
	switch f.Status {
	case "":
	case StatusNotCarriedOut: // an outcome, not a stored proposal status (Outcome)
		q = q.Where("proposals.status = ? AND actions.status = ?", StatusPassed, StatusNotCarriedOut)
	case StatusPassed:
		q = q.Where("proposals.status = ? AND actions.status <> ?", StatusPassed, StatusNotCarriedOut)
	default:
		q = q.Where("proposals.status = ?", f.Status)
	}
	if f.ActionType != "" {
		q = q.Where("actions.type = ?", f.ActionType)
	}
	if f.PolicyID != 0 {
		q = q.Where("proposals.policy_id = ?", f.PolicyID)
	}
	if f.BeforeID != 0 {
		q = q.Where("proposals.id < ?", f.BeforeID)
	}
	rows, err := q.Order("proposals.id DESC").Limit(f.Limit).Rows()
	if err != nil {
		return nil, fmt.Errorf("list proposals: %w", err)
	}
	defer rows.Close()
	out := make([]ProposalListRow, 0, f.Limit)
	for rows.Next() {
		var r ProposalListRow
		var params string
		var decided sql.NullTime
		if err := rows.Scan(&r.ID, &r.CommunityID, &r.ActionID, &r.PolicyID, &r.PolicyVersionID, &r.Stage, &r.Status,
			&r.CreatedAt, &decided, &r.ActionType, &r.ActionStatus, &params, &r.ActionNote,
			&r.InitiatorID, &r.InitiatorName, &r.PolicyName, &r.PolicyVersion); err != nil {
			return nil, fmt.Errorf("list proposals: %w", err)
		}
		if decided.Valid {
			r.DecidedAt = &decided.Time
		}
		if err := json.Unmarshal([]byte(params), &r.ActionParams); err != nil {
			return nil, fmt.Errorf("proposal %d: action params: %w", r.ID, err)
		}
		out = append(out, r)
	}
	return out, rows.Err()
}

// ProposalDetail loads one proposal of a community with its action, initiator and policy.
func (s *Store) ProposalDetail(ctx context.Context, communityID, id int64) (*ProposalListRow, error) {
	var rows []ProposalListRow
	err := s.read(ctx).Table("proposals").Select(proposalDetailColumns).
		Joins("JOIN actions ON actions.id = proposals.action_id").
		Joins("JOIN policy_versions ON policy_versions.id = proposals.policy_version_id").
		Joins("LEFT JOIN members ON members.id = actions.initiator_id").
		Where("proposals.community_id = ? AND proposals.id = ?", communityID, id).Limit(1).Find(&rows).Error
	if err != nil {
		return nil, fmt.Errorf("load proposal: %w", err)
	}
	if len(rows) == 0 {
		return nil, fmt.Errorf("proposal: %w", ErrNotFound)
	}
	return &rows[0], nil
}

// RecentDecisions lists a community's most recently decided proposals, newest first.
func (s *Store) RecentDecisions(ctx context.Context, communityID int64, limit int) ([]ProposalListRow, error) {
	var rows []ProposalListRow
	err := s.read(ctx).Table("proposals").Select(proposalListColumns).
		Joins("JOIN actions ON actions.id = proposals.action_id").
		Joins("JOIN policy_versions ON policy_versions.id = proposals.policy_version_id").
		Joins("LEFT JOIN members ON members.id = actions.initiator_id").
		Where("proposals.community_id = ? AND proposals.decided_at IS NOT NULL", communityID).
		Order("proposals.decided_at DESC, proposals.id DESC").Limit(limit).Find(&rows).Error
	if err != nil {
		return nil, fmt.Errorf("recent decisions: %w", err)
	}
	return rows, nil
}

// OpenBallots returns the ballots of a community's proposals by id (those without a ballot
// are left out), for telling which proposals wait for a member's vote.
func (s *Store) OpenBallots(ctx context.Context, communityID int64, proposalIDs []int64) (map[int64]*Ballot, error) {
	out := make(map[int64]*Ballot, len(proposalIDs))
	if len(proposalIDs) == 0 {
		return out, nil
	}
	var rows []struct {
		ID     int64
		Ballot *Ballot `gorm:"serializer:json"`
	}
	if err := s.q(ctx).Table("proposals").Select("id, ballot").
		Where("community_id = ? AND id IN ? AND ballot IS NOT NULL", communityID, proposalIDs).Scan(&rows).Error; err != nil {
		return nil, fmt.Errorf("load ballots: %w", err)
	}
	for _, r := range rows {
		if r.Ballot != nil {
			out[r.ID] = r.Ballot
		}
	}
	return out, nil
}

// MemberNames maps member ids of a community to display names, and tells which of them have
// left. Many ids are read as the whole community in one indexed scan, which is cheaper than a
// long IN list.
func (s *Store) MemberNames(ctx context.Context, communityID int64, ids []int64) (names map[int64]string, left map[int64]bool, err error) {
	names, left = make(map[int64]string, len(ids)), map[int64]bool{}
	if len(ids) == 0 {
		return names, left, nil
	}
	cols := "id, display_name, CASE WHEN left_at IS NULL THEN 0 ELSE 1 END"
	q := s.read(ctx).Table("members").Select(cols).Where("community_id = ?", communityID)
	if len(ids) <= 100 {
		q = s.q(ctx).Table("members").Select(cols).Where("community_id = ? AND id IN ?", communityID, ids)
	}
	rows, err := q.Rows()
	if err != nil {
		return nil, nil, fmt.Errorf("member names: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var id, gone int64
		var name string
		if err := rows.Scan(&id, &name, &gone); err != nil {
			return nil, nil, err
		}
		names[id] = name
		if gone == 1 {
			left[id] = true
		}
	}
	return names, left, rows.Err()
}

// VotesByMember returns a member's votes on a set of proposals, by proposal id, in one query.
func (s *Store) VotesByMember(ctx context.Context, memberID int64, proposalIDs []int64) (map[int64]Vote, error) {
	out := make(map[int64]Vote, len(proposalIDs))
	if len(proposalIDs) == 0 {
		return out, nil
	}
	var vs []Vote
	if err := s.q(ctx).Where("member_id = ? AND proposal_id IN ?", memberID, proposalIDs).Find(&vs).Error; err != nil {
		return nil, fmt.Errorf("load my votes: %w", err)
	}
	for _, v := range vs {
		out[v.ProposalID] = v
	}
	return out, nil
}

// ProposalTimeline lists the audit events of a proposal and of its action (the action's
// arrival and execution are recorded before or without the proposal id), in chain order.
// Two indexed lookups joined by UNION ALL instead of one OR, which planners answer by
// scanning the log.
func (s *Store) ProposalTimeline(ctx context.Context, communityID, proposalID, actionID int64) ([]AuditEvent, error) {
	var es []AuditEvent
	err := s.read(ctx).Raw(`SELECT * FROM audit_events WHERE proposal_id = ? AND community_id = ?
		UNION ALL
		SELECT * FROM audit_events WHERE action_id = ? AND community_id = ? AND (proposal_id IS NULL OR proposal_id <> ?)
		ORDER BY seq LIMIT 500`, proposalID, communityID, actionID, communityID, proposalID).Scan(&es).Error
	if err != nil {
		return nil, fmt.Errorf("proposal timeline: %w", err)
	}
	return es, nil
}

// ActionEffects lists the effects recorded for a proposal or its action (an execution is
// recorded against the action alone), in recorded order.
func (s *Store) ActionEffects(ctx context.Context, communityID, proposalID, actionID int64) ([]Effect, error) {
	var es []Effect
	err := s.read(ctx).Where("action_id = ? AND community_id = ?", actionID, communityID).Order("id").Find(&es).Error
	if err != nil {
		return nil, fmt.Errorf("effects: %w", err)
	}
	// Every effect of a proposal names its action too; stages of one action share them.
	out := es[:0]
	for _, e := range es {
		if e.ProposalID == nil || *e.ProposalID == proposalID {
			out = append(out, e)
		}
	}
	return out, nil
}

// AuditPage lists a community's audit events newest first, filtered, below a sequence
// number (keyset pagination; 0 starts at the newest).
func (s *Store) AuditPage(ctx context.Context, communityID int64, f AuditFilter, beforeSeq int64) ([]AuditEvent, error) {
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
	if beforeSeq > 0 {
		q = q.Where("seq < ?", beforeSeq)
	}
	if f.Limit <= 0 || f.Limit > 10_000 {
		f.Limit = 100
	}
	var es []AuditEvent
	if err := q.Order("seq DESC").Limit(f.Limit).Find(&es).Error; err != nil {
		return nil, fmt.Errorf("audit events: %w", err)
	}
	return es, nil
}

// AuditKinds lists the event kinds a community's log contains, for the filter.
func (s *Store) AuditKinds(ctx context.Context, communityID int64) ([]string, error) {
	var kinds []string
	err := s.q(ctx).Model(&AuditEvent{}).Where("community_id = ?", communityID).Distinct("kind").Order("kind").Pluck("kind", &kinds).Error
	return kinds, err
}

// DocumentByIDAny finds a document of a community, removed or not (for its history).
func (s *Store) DocumentByIDAny(ctx context.Context, communityID, docID int64) (*Document, error) {
	var d Document
	if err := s.q(ctx).Where("community_id = ? AND id = ?", communityID, docID).First(&d).Error; err != nil {
		return nil, notFound(err, "document")
	}
	return &d, nil
}

// Membership finds a community by slug and the account's current membership in it, in one
// query; a community the account is not in is ErrNotFound, like one that does not exist.
func (s *Store) Membership(ctx context.Context, slug string, accountID int64) (*Community, *Member, error) {
	var row struct {
		Community
		MemberID          int64
		MemberAccountID   *int64
		MemberDisplayName string
		MemberCreatedAt   time.Time
	}
	err := s.read(ctx).Table("communities").
		Select("communities.*, members.id AS member_id, members.account_id AS member_account_id, "+
			"members.display_name AS member_display_name, members.created_at AS member_created_at").
		Joins("JOIN members ON members.community_id = communities.id").
		Where("communities.slug = ? AND members.account_id = ? AND members.left_at IS NULL", slug, accountID).
		Take(&row).Error
	if err != nil {
		return nil, nil, notFound(err, "community")
	}
	c := row.Community
	return &c, &Member{ID: row.MemberID, CommunityID: c.ID, AccountID: row.MemberAccountID,
		DisplayName: row.MemberDisplayName, CreatedAt: row.MemberCreatedAt}, nil
}
