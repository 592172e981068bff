package models

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net/mail"
	"strings"
	"time"

	"golang.org/x/crypto/bcrypt"
	"gorm.io/gorm"
)

// Account is a web login: one person, across every community they belong to.
type Account struct {
	ID           int64
	Email        string
	Name         string
	PasswordHash string `json:"-"`
	// IsAdmin marks an instance administrator (server-wide pages); set from the command line.
	IsAdmin   bool `json:"-"`
	CreatedAt time.Time
	UpdatedAt time.Time
}

// NewAccount is the input for signing up.
type NewAccount struct {
	Email    string
	Name     string
	Password string
	Admin    bool // an instance administrator (policykit user create --admin)
}

// Validate normalises the input and checks it.
func (n *NewAccount) Validate() error {
	v := &ValidationError{}
	n.Email = strings.ToLower(strings.TrimSpace(n.Email))
	if addr, err := mail.ParseAddress(n.Email); err != nil || addr.Address != n.Email || len(n.Email) > 254 {
		v.Add("email", "enter a valid email address")
	}
	n.Name = strings.TrimSpace(n.Name)
	CheckName(v, "name", n.Name, 80)
	if msg := PasswordProblem(n.Password, n.Email, n.Name); msg != "" {
		v.Add("password", msg)
	}
	return v.OrNil()
}

// CreateAccount signs a person up. A taken email is a validation error on "email".
func (s *Store) CreateAccount(ctx context.Context, in NewAccount) (*Account, error) {
	if err := in.Validate(); err != nil {
		return nil, err
	}
	hash, err := bcrypt.GenerateFromPassword([]byte(in.Password), bcrypt.DefaultCost)
	if err != nil {
		return nil, fmt.Errorf("hash password: %w", err)
	}
	a := &Account{Email: in.Email, Name: in.Name, PasswordHash: string(hash), IsAdmin: in.Admin}
	if err := s.q(ctx).Create(a).Error; err != nil {
		if isDuplicate(err) {
			return nil, Invalid("email", "an account with this email already exists")
		}
		return nil, fmt.Errorf("create account: %w", err)
	}
	return a, nil
}

// Authenticate checks an email and password, without throttling (the sign-in form uses
// SignIn). Any mismatch is ErrUnauthorized, without saying which part was wrong.
func (s *Store) Authenticate(ctx context.Context, email, password string) (*Account, error) {
	a, err := s.AccountByEmail(ctx, email)
	if err != nil && !errors.Is(err, ErrNotFound) {
		return nil, err
	}
	if !passwordMatches(a, password) {
		return nil, fmt.Errorf("wrong email or password: %w", ErrUnauthorized)
	}
	return a, nil
}

// passwordMatches checks a password against an account's hash. A missing account (nil) is
// compared against a dummy hash, so timing does not reveal which emails exist.
func passwordMatches(a *Account, password string) bool {
	hash := []byte("$2a$10$g1Z/FAwk0/.WtBa/HqnZVeMZKHX6TnNuk0MWcZkuGKsVuqiNC/JjO")
	if a != nil {
		hash = []byte(a.PasswordHash)
	}
	return bcrypt.CompareHashAndPassword(hash, []byte(password)) == nil && a != nil
}

// AccountByEmail finds an account by email (case-insensitive).
func (s *Store) AccountByEmail(ctx context.Context, email string) (*Account, error) {
	if LineProblem(email) != "" { // no account has one; PostgreSQL cannot even compare with it
		return nil, fmt.Errorf("account: %w", ErrNotFound)
	}
	var a Account
	if err := s.q(ctx).Where("email = ?", strings.ToLower(strings.TrimSpace(email))).First(&a).Error; err != nil {
		return nil, notFound(err, "account")
	}
	return &a, nil
}

// SetAdmin makes the account with this email an instance administrator, or no longer one.
func (s *Store) SetAdmin(ctx context.Context, email string, admin bool) (*Account, error) {
	a, err := s.AccountByEmail(ctx, email)
	if err != nil {
		return nil, err
	}
	if err := s.q(ctx).Model(&Account{}).Where("id = ?", a.ID).Update("is_admin", admin).Error; err != nil {
		return nil, fmt.Errorf("set admin: %w", err)
	}
	a.IsAdmin = admin
	return a, nil
}

// AccountByID finds an account.
func (s *Store) AccountByID(ctx context.Context, id int64) (*Account, error) {
	var a Account
	if err := s.q(ctx).First(&a, id).Error; err != nil {
		return nil, notFound(err, "account")
	}
	return &a, nil
}

