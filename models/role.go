package models

import (
	"context"
	"fmt"
	"strings"
	"time"
)

// Role is a named set of permissions. Exactly one role per community is the base role,
// held by every member.
type Role struct {
	ID          int64
	CommunityID int64
	Name        string
	Description string
	IsBase      bool
	CreatedAt   time.Time
}

// RolePermission says what a role may do with one action type. ActionType is an exact type
// ("constitution.add_document"), a platform wildcard ("slack.*") or "*" for every type.
//   - Propose: may start the action; it then goes to the policies.
//   - Execute: bypasses governance; the action stands at once (still audited).
type RolePermission struct {
	ID         int64
	RoleID     int64
	ActionType string
	Propose    bool
	Execute    bool
}

// MemberRole links a member to a role.
type MemberRole struct {
	MemberID int64
	RoleID   int64
}

// RoleWithDetail is a role with its permissions and member count, for the roles page.
type RoleWithDetail struct {
	Role
	Permissions []RolePermission `gorm:"-"`
	MemberIDs   []int64          `gorm:"-"`
}

// BaseRole returns the community's base role.
func (s *Store) BaseRole(ctx context.Context, communityID int64) (*Role, error) {
	var r Role
	if err := s.q(ctx).Where("community_id = ? AND is_base", communityID).First(&r).Error; err != nil {
		return nil, notFound(err, "base role")
	}
	return &r, nil
}

// RoleByName finds a role of a community by its name.
func (s *Store) RoleByName(ctx context.Context, communityID int64, name string) (*Role, error) {
	var r Role
	if err := s.q(ctx).Where("community_id = ? AND name = ?", communityID, name).First(&r).Error; err != nil {
		return nil, notFound(err, fmt.Sprintf("role %q", name))
	}
	return &r, nil
}

// RoleByID finds a role of a community.
func (s *Store) RoleByID(ctx context.Context, communityID, roleID int64) (*Role, error) {
	var r Role
	if err := s.q(ctx).Where("community_id = ? AND id = ?", communityID, roleID).First(&r).Error; err != nil {
		return nil, notFound(err, "role")
	}
	return &r, nil
}

// Roles lists a community's roles with permissions and members, in three queries.
func (s *Store) Roles(ctx context.Context, communityID int64) ([]RoleWithDetail, error) {
	var rs []RoleWithDetail
	if err := s.q(ctx).Table("roles").Where("community_id = ?", communityID).
		Order("is_base DESC, name").Find(&rs).Error; err != nil {
		return nil, fmt.Errorf("list roles: %w", err)
	}
	byID := make(map[int64]*RoleWithDetail, len(rs))
	for i := range rs {
		byID[rs[i].ID] = &rs[i]
	}
	var perms []RolePermission
	if err := s.q(ctx).Joins("JOIN roles ON roles.id = role_permissions.role_id").
		Where("roles.community_id = ?", communityID).Order("role_permissions.action_type").Find(&perms).Error; err != nil {
		return nil, fmt.Errorf("list permissions: %w", err)
	}
	for _, p := range perms {
		byID[p.RoleID].Permissions = append(byID[p.RoleID].Permissions, p)
	}
	var links []MemberRole
	if err := s.q(ctx).Joins("JOIN roles ON roles.id = member_roles.role_id").
		Joins("JOIN members ON members.id = member_roles.member_id").
		Where("roles.community_id = ? AND members.left_at IS NULL", communityID).Find(&links).Error; err != nil {
		return nil, fmt.Errorf("list role members: %w", err)
	}
	for _, l := range links {
		byID[l.RoleID].MemberIDs = append(byID[l.RoleID].MemberIDs, l.MemberID)
	}
	return rs, nil
}

// RoleNamesByMember maps each member of a community to the names of its roles.
func (s *Store) RoleNamesByMember(ctx context.Context, communityID int64) (map[int64][]string, error) {
	var rows []struct {
		MemberID int64
		Name     string
	}
	err := s.q(ctx).Table("member_roles").Select("member_roles.member_id, roles.name").
		Joins("JOIN roles ON roles.id = member_roles.role_id").
		Where("roles.community_id = ?", communityID).Order("roles.is_base DESC, roles.name").Scan(&rows).Error
	if err != nil {
		return nil, fmt.Errorf("role names: %w", err)
	}
	out := make(map[int64][]string)
	for _, r := range rows {
		out[r.MemberID] = append(out[r.MemberID], r.Name)
	}
	return out, nil
}

// Covers tells whether a permission pattern applies to an action type.
func Covers(pattern, actionType string) bool {
	if pattern == "*" || pattern == actionType {
		return true
	}
	if prefix, ok := strings.CutSuffix(pattern, ".*"); ok {
		return strings.HasPrefix(actionType, prefix+".")
	}
	return false
}

// Allowed reports whether any of the permissions grants propose and execute on a type.
func Allowed(perms []RolePermission, actionType string) (propose, execute bool) {
	for _, p := range perms {
		if Covers(p.ActionType, actionType) {
			propose = propose || p.Propose || p.Execute
			execute = execute || p.Execute
		}
	}
	return propose, execute
}

