package models

import (
	"context"
	"fmt"
	"math/rand/v2"
	"time"
)

// Policy kinds (Ostrom): platform policies govern everyday actions, constitution policies
// govern changes to governance itself.
const (
	KindPlatform     = "platform"
	KindConstitution = "constitution"
)

// Policy modes: enforce decides; dry_run evaluates beside the enforcing policy and only
// records what it would have decided.
const (
	ModeEnforce = "enforce"
	ModeDryRun  = "dry_run"
)

// PolicyFields are what a policy says: everything a PolicyVersion freezes.
type PolicyFields struct {
	Kind        string
	Name        string
	Description string
	Priority    int      // lower runs first; shown and changed like any governance change
	ActionTypes []string `gorm:"serializer:json"` // empty: a base policy covering every type of its kind
	Mode        string   // ModeEnforce or ModeDryRun
	Active      bool     //
	Blocks      string   // the block program (JSON) the sources were compiled from; "" for hand-written code
	FilterSrc   string   `gorm:"column:filter_src"`
	InitSrc     string   `gorm:"column:initialize_src"`
	NotifySrc   string   `gorm:"column:notify_src"`
	CheckSrc    string   `gorm:"column:check_src"`
	PassSrc     string   `gorm:"column:pass_src"`
	FailSrc     string   `gorm:"column:fail_src"`
	Stages      []int64  `gorm:"serializer:json"` // a policy bundle: policies that decide in turn after this one passes
	Rule        string   // the plain-language sentence of the rule
}

// Policy is the current state of a community policy. Every saved change creates an
// immutable PolicyVersion; proposals pin the version that governs them.
type Policy struct {
	ID          int64
	CommunityID int64
	PolicyFields
	Version     int    // number of the current version
	VersionID   *int64 // id of the current PolicyVersion
	LastError   string
	LastErrorAt *time.Time
	CreatedAt   time.Time
	UpdatedAt   time.Time
}

// PolicyVersion is one immutable saved state of a policy.
type PolicyVersion struct {
	ID          int64
	PolicyID    int64
	CommunityID int64
	Version     int
	PolicyFields
	ProposalID *int64 // the proposal that made this change, if governed
	CreatedAt  time.Time
}

// Covers tells whether the policy's action types include t (an empty list covers all).
func (f *PolicyFields) Covers(t string) bool {
	if len(f.ActionTypes) == 0 {
		return true
	}
	for _, x := range f.ActionTypes {
		if x == t {
			return true
		}
	}
	return false
}

// SavePolicy creates a policy (ID 0) or stores a changed one, writing its new version. It
// bumps the community's policy epoch so every replica's policy cache notices.
func (s *Store) SavePolicy(ctx context.Context, p *Policy, proposalID *int64) error {
	return s.Tx(ctx, func(tx *Store) error {
		if p.ID == 0 {
			p.Version = 1
			if err := tx.q(ctx).Omit("VersionID").Create(p).Error; err != nil {
				if isDuplicate(err) {
					return Invalid("name", "a policy with this name already exists")
				}
				return fmt.Errorf("create policy: %w", err)
			}
		} else {
			var cur Policy
			if err := tx.q(ctx).Where("id = ? AND community_id = ?", p.ID, p.CommunityID).First(&cur).Error; err != nil {
				return notFound(err, "policy")
			}
			p.Version = cur.Version + 1
			p.CreatedAt = cur.CreatedAt
		}
		v := &PolicyVersion{PolicyID: p.ID, CommunityID: p.CommunityID, Version: p.Version, PolicyFields: p.PolicyFields, ProposalID: proposalID}
		if err := tx.q(ctx).Create(v).Error; err != nil {
			return fmt.Errorf("create policy version: %w", err)
		}
		p.VersionID = &v.ID
		err := tx.q(ctx).Model(&Policy{}).Where("id = ?", p.ID).Select("*").Omit("id", "created_at").Updates(p).Error
		if err != nil {
			if isDuplicate(err) {
				return Invalid("name", "a policy with this name already exists")
			}
			return fmt.Errorf("update policy: %w", err)
		}
		return tx.BumpPolicyEpoch(ctx, p.CommunityID)
	})
}