// Session is a signed-in browser. The cookie holds a random token; the table holds its hash.
type Session struct {
	ID        string // sha256 of the cookie token
	AccountID int64
	CreatedAt time.Time
	ExpiresAt time.Time
}

// SessionLifetime is how long a sign-in lasts.
const SessionLifetime = 30 * 24 * time.Hour

func hashToken(token string) string {
	sum := sha256.Sum256([]byte(token))
	return hex.EncodeToString(sum[:])
}

// CreateSession signs an account in and returns the cookie token.
func (s *Store) CreateSession(ctx context.Context, accountID int64) (string, error) {
	token := RandomCode(32)
	now := time.Now().UTC()
	sess := &Session{ID: hashToken(token), AccountID: accountID, CreatedAt: now, ExpiresAt: now.Add(SessionLifetime)}
	if err := s.q(ctx).Create(sess).Error; err != nil {
		return "", fmt.Errorf("create session: %w", err)
	}
	return token, nil
}

// AccountBySession resolves a cookie token to its signed-in account.
func (s *Store) AccountBySession(ctx context.Context, token string) (*Account, error) {
	var a Account
	err := s.q(ctx).Joins("JOIN sessions ON sessions.account_id = accounts.id").
		Where("sessions.id = ? AND sessions.expires_at > ?", hashToken(token), time.Now().UTC()).
		First(&a).Error
	if err != nil {
		return nil, notFound(err, "session")
	}
	return &a, nil
}

// DeleteSession signs a browser out.
func (s *Store) DeleteSession(ctx context.Context, token string) error {
	return s.q(ctx).Where("id = ?", hashToken(token)).Delete(&Session{}).Error
}

// APIToken is a personal bearer token for the JSON API.
type APIToken struct {
	ID         int64
	AccountID  int64
	Name       string
	TokenHash  string `json:"-"`
	Prefix     string // the first characters, shown so a person can tell tokens apart
	CreatedAt  time.Time
	LastUsedAt *time.Time
	RevokedAt  *time.Time
}

// TokenPrefix starts every API token, so leaked tokens are easy to recognise.
const TokenPrefix = "pk_"

// CreateAPIToken issues a token and returns it in clear text, the only time it is visible.
func (s *Store) CreateAPIToken(ctx context.Context, accountID int64, name string) (*APIToken, string, error) {
	v := &ValidationError{}
	name = strings.TrimSpace(name)
	CheckName(v, "name", name, 80)
	if err := v.OrNil(); err != nil {
		return nil, "", err
	}
	clear := TokenPrefix + RandomCode(24)
	t := &APIToken{AccountID: accountID, Name: name, TokenHash: hashToken(clear), Prefix: clear[:8]}
	if err := s.q(ctx).Create(t).Error; err != nil {
		return nil, "", fmt.Errorf("create token: %w", err)
	}
	return t, clear, nil
}

// AccountByAPIToken resolves a bearer token and records its use.
func (s *Store) AccountByAPIToken(ctx context.Context, clear string) (*Account, error) {
	var t APIToken
	if err := s.q(ctx).Where("token_hash = ? AND revoked_at IS NULL", hashToken(clear)).First(&t).Error; err != nil {
		return nil, fmt.Errorf("token: %w", ErrUnauthorized)
	}
	now := time.Now().UTC()
	// Record use at most once a minute, so a busy client does not write on every request.
	if t.LastUsedAt == nil || now.Sub(*t.LastUsedAt) > time.Minute {
		s.q(ctx).Model(&APIToken{}).Where("id = ?", t.ID).Update("last_used_at", now)
	}
	return s.AccountByID(ctx, t.AccountID)
}

// APITokens lists an account's tokens, newest first.
func (s *Store) APITokens(ctx context.Context, accountID int64) ([]APIToken, error) {
	var ts []APIToken
	err := s.q(ctx).Where("account_id = ?", accountID).Order("id DESC").Find(&ts).Error
	return ts, err
}

// RevokeAPIToken revokes one of the account's tokens.
func (s *Store) RevokeAPIToken(ctx context.Context, accountID, tokenID int64) error {
	res := s.q(ctx).Model(&APIToken{}).Where("id = ? AND account_id = ? AND revoked_at IS NULL", tokenID, accountID).
		Update("revoked_at", time.Now().UTC())
	if res.Error != nil {
		return res.Error
	}
	if res.RowsAffected == 0 {
		return fmt.Errorf("token: %w", ErrNotFound)
	}
	return nil
}

func isDuplicate(err error) bool { return errors.Is(err, gorm.ErrDuplicatedKey) }
