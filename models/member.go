package models

import (
	"context"
	"fmt"
	"time"
)

// Member is a person in one community. A member may have a web login (AccountID) and, once
// platforms are connected, platform identities.
type Member struct {
	ID          int64
	CommunityID int64
	AccountID   *int64
	DisplayName string
	CreatedAt   time.Time
	LeftAt      *time.Time
}

// MemberWithRoles is a member and the names of the roles it holds.
type MemberWithRoles struct {
	Member
	Roles []string `gorm:"-"`
}

// addMember creates a member and gives it the base role.
func (s *Store) addMember(ctx context.Context, communityID, accountID int64, name string) (*Member, error) {
	m := &Member{CommunityID: communityID, DisplayName: name}
	if accountID != 0 {
		m.AccountID = &accountID
	}
	if err := s.q(ctx).Create(m).Error; err != nil {
		if isDuplicate(err) {
			return nil, fmt.Errorf("already a member: %w", ErrConflict)
		}
		return nil, fmt.Errorf("create member: %w", err)
	}
	base, err := s.BaseRole(ctx, communityID)
	if err != nil {
		return nil, err
	}
	if err := s.q(ctx).Create(&MemberRole{MemberID: m.ID, RoleID: base.ID}).Error; err != nil {
		return nil, fmt.Errorf("give base role: %w", err)
	}
	return m, nil
}

// AddMember adds a person without a web login (for example a platform user) to a community.
func (s *Store) AddMember(ctx context.Context, communityID int64, name string) (*Member, error) {
	v := &ValidationError{}
	CheckName(v, "name", name, 80)
	if err := v.OrNil(); err != nil {
		return nil, err
	}
	var m *Member
	err := s.Tx(ctx, func(tx *Store) error {
		var err error
		m, err = tx.addMember(ctx, communityID, 0, name)
		return err
	})
	return m, err
}

// MemberByAccount finds the account's membership in a community; ErrNotFound means the
// account is not (or no longer) a member.
func (s *Store) MemberByAccount(ctx context.Context, communityID, accountID int64) (*Member, error) {
	var m Member
	err := s.q(ctx).Where("community_id = ? AND account_id = ? AND left_at IS NULL", communityID, accountID).First(&m).Error
	if err != nil {
		return nil, notFound(err, "member")
	}
	return &m, nil
}

// MemberByID finds a member of a community.
func (s *Store) MemberByID(ctx context.Context, communityID, memberID int64) (*Member, error) {
	var m Member
	if err := s.q(ctx).Where("community_id = ? AND id = ?", communityID, memberID).First(&m).Error; err != nil {
		return nil, notFound(err, "member")
	}
	return &m, nil
}

// Members lists the current members of a community with their roles, by name, in two queries.
func (s *Store) Members(ctx context.Context, communityID int64) ([]MemberWithRoles, error) {
	var ms []MemberWithRoles
	if err := s.q(ctx).Table("members").Where("community_id = ? AND left_at IS NULL", communityID).
		Order("display_name, id").Find(&ms).Error; err != nil {
		return nil, fmt.Errorf("list members: %w", err)
	}
	roles, err := s.RoleNamesByMember(ctx, communityID)
	if err != nil {
		return nil, err
	}
	for i := range ms {
		ms[i].Roles = roles[ms[i].ID]
	}
	return ms, nil
}

// CountMembers counts the current members of a community.
func (s *Store) CountMembers(ctx context.Context, communityID int64) (int64, error) {
	var n int64
	err := s.q(ctx).Model(&Member{}).Where("community_id = ? AND left_at IS NULL", communityID).Count(&n).Error
	return n, err
}
