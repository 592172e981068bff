package models

import (
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"gorm.io/gorm"
)

// PlatformConnection is a community's connection to a platform (a workspace, a server, a
// forum: whatever the platform calls one). Its credentials (tokens) are stored encrypted
// with AES-GCM under the server's secret key.
type PlatformConnection struct {
	ID          int64
	CommunityID int64
	Platform    string // the platform's name (engine.Platform.Name)
	ExternalID  string // the platform's id for it (a team id)
	Name        string
	BotUserID   string // the platform user our own calls appear as, to ignore our echoes
	Credentials []byte `json:"-"` // sealed JSON
	Status      string
	// RefusedEvents counts the platform's events that arrived before the community approved
	// the connection: they were not governed (RefuseEvent). RefusedAt is the last one's time.
	RefusedEvents int64
	RefusedAt     *time.Time
	CreatedAt     time.Time
	UpdatedAt     time.Time
}

// box seals and opens secrets with AES-256-GCM. The key is derived from the server secret.
type box struct{ aead cipher.AEAD }

func newBox(secret []byte) (*box, error) {
	if len(secret) < 16 {
		return nil, errors.New("secret key must be at least 16 bytes")
	}
	key := sha256.Sum256(append([]byte("policykit credentials v1\x00"), secret...))
	block, err := aes.NewCipher(key[:])
	if err != nil {
		return nil, err
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, err
	}
	return &box{aead: aead}, nil
}

func (b *box) seal(plain []byte) []byte {
	nonce := make([]byte, b.aead.NonceSize())
	if _, err := rand.Read(nonce); err != nil {
		panic(fmt.Sprintf("crypto/rand failed: %v", err))
	}
	return b.aead.Seal(nonce, nonce, plain, nil)
}

func (b *box) open(sealed []byte) ([]byte, error) {
	n := b.aead.NonceSize()
	if len(sealed) < n {
		return nil, errors.New("sealed value too short")
	}
	plain, err := b.aead.Open(nil, sealed[:n], sealed[n:], nil)
	if err != nil {
		return nil, fmt.Errorf("decrypt credentials (was the secret key changed?): %w", err)
	}
	return plain, nil
}

// Connection statuses. A new connection waits for the community's approval (its platform's
// events are not governed yet); once a constitution proposal approves it, the engine has its
// platform set it up (lists members and channels) and marks it connected. Disconnecting
// marks it so until its platform has torn it down; then it is deleted. A platform may record
// other statuses ("disconnected: token_revoked").
const (
	ConnectionAwaiting      = "awaiting approval"
	ConnectionApproved      = "approved"
	ConnectionConnected     = "connected"
	ConnectionDisconnecting = "disconnecting"
)

// Governed tells whether the connection's events are governed: the community approved it
// and has not decided to disconnect it.
func (c *PlatformConnection) Governed() bool {
	return c.Status == ConnectionApproved || c.Status == ConnectionConnected
}

// ConnectionsOf lists a platform's connections in the given statuses, across communities.
func (s *Store) ConnectionsOf(ctx context.Context, platform string, statuses ...string) ([]PlatformConnection, error) {
	var cs []PlatformConnection
	err := s.q(ctx).Where("platform = ? AND status IN ?", platform, statuses).Order("id").Find(&cs).Error
	return cs, err
}

// ConnectionByID returns a community's connection by id.
func (s *Store) ConnectionByID(ctx context.Context, communityID, id int64) (*PlatformConnection, error) {
	var c PlatformConnection
	if err := s.q(ctx).Where("id = ? AND community_id = ?", id, communityID).First(&c).Error; err != nil {
		return nil, notFound(err, "connection")
	}
	return &c, nil
}

// RefuseEvent counts an event of a connection that was not governed because the community
// had not approved the connection yet; its page says so.
func (s *Store) RefuseEvent(ctx context.Context, connectionID int64, at time.Time) error {
	return s.q(ctx).Model(&PlatformConnection{}).Where("id = ?", connectionID).
		Updates(map[string]any{"refused_events": gorm.Expr("refused_events + 1"), "refused_at": at.UTC()}).Error
}

// SaveConnection creates or updates the connection of a platform account, sealing creds
// (any JSON-encodable value). Connecting an account another community holds is a conflict.
func (s *Store) SaveConnection(ctx context.Context, c *PlatformConnection, creds any) error {
	plain, err := json.Marshal(creds)
	if err != nil {
		return fmt.Errorf("encode credentials: %w", err)
	}
	c.Credentials = s.box.seal(plain)
	if c.Status == "" {
		c.Status = ConnectionConnected
	}
	var existing PlatformConnection
	err = s.q(ctx).Where("platform = ? AND external_id = ?", c.Platform, c.ExternalID).First(&existing).Error
	switch {
	case err == nil && existing.CommunityID != c.CommunityID:
		return fmt.Errorf("this %s account is connected to another community: %w", c.Platform, ErrConflict)
	case err == nil:
		c.ID, c.CreatedAt = existing.ID, existing.CreatedAt
		return s.q(ctx).Save(c).Error
	default:
		if err := notFound(err, "connection"); !errors.Is(err, ErrNotFound) {
			return err
		}
		return s.q(ctx).Create(c).Error
	}
}

// Credentials decrypts a connection's credentials into out.
func (s *Store) Credentials(c *PlatformConnection, out any) error {
	plain, err := s.box.open(c.Credentials)
	if err != nil {
		return err
	}
	return json.Unmarshal(plain, out)
}

// Connections lists a community's platform connections.
func (s *Store) Connections(ctx context.Context, communityID int64) ([]PlatformConnection, error) {
	var cs []PlatformConnection
	err := s.q(ctx).Where("community_id = ?", communityID).Order("platform, name").Find(&cs).Error
	return cs, err
}

// ConnectionByExternalID finds the connection of a platform account by the platform's id.
func (s *Store) ConnectionByExternalID(ctx context.Context, platform, externalID string) (*PlatformConnection, error) {
	var c PlatformConnection
	if err := s.q(ctx).Where("platform = ? AND external_id = ?", platform, externalID).First(&c).Error; err != nil {
		return nil, notFound(err, "connection")
	}
	return &c, nil
}

// DeleteConnection disconnects a platform from a community.
func (s *Store) DeleteConnection(ctx context.Context, communityID, connID int64) error {
	res := s.q(ctx).Where("id = ? AND community_id = ?", connID, communityID).Delete(&PlatformConnection{})
	if res.Error != nil {
		return res.Error
	}
	if res.RowsAffected == 0 {
		return fmt.Errorf("connection: %w", ErrNotFound)
	}
	return nil
}
