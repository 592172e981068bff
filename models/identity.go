package models

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"
)

// PlatformIdentity links a member to an account on a platform (DESIGN §4's Account rows): a
// Slack user in a workspace, a Discord user, a Reddit username. A member may hold several;
// an identity belongs to at most one member of a community.
type PlatformIdentity struct {
	ID          int64
	CommunityID int64
	MemberID    int64
	Platform    string // "slack"
	Workspace   string // Slack team id; "" where the platform has no workspaces
	ExternalID  string // the platform's user id
	Username    string // the handle people know ("alice"), for pages and mentions
	CreatedAt   time.Time
	UpdatedAt   time.Time
}

// TableName is the identities table.
func (PlatformIdentity) TableName() string { return "platform_identities" }

// NewPlatformMember is a platform user to add to a community as a member.
type NewPlatformMember struct {
	ExternalID  string
	Username    string
	DisplayName string
}

// MemberByIdentity finds the member a platform user is linked to in a community; ErrNotFound
// when the user is not linked.
func (s *Store) MemberByIdentity(ctx context.Context, communityID int64, platform, externalID string) (*Member, error) {
	var m Member
	err := s.q(ctx).Table("members").Select("members.*").
		Joins("JOIN platform_identities pi ON pi.member_id = members.id").
		Where("pi.community_id = ? AND pi.platform = ? AND pi.external_id = ?", communityID, platform, externalID).
		First(&m).Error
	if err != nil {
		return nil, notFound(err, "member")
	}
	return &m, nil
}

// IdentitiesOfMember lists the platform identities of one member of a community.
func (s *Store) IdentitiesOfMember(ctx context.Context, communityID, memberID int64) ([]PlatformIdentity, error) {
	var out []PlatformIdentity
	err := s.q(ctx).Where("community_id = ? AND member_id = ?", communityID, memberID).Order("platform, id").Find(&out).Error
	if err != nil {
		return nil, fmt.Errorf("list identities: %w", err)
	}
	return out, nil
}

// IdentitiesByMember maps members to their identity on one platform, in one query. Members
// without one are absent.
func (s *Store) IdentitiesByMember(ctx context.Context, communityID int64, platform string, memberIDs []int64) (map[int64]PlatformIdentity, error) {
	out := make(map[int64]PlatformIdentity, len(memberIDs))
	if len(memberIDs) == 0 {
		return out, nil
	}
	var rows []PlatformIdentity
	err := s.q(ctx).Where("community_id = ? AND platform = ? AND member_id IN ?", communityID, platform, memberIDs).
		Order("id").Find(&rows).Error
	if err != nil {
		return nil, fmt.Errorf("load identities: %w", err)
	}
	for _, r := range rows {
		if _, seen := out[r.MemberID]; !seen {
			out[r.MemberID] = r
		}
	}
	return out, nil
}

// CountIdentities counts the members of a community linked on a platform.
func (s *Store) CountIdentities(ctx context.Context, communityID int64, platform string) (int64, error) {
	var n int64
	err := s.q(ctx).Model(&PlatformIdentity{}).Where("community_id = ? AND platform = ?", communityID, platform).Count(&n).Error
	return n, err
}

// AddPlatformMembers adds platform users who are not yet linked in the community as new
// members (base role) with their identities, in one transaction and a fixed number of
// statements however many users there are. Users already linked are skipped; it returns the
// identities it created.
func (s *Store) AddPlatformMembers(ctx context.Context, communityID int64, platform, workspace string, users []NewPlatformMember) ([]PlatformIdentity, error) {
	if len(users) == 0 {
		return nil, nil
	}
	var created []PlatformIdentity
	err := s.Tx(ctx, func(tx *Store) error {
		ids := make([]string, len(users))
		for i, u := range users {
			ids[i] = u.ExternalID
		}
		var linked []string
		// In chunks: SQLite caps bound variables per statement.
		for start := 0; start < len(ids); start += 500 {
			var part []string
			if err := tx.q(ctx).Model(&PlatformIdentity{}).Where("community_id = ? AND platform = ? AND external_id IN ?",
				communityID, platform, ids[start:min(start+500, len(ids))]).Pluck("external_id", &part).Error; err != nil {
				return fmt.Errorf("find linked users: %w", err)
			}
			linked = append(linked, part...)
		}
		skip := make(map[string]bool, len(linked))
		for _, id := range linked {
			skip[id] = true
		}
		var fresh []NewPlatformMember
		for _, u := range users {
			if !skip[u.ExternalID] && u.ExternalID != "" {
				skip[u.ExternalID] = true
				fresh = append(fresh, u)
			}
		}
		if len(fresh) == 0 {
			return nil
		}
		base, err := tx.BaseRole(ctx, communityID)
		if err != nil {
			return err
		}
		now := time.Now().UTC()
		members := make([]Member, len(fresh))
		for i, u := range fresh {
			members[i] = Member{CommunityID: communityID, DisplayName: displayName(u), CreatedAt: now}
		}
		if err := tx.q(ctx).CreateInBatches(&members, 200).Error; err != nil {
			return fmt.Errorf("create members: %w", err)
		}
		roles := make([]MemberRole, len(members))
		created = make([]PlatformIdentity, len(members))
		for i, m := range members {
			roles[i] = MemberRole{MemberID: m.ID, RoleID: base.ID}
			created[i] = PlatformIdentity{CommunityID: communityID, MemberID: m.ID, Platform: platform, Workspace: workspace,
				ExternalID: fresh[i].ExternalID, Username: fresh[i].Username, CreatedAt: now, UpdatedAt: now}
		}
		if err := tx.q(ctx).CreateInBatches(&roles, 200).Error; err != nil {
			return fmt.Errorf("give base role: %w", err)
		}
		if err := tx.q(ctx).CreateInBatches(&created, 200).Error; err != nil {
			if isDuplicate(err) {
				return fmt.Errorf("a platform user was linked concurrently: %w", ErrConflict)
			}
			return fmt.Errorf("create identities: %w", err)
		}
		return tx.BumpPolicyEpoch(ctx, communityID) // the member list changed
	})
	if err != nil {
		return nil, err
	}
	return created, nil
}

