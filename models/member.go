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
	MergedInto  *int64 // set when the member was merged into another (MergeMembers)
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
	return m, s.BumpPolicyEpoch(ctx, communityID) // the member list changed
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

// MemberIDs lists the ids of a community's current members.
func (s *Store) MemberIDs(ctx context.Context, communityID int64) ([]int64, error) {
	var ids []int64
	err := s.q(ctx).Model(&Member{}).Where("community_id = ? AND left_at IS NULL", communityID).Order("id").Pluck("id", &ids).Error
	return ids, err
}

// LeftMemberIDs lists the ids of members who have left a community.
func (s *Store) LeftMemberIDs(ctx context.Context, communityID int64) ([]int64, error) {
	var ids []int64
	err := s.q(ctx).Model(&Member{}).Where("community_id = ? AND left_at IS NOT NULL", communityID).Pluck("id", &ids).Error
	return ids, err
}

// MemberIDsWithRole lists the current members holding a role; an unknown role is ErrNotFound.
func (s *Store) MemberIDsWithRole(ctx context.Context, communityID int64, role string) ([]int64, error) {
	r, err := s.RoleByName(ctx, communityID, role)
	if err != nil {
		return nil, err
	}
	var ids []int64
	err = s.q(ctx).Table("member_roles").Joins("JOIN members ON members.id = member_roles.member_id").
		Where("member_roles.role_id = ? AND members.left_at IS NULL", r.ID).Order("members.id").Pluck("members.id", &ids).Error
	return ids, err
}

// MemberWithPermissions is a member with its role names and the permissions those roles grant.
type MemberWithPermissions struct {
	Member
	Roles       []string
	Permissions []RolePermission
}

// MemberAccess loads a member of a community with its roles and the permissions they grant,
// in one query (it runs for every governed action).
func (s *Store) MemberAccess(ctx context.Context, communityID, memberID int64) (*MemberWithPermissions, error) {
	var rows []struct {
		ID          int64
		DisplayName string
		AccountID   *int64
		LeftAt      *time.Time
		CreatedAt   time.Time
		Role        *string
		ActionType  *string
		Propose     *bool
		Execute     *bool
	}
	err := s.q(ctx).Table("members").
		Select("members.id, members.display_name, members.account_id, members.left_at, members.created_at, roles.name AS role, "+
			"role_permissions.action_type, role_permissions.propose, role_permissions.execute").
		Joins("LEFT JOIN member_roles ON member_roles.member_id = members.id").
		Joins("LEFT JOIN roles ON roles.id = member_roles.role_id").
		Joins("LEFT JOIN role_permissions ON role_permissions.role_id = roles.id").
		Where("members.community_id = ? AND members.id = ?", communityID, memberID).
		Order("roles.is_base DESC, roles.name").Scan(&rows).Error
	if err != nil {
		return nil, fmt.Errorf("load access: %w", err)
	}
	if len(rows) == 0 {
		return nil, fmt.Errorf("member: %w", ErrNotFound)
	}
	r0 := rows[0]
	if r0.LeftAt != nil {
		return nil, fmt.Errorf("member has left: %w", ErrForbidden)
	}
	out := &MemberWithPermissions{Member: Member{ID: r0.ID, CommunityID: communityID, AccountID: r0.AccountID,
		DisplayName: r0.DisplayName, CreatedAt: r0.CreatedAt}}
	for _, r := range rows {
		if r.Role != nil && (len(out.Roles) == 0 || out.Roles[len(out.Roles)-1] != *r.Role) {
			out.Roles = append(out.Roles, *r.Role)
		}
		if r.ActionType != nil {
			out.Permissions = append(out.Permissions, RolePermission{ActionType: *r.ActionType, Propose: *r.Propose, Execute: *r.Execute})
		}
	}
	return out, nil
}

// MemberInfos loads members by id with their role names, in two queries.
func (s *Store) MemberInfos(ctx context.Context, ids []int64) (map[int64]MemberWithRoles, error) {
	out := make(map[int64]MemberWithRoles, len(ids))
	if len(ids) == 0 {
		return out, nil
	}
	var ms []MemberWithRoles
	if err := s.q(ctx).Table("members").Where("id IN ?", ids).Find(&ms).Error; err != nil {
		return nil, fmt.Errorf("load members: %w", err)
	}
	var rows []struct {
		MemberID int64
		Name     string
	}
	err := s.q(ctx).Table("member_roles").Select("member_roles.member_id, roles.name").
		Joins("JOIN roles ON roles.id = member_roles.role_id").
		Where("member_roles.member_id IN ?", ids).Order("roles.is_base DESC, roles.name").Scan(&rows).Error
	if err != nil {
		return nil, fmt.Errorf("load member roles: %w", err)
	}
	for _, m := range ms {
		out[m.ID] = m
	}
	for _, r := range rows {
		m := out[r.MemberID]
		m.Roles = append(m.Roles, r.Name)
		out[r.MemberID] = m
	}
	return out, nil
}

// LeaveCommunity records that a member left. Their votes on open ballots stop counting and
// they drop out of every electorate; their past actions and audit events stay.
func (s *Store) LeaveCommunity(ctx context.Context, communityID, memberID int64) error {
	res := s.q(ctx).Model(&Member{}).Where("community_id = ? AND id = ? AND left_at IS NULL", communityID, memberID).
		Update("left_at", time.Now().UTC())
	if res.Error != nil {
		return res.Error
	}
	if res.RowsAffected == 0 {
		return fmt.Errorf("member: %w", ErrNotFound)
	}
	return s.BumpPolicyEpoch(ctx, communityID)
}