// BumpPolicyEpoch marks the community's governance (policies, roles, permissions, who holds
// them, who left) as changed, so caches of compiled policies and of members' permissions
// reload. The new epoch is random rather
// than the next number: a change rolled back must never share its epoch with a later one,
// or a cache filled inside the rolled-back transaction would be taken for current.
func (s *Store) BumpPolicyEpoch(ctx context.Context, communityID int64) error {
	return s.q(ctx).Model(&Community{}).Where("id = ?", communityID).
		Update("policy_epoch", rand.Int64()).Error
}

// PolicyEpoch reads the community's policy epoch.
func (s *Store) PolicyEpoch(ctx context.Context, communityID int64) (int64, error) {
	var epoch int64
	err := s.q(ctx).Model(&Community{}).Where("id = ?", communityID).Select("policy_epoch").Scan(&epoch).Error
	return epoch, err
}

// Policies lists a community's policies (active and inactive) in priority order.
func (s *Store) Policies(ctx context.Context, communityID int64) ([]Policy, error) {
	var ps []Policy
	err := s.q(ctx).Where("community_id = ?", communityID).Order("kind, priority, id").Find(&ps).Error
	return ps, err
}

// PolicyByID finds a policy of a community.
func (s *Store) PolicyByID(ctx context.Context, communityID, id int64) (*Policy, error) {
	var p Policy
	if err := s.q(ctx).Where("community_id = ? AND id = ?", communityID, id).First(&p).Error; err != nil {
		return nil, notFound(err, "policy")
	}
	return &p, nil
}

// PolicyByName finds a policy of a community by name.
func (s *Store) PolicyByName(ctx context.Context, communityID int64, name string) (*Policy, error) {
	var p Policy
	if err := s.q(ctx).Where("community_id = ? AND name = ?", communityID, name).First(&p).Error; err != nil {
		return nil, notFound(err, fmt.Sprintf("policy %q", name))
	}
	return &p, nil
}

// PolicyVersions lists the versions of a community's policy, newest first.
func (s *Store) PolicyVersions(ctx context.Context, communityID, policyID int64) ([]PolicyVersion, error) {
	var vs []PolicyVersion
	err := s.q(ctx).Where("community_id = ? AND policy_id = ?", communityID, policyID).Order("version DESC").Find(&vs).Error
	if err == nil && len(vs) == 0 {
		return nil, fmt.Errorf("policy: %w", ErrNotFound)
	}
	return vs, err
}

// PolicyVersionsByID loads policy versions by id (any community: callers pass ids they hold).
func (s *Store) PolicyVersionsByID(ctx context.Context, ids []int64) ([]PolicyVersion, error) {
	var vs []PolicyVersion
	if len(ids) == 0 {
		return nil, nil
	}
	err := s.q(ctx).Where("id IN ?", ids).Find(&vs).Error
	return vs, err
}

// RecordPolicyError notes (or clears, with "") the latest evaluation error of a policy, so
// the policy page shows it.
func (s *Store) RecordPolicyError(ctx context.Context, policyID int64, msg string, at time.Time) error {
	var when *time.Time
	if msg != "" {
		when = &at
	}
	return s.q(ctx).Model(&Policy{}).Where("id = ?", policyID).
		Updates(map[string]any{"last_error": msg, "last_error_at": when}).Error
}

// NextPriority returns a priority after every existing policy of a kind.
func (s *Store) NextPriority(ctx context.Context, communityID int64, kind string) (int, error) {
	var max *int
	err := s.q(ctx).Model(&Policy{}).Where("community_id = ? AND kind = ?", communityID, kind).
		Select("MAX(priority)").Scan(&max).Error
	if err != nil || max == nil {
		return 10, err
	}
	return *max + 10, nil
}

// ActivePolicyVersions lists the current versions of a community's active policies of one
// kind (enforcing and dry-run), in priority order, in one query.
func (s *Store) ActivePolicyVersions(ctx context.Context, communityID int64, kind string) ([]PolicyVersion, error) {
	var vs []PolicyVersion
	err := s.q(ctx).Table("policy_versions").Select("policy_versions.*").
		Joins("JOIN policies ON policies.version_id = policy_versions.id").
		Where("policies.community_id = ? AND policies.kind = ? AND policies.active", communityID, kind).
		Order("policies.priority, policies.id").Find(&vs).Error
	return vs, err
}
