package models

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"net/netip"
	"strconv"
	"strings"
	"time"
)

// Sign-in throttling. Every failed password check counts against the client address and
// against the account (by the email typed, whether or not it exists); past a few free
// failures each further one blocks that key for a delay that doubles, up to a cap. A
// blocked attempt is refused before the password is even checked.
//
// So that an attacker cannot keep the owner out by failing on purpose, a browser that has
// signed in to the account before carries a device cookie (sealed with the server key);
// its failures count against that device instead of the account, so the account's block
// does not apply to it. Any other browser of the owner waits at most accountRule.max.
type throttleRule struct {
	free int           // failures allowed before the first delay
	base time.Duration // the first delay; each further failure doubles it
	max  time.Duration // the longest delay
}

var (
	// accountRule is mild: the owner may be the one typing.
	accountRule = throttleRule{free: 5, base: time.Second, max: 5 * time.Minute}
	// addressRule allows a shared address (an office, a school) some mistakes, then slows a
	// guesser trying many accounts from one place.
	addressRule = throttleRule{free: 20, base: time.Second, max: 15 * time.Minute}
)

// throttleMemory is how long failures are remembered after the last one.
const throttleMemory = 24 * time.Hour

func (r throttleRule) delay(failures int) time.Duration {
	n := failures - r.free
	if n <= 0 {
		return 0
	}
	d := r.base
	for i := 1; i < n && d < r.max; i++ {
		d *= 2
	}
	return min(d, r.max)
}

// ThrottledError says a sign-in was refused unchecked because of earlier failures.
type ThrottledError struct {
	Wait time.Duration
}

func (e *ThrottledError) Error() string {
	wait := e.Wait.Round(time.Second)
	if wait < time.Second {
		wait = time.Second
	}
	return fmt.Sprintf("Too many failed sign-ins. Wait %s and try again.", wait)
}

// Unwrap makes errors.Is(err, ErrThrottled) true.
func (e *ThrottledError) Unwrap() error { return ErrThrottled }

// SignInAttempt is one try at the sign-in form.
type SignInAttempt struct {
	Email, Password string
	// Address is the client's IP address (one key per IPv4 address and per IPv6 /64,
	// which one subscriber usually holds whole).
	Address string
	// Device is the device cookie of the browser, if it sent one.
	Device string
}

type throttledKey struct {
	key  string
	rule throttleRule
}

type signinFailure struct {
	ThrottleKey   string `gorm:"primaryKey"`
	Failures      int
	BlockedUntil  time.Time
	LastFailureAt time.Time
}

func (signinFailure) TableName() string { return "signin_failures" }

// SignIn checks an email and password under throttling, as of now. It returns the account;
// ErrUnauthorized for a wrong email or password (without saying which); or a
// *ThrottledError (ErrThrottled) when earlier failures block this attempt.
func (s *Store) SignIn(ctx context.Context, at SignInAttempt, now time.Time) (*Account, error) {
	acct, err := s.AccountByEmail(ctx, at.Email)
	if err != nil && !errors.Is(err, ErrNotFound) {
		return nil, err
	}
	// The email typed is kept hashed: whatever it holds (even a NUL, which PostgreSQL
	// cannot store), and no list of emails tried sits in the table.
	personKey := "account:" + hashToken(strings.ToLower(strings.TrimSpace(at.Email)))
	if acct != nil && s.deviceAccount(at.Device) == acct.ID {
		personKey = "device:" + hashToken(at.Device)
	}
	// Always in this order, so two failures recorded at once lock the rows in one order.
	keys := []throttledKey{{personKey, accountRule}, {"address:" + addressKey(at.Address), addressRule}}
	var rows []signinFailure
	if err := s.q(ctx).Where("throttle_key IN ?", []string{keys[0].key, keys[1].key}).Find(&rows).Error; err != nil {
		return nil, fmt.Errorf("read sign-in failures: %w", err)
	}
	var wait time.Duration
	for _, r := range rows {
		if r.LastFailureAt.Add(throttleMemory).After(now) && r.BlockedUntil.After(now) {
			wait = max(wait, r.BlockedUntil.Sub(now))
		}
	}
	if wait > 0 {
		return nil, &ThrottledError{Wait: wait}
	}

	if passwordMatches(acct, at.Password) {
		if err := s.q(ctx).Where("throttle_key = ?", personKey).Delete(&signinFailure{}).Error; err != nil {
			return nil, fmt.Errorf("clear sign-in failures: %w", err)
		}
		return acct, nil
	}
	if err := s.recordFailures(ctx, keys, now); err != nil {
		return nil, err
	}
	return nil, fmt.Errorf("wrong email or password: %w", ErrUnauthorized)
}