// CreateRole adds a role with permissions. Used by starter kits and the role actions.
func (s *Store) CreateRole(ctx context.Context, r *Role, perms []RolePermission) error {
	v := &ValidationError{}
	r.Name = strings.TrimSpace(r.Name)
	CheckName(v, "name", r.Name, 60)
	if err := v.OrNil(); err != nil {
		return err
	}
	return s.Tx(ctx, func(tx *Store) error {
		if err := tx.q(ctx).Create(r).Error; err != nil {
			if isDuplicate(err) {
				return Invalid("name", "a role with this name already exists")
			}
			return fmt.Errorf("create role: %w", err)
		}
		if err := tx.setPermissions(ctx, r.ID, perms); err != nil {
			return err
		}
		return tx.BumpPolicyEpoch(ctx, r.CommunityID)
	})
}

// UpdateRole renames a role, changes its description and replaces its permissions.
func (s *Store) UpdateRole(ctx context.Context, r *Role, perms []RolePermission) error {
	v := &ValidationError{}
	r.Name = strings.TrimSpace(r.Name)
	CheckName(v, "name", r.Name, 60)
	if err := v.OrNil(); err != nil {
		return err
	}
	return s.Tx(ctx, func(tx *Store) error {
		err := tx.q(ctx).Model(&Role{}).Where("id = ? AND community_id = ?", r.ID, r.CommunityID).
			Updates(map[string]any{"name": r.Name, "description": r.Description}).Error
		if err != nil {
			if isDuplicate(err) {
				return Invalid("name", "a role with this name already exists")
			}
			return fmt.Errorf("update role: %w", err)
		}
		if err := tx.q(ctx).Where("role_id = ?", r.ID).Delete(&RolePermission{}).Error; err != nil {
			return err
		}
		if err := tx.setPermissions(ctx, r.ID, perms); err != nil {
			return err
		}
		return tx.BumpPolicyEpoch(ctx, r.CommunityID)
	})
}

func (s *Store) setPermissions(ctx context.Context, roleID int64, perms []RolePermission) error {
	if len(perms) == 0 {
		return nil
	}
	rows := make([]RolePermission, len(perms))
	for i, p := range perms {
		rows[i] = RolePermission{RoleID: roleID, ActionType: p.ActionType, Propose: p.Propose, Execute: p.Execute}
	}
	if err := s.q(ctx).Create(&rows).Error; err != nil {
		if isDuplicate(err) {
			return Invalid("permissions", "an action type is listed twice")
		}
		return fmt.Errorf("set permissions: %w", err)
	}
	return nil
}

// DeleteRole removes a role (never the base role).
func (s *Store) DeleteRole(ctx context.Context, communityID, roleID int64) error {
	r, err := s.RoleByID(ctx, communityID, roleID)
	if err != nil {
		return err
	}
	if r.IsBase {
		return Invalid("role", "the base role cannot be deleted")
	}
	if err := s.q(ctx).Delete(&Role{}, r.ID).Error; err != nil {
		return err
	}
	return s.BumpPolicyEpoch(ctx, communityID)
}

// GrantRole gives a member a role; granting a held role changes nothing.
func (s *Store) GrantRole(ctx context.Context, communityID, memberID, roleID int64) error {
	if _, err := s.MemberByID(ctx, communityID, memberID); err != nil {
		return err
	}
	if _, err := s.RoleByID(ctx, communityID, roleID); err != nil {
		return err
	}
	var n int64
	if err := s.q(ctx).Model(&MemberRole{}).Where("member_id = ? AND role_id = ?", memberID, roleID).Count(&n).Error; err != nil {
		return err
	}
	if n > 0 {
		return nil
	}
	if err := s.q(ctx).Create(&MemberRole{MemberID: memberID, RoleID: roleID}).Error; err != nil {
		return err
	}
	return s.BumpPolicyEpoch(ctx, communityID)
}

// RevokeRole takes a role from a member (never the base role).
func (s *Store) RevokeRole(ctx context.Context, communityID, memberID, roleID int64) error {
	r, err := s.RoleByID(ctx, communityID, roleID)
	if err != nil {
		return err
	}
	if r.IsBase {
		return Invalid("role", "every member holds the base role")
	}
	if _, err := s.MemberByID(ctx, communityID, memberID); err != nil {
		return err
	}
	if err := s.q(ctx).Where("member_id = ? AND role_id = ?", memberID, roleID).Delete(&MemberRole{}).Error; err != nil {
		return err
	}
	return s.BumpPolicyEpoch(ctx, communityID)
}

// MemberHasRole tells whether a member holds a role.
func (s *Store) MemberHasRole(ctx context.Context, memberID, roleID int64) (bool, error) {
	var n int64
	err := s.q(ctx).Model(&MemberRole{}).Where("member_id = ? AND role_id = ?", memberID, roleID).Count(&n).Error
	return n > 0, err
}