// displayName is a member name for a platform user: the real name when it is a usable
// name, else the handle.
func displayName(u NewPlatformMember) string {
	for _, n := range []string{u.DisplayName, u.Username, u.ExternalID} {
		n = CleanName(n) // a platform's names are stored whatever they hold, minus the invisible
		if n == "" {
			continue
		}
		if utf8.RuneCountInString(n) > 80 {
			n = string([]rune(n)[:80])
		}
		return n
	}
	return "member"
}

// ClaimIdentity links a platform user to a member, for "link my Slack account". If the user
// is already linked to another member that has no web login (a member created when the
// workspace was synced), the identity moves and that member is marked as having left, so
// one person is not counted twice. A user linked to another member with a login is a
// conflict.
func (s *Store) ClaimIdentity(ctx context.Context, id PlatformIdentity) error {
	return s.Tx(ctx, func(tx *Store) error {
		if _, err := tx.MemberByID(ctx, id.CommunityID, id.MemberID); err != nil {
			return err
		}
		now := time.Now().UTC()
		var existing PlatformIdentity
		err := tx.q(ctx).Where("community_id = ? AND platform = ? AND external_id = ?", id.CommunityID, id.Platform, id.ExternalID).
			First(&existing).Error
		if errors.Is(notFound(err, "identity"), ErrNotFound) {
			id.CreatedAt, id.UpdatedAt = now, now
			if err := tx.q(ctx).Create(&id).Error; err != nil {
				return notFound(err, "identity")
			}
			return nil
		}
		if err != nil {
			return err
		}
		if existing.MemberID != id.MemberID {
			old, err := tx.MemberByID(ctx, id.CommunityID, existing.MemberID)
			if err != nil {
				return err
			}
			if old.AccountID != nil {
				return fmt.Errorf("this %s account is linked to another member with a login: %w", id.Platform, ErrConflict)
			}
			var others int64
			if err := tx.q(ctx).Model(&PlatformIdentity{}).Where("member_id = ? AND id <> ?", old.ID, existing.ID).Count(&others).Error; err != nil {
				return err
			}
			if others == 0 && old.LeftAt == nil {
				if err := tx.LeaveCommunity(ctx, id.CommunityID, old.ID); err != nil {
					return fmt.Errorf("retire merged member: %w", err)
				}
			}
		}
		return tx.q(ctx).Model(&PlatformIdentity{}).Where("id = ?", existing.ID).
			Updates(map[string]any{"member_id": id.MemberID, "workspace": id.Workspace, "username": id.Username, "updated_at": now}).Error
	})
}

// LinkAccount gives a member without a web login the account acct (first "Sign in with
// Slack"). A member that already has a login, or an account that is already another member
// of the community, is a conflict.
func (s *Store) LinkAccount(ctx context.Context, communityID, memberID, accountID int64) error {
	res := s.q(ctx).Model(&Member{}).Where("id = ? AND community_id = ? AND account_id IS NULL", memberID, communityID).
		Update("account_id", accountID)
	if res.Error != nil {
		if isDuplicate(res.Error) {
			return fmt.Errorf("this login is already another member of the community: %w", ErrConflict)
		}
		return fmt.Errorf("link account: %w", res.Error)
	}
	if res.RowsAffected == 0 {
		return fmt.Errorf("member already has a login: %w", ErrConflict)
	}
	return nil
}

// PlatformAccount returns the web login of a person who signs in through a platform only,
// creating it the first time. It has no password (password sign-in always fails for it);
// email is a stable, undeliverable address derived from the platform identity.
func (s *Store) PlatformAccount(ctx context.Context, name, email string) (*Account, error) {
	email = strings.ToLower(strings.TrimSpace(email))
	if a, err := s.AccountByEmail(ctx, email); err == nil {
		return a, nil
	} else if !errors.Is(err, ErrNotFound) {
		return nil, err
	}
	a := &Account{Email: email, Name: displayName(NewPlatformMember{DisplayName: name, ExternalID: email})}
	if err := s.q(ctx).Create(a).Error; err != nil {
		if isDuplicate(err) { // created concurrently by another sign-in
			return s.AccountByEmail(ctx, email)
		}
		return nil, fmt.Errorf("create account: %w", err)
	}
	return a, nil
}
