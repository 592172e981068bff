package models

import (
	"context"
	"crypto/rand"
	"encoding/base32"
	"encoding/json"
	"fmt"
	"regexp"
	"strings"
	"time"

	"gorm.io/gorm"
	"gorm.io/gorm/clause"
)

// Community is the tenant: every other row belongs to exactly one community.
type Community struct {
	ID        int64
	Slug      string
	Name      string
	Settings  string // JSON object of community settings
	AuditSeq  int64  // sequence number of the newest audit event (the chain head)
	AuditHash string // hash of the newest audit event
	// PolicyEpoch changes (to a random value) whenever the community's policies, roles or
	// permissions change, so caches of compiled policies and permissions know to reload.
	PolicyEpoch int64
	CreatedAt   time.Time
	UpdatedAt   time.Time
}

// CommunitySettings are the settings a community changes through governance.
type CommunitySettings struct {
	Description string `json:"description,omitempty"`
}

// ParsedSettings decodes Settings; a malformed value reads as empty settings.
func (c *Community) ParsedSettings() CommunitySettings {
	var s CommunitySettings
	_ = json.Unmarshal([]byte(c.Settings), &s)
	return s
}

var slugPattern = regexp.MustCompile(`^[a-z0-9](?:[a-z0-9-]{0,38}[a-z0-9])?$`)

// Slugify derives a URL slug from a community name.
func Slugify(name string) string {
	var b strings.Builder
	dash := false
	for _, r := range strings.ToLower(name) {
		switch {
		case r >= 'a' && r <= 'z' || r >= '0' && r <= '9':
			b.WriteRune(r)
			dash = false
		case !dash && b.Len() > 0:
			b.WriteByte('-')
			dash = true
		}
		if b.Len() >= 40 {
			break
		}
	}
	return strings.Trim(b.String(), "-")
}

// NewCommunity is the input for creating a community.
type NewCommunity struct {
	Name string
	Slug string // derived from Name when empty
}

// Validate normalises the input and checks it.
func (n *NewCommunity) Validate() error {
	v := &ValidationError{}
	n.Name = strings.TrimSpace(n.Name)
	CheckName(v, "name", n.Name, 80)
	n.Slug = strings.TrimSpace(strings.ToLower(n.Slug))
	if n.Slug == "" {
		n.Slug = Slugify(n.Name)
	}
	if !slugPattern.MatchString(n.Slug) {
		v.Add("slug", "use 1–40 lowercase letters, digits and dashes, not starting or ending with a dash")
	}
	return v.OrNil()
}

// BaseRoleName is the role every member holds.
const BaseRoleName = "Everyone"

// CreateCommunity creates a community, its base role and its first member (the creator),
// in one transaction.
func (s *Store) CreateCommunity(ctx context.Context, in NewCommunity, creator *Account) (*Community, *Member, error) {
	if err := in.Validate(); err != nil {
		return nil, nil, err
	}
	c := &Community{Slug: in.Slug, Name: in.Name, Settings: "{}"}
	var m *Member
	err := s.Tx(ctx, func(tx *Store) error {
		if err := tx.q(ctx).Create(c).Error; err != nil {
			if isDuplicate(err) {
				return Invalid("slug", "a community with this address already exists")
			}
			return fmt.Errorf("create community: %w", err)
		}
		base := &Role{CommunityID: c.ID, Name: BaseRoleName, Description: "Every member of the community.", IsBase: true}
		if err := tx.q(ctx).Create(base).Error; err != nil {
			return fmt.Errorf("create base role: %w", err)
		}
		var err error
		m, err = tx.addMember(ctx, c.ID, creator.ID, creator.Name)
		return err
	})
	if err != nil {
		return nil, nil, err
	}
	return c, m, nil
}

// CommunityBySlug finds a community.
func (s *Store) CommunityBySlug(ctx context.Context, slug string) (*Community, error) {
	var c Community
	if err := s.q(ctx).Where("slug = ?", slug).First(&c).Error; err != nil {
		return nil, notFound(err, "community")
	}
	return &c, nil
}

// CommunityByID finds a community by id.
func (s *Store) CommunityByID(ctx context.Context, id int64) (*Community, error) {
	var c Community
	if err := s.q(ctx).First(&c, id).Error; err != nil {
		return nil, notFound(err, "community")
	}
	return &c, nil
}

// CommunitiesOf lists the communities an account is a member of, by name.
func (s *Store) CommunitiesOf(ctx context.Context, accountID int64) ([]Community, error) {
	var cs []Community
	err := s.q(ctx).
		Joins("JOIN members ON members.community_id = communities.id").
		Where("members.account_id = ? AND members.left_at IS NULL", accountID).
		Order("communities.name").Find(&cs).Error
	return cs, err
}