// recordFailures counts one more failure against each key and blocks it for its rule's
// delay, forgetting failures older than throttleMemory.
func (s *Store) recordFailures(ctx context.Context, keys []throttledKey, now time.Time) error {
	return s.Tx(ctx, func(tx *Store) error {
		if err := tx.q(ctx).Where("last_failure_at < ?", now.Add(-throttleMemory)).Delete(&signinFailure{}).Error; err != nil {
			return fmt.Errorf("forget old sign-in failures: %w", err)
		}
		for _, k := range keys {
			key, rule := k.key, k.rule
			// The upsert takes the row's lock, so concurrent failures each count.
			err := tx.q(ctx).Exec(`INSERT INTO signin_failures (throttle_key, failures, blocked_until, last_failure_at) VALUES (?, 1, ?, ?)
				ON CONFLICT (throttle_key) DO UPDATE SET failures = signin_failures.failures + 1, last_failure_at = excluded.last_failure_at`,
				key, now, now).Error
			var failures int
			if err == nil {
				err = tx.q(ctx).Raw("SELECT failures FROM signin_failures WHERE throttle_key = ?", key).Scan(&failures).Error
			}
			if err == nil {
				err = tx.q(ctx).Exec("UPDATE signin_failures SET blocked_until = ? WHERE throttle_key = ?", now.Add(rule.delay(failures)), key).Error
			}
			if err != nil {
				return fmt.Errorf("record sign-in failure: %w", err)
			}
		}
		return nil
	})
}

// addressKey reduces a client address to what one client holds: the IPv4 address, or the
// IPv6 /64.
func addressKey(addr string) string {
	ip, err := netip.ParseAddr(addr)
	if err != nil {
		return hashToken(addr) // not an address: still one key, and storable whatever it holds
	}
	ip = ip.Unmap()
	if ip.Is6() {
		p, _ := ip.Prefix(64)
		return p.String()
	}
	return ip.String()
}

// DeviceToken is the device cookie for a browser that just signed in to the account: the
// account id and the time, sealed with the server key so nobody can make one.
func (s *Store) DeviceToken(accountID int64, now time.Time) string {
	plain := "device v1:" + strconv.FormatInt(accountID, 10) + ":" + strconv.FormatInt(now.Unix(), 10) + ":" + RandomCode(8)
	return base64.RawURLEncoding.EncodeToString(s.box.seal([]byte(plain)))
}

// deviceAccount opens a device cookie and returns its account id, or 0 when the cookie is
// missing, forged or not a device cookie.
func (s *Store) deviceAccount(token string) int64 {
	raw, err := base64.RawURLEncoding.DecodeString(token)
	if token == "" || err != nil {
		return 0
	}
	plain, err := s.box.open(raw)
	if err != nil {
		return 0
	}
	rest, ok := strings.CutPrefix(string(plain), "device v1:")
	if !ok {
		return 0
	}
	id, err := strconv.ParseInt(strings.SplitN(rest, ":", 2)[0], 10, 64)
	if err != nil {
		return 0
	}
	return id
}