// UpdateCommunitySettings replaces the settings and name of a community.
func (s *Store) UpdateCommunitySettings(ctx context.Context, communityID int64, name string, settings CommunitySettings) error {
	v := &ValidationError{}
	CheckName(v, "name", name, 80)
	if err := v.OrNil(); err != nil {
		return err
	}
	raw, err := json.Marshal(settings)
	if err != nil {
		return err
	}
	return s.q(ctx).Model(&Community{}).Where("id = ?", communityID).
		Updates(map[string]any{"name": strings.TrimSpace(name), "settings": string(raw), "updated_at": time.Now().UTC()}).Error
}

// Invite is a link that lets someone join a community.
type Invite struct {
	ID          int64
	CommunityID int64
	Code        string
	CreatedBy   *int64
	Uses        int
	ExpiresAt   *time.Time
	RevokedAt   *time.Time
	CreatedAt   time.Time
}

// RandomCode returns n random bytes as lowercase base32, for invite codes and tokens.
func RandomCode(n int) string {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		panic(fmt.Sprintf("crypto/rand failed: %v", err)) // the OS random source never fails in practice
	}
	return strings.ToLower(base32.StdEncoding.WithPadding(base32.NoPadding).EncodeToString(b))
}

// CreateInvite makes a new invite code for a community.
func (s *Store) CreateInvite(ctx context.Context, communityID int64, by *Member) (*Invite, error) {
	inv := &Invite{CommunityID: communityID, Code: RandomCode(15)}
	if by != nil {
		inv.CreatedBy = &by.ID
	}
	if err := s.q(ctx).Create(inv).Error; err != nil {
		return nil, fmt.Errorf("create invite: %w", err)
	}
	return inv, nil
}

// InviteByCode finds a usable invite and its community.
func (s *Store) InviteByCode(ctx context.Context, code string) (*Invite, *Community, error) {
	var inv Invite
	if err := s.q(ctx).Where("code = ? AND revoked_at IS NULL", code).First(&inv).Error; err != nil {
		return nil, nil, notFound(err, "invite")
	}
	if inv.ExpiresAt != nil && inv.ExpiresAt.Before(time.Now()) {
		return nil, nil, fmt.Errorf("invite expired: %w", ErrNotFound)
	}
	c, err := s.CommunityByID(ctx, inv.CommunityID)
	if err != nil {
		return nil, nil, err
	}
	return &inv, c, nil
}

// AcceptInvite makes the account a member of the invite's community. Accepting twice
// returns the existing membership.
func (s *Store) AcceptInvite(ctx context.Context, code string, acct *Account) (*Community, *Member, error) {
	inv, c, err := s.InviteByCode(ctx, code)
	if err != nil {
		return nil, nil, err
	}
	var m *Member
	err = s.Tx(ctx, func(tx *Store) error {
		existing, err := tx.MemberByAccount(ctx, c.ID, acct.ID)
		if err == nil {
			m = existing
			return nil
		}
		if m, err = tx.addMember(ctx, c.ID, acct.ID, acct.Name); err != nil {
			return err
		}
		return tx.q(ctx).Model(&Invite{}).Where("id = ?", inv.ID).Update("uses", gorm.Expr("uses + 1")).Error
	})
	if err != nil {
		return nil, nil, err
	}
	return c, m, nil
}

// CommunitiesByID loads communities by id.
func (s *Store) CommunitiesByID(ctx context.Context, ids []int64) ([]Community, error) {
	var cs []Community
	if len(ids) == 0 {
		return nil, nil
	}
	err := s.q(ctx).Where("id IN ?", ids).Find(&cs).Error
	return cs, err
}

// LockCommunity reads a community and, on PostgreSQL, locks its row for the rest of the
// transaction. Every governance transaction starts with it: the row is the head of the
// community's audit chain, and taking the lock first (NO KEY UPDATE, which foreign-key checks
// of concurrent inserts do not conflict with) makes concurrent transactions queue instead of
// deadlocking when they later update the head.
func (s *Store) LockCommunity(ctx context.Context, id int64) (*Community, error) {
	var c Community
	q := s.q(ctx)
	if s.Dialect() == DialectPostgres {
		q = q.Clauses(clause.Locking{Strength: "NO KEY UPDATE"})
	}
	if err := q.Where("id = ?", id).First(&c).Error; err != nil {
		return nil, notFound(err, "community")
	}
	return &c, nil
}
