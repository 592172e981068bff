package models_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"policykit/models"
	"policykit/models/modelstest"
)

func TestPasswordPolicy(t *testing.T) {
	tests := []struct {
		password string
		ok       bool
	}{
		{"correct horse battery", true},
		{"long enough", true},
		{"ninechars", false},             // under 10
		{"password123", false},           // common
		{"PASSWORD123", false},           // common in any case
		{"qwertyuiop", false},            // common
		{"1q2w3e4r5t", false},            // common
		{"basketball", false},            // common
		{"ada.lovelace", false},          // the email's local part
		{"Ada Lovelace", false},          // the name
		{strings.Repeat("é", 37), false}, // 74 bytes: past bcrypt's 72
		{"tRoubadour-1843", true},
	}
	for _, tt := range tests {
		msg := models.PasswordProblem(tt.password, "ada.lovelace@example.org", "Ada Lovelace")
		if (msg == "") != tt.ok {
			t.Errorf("PasswordProblem(%q) = %q, want accepted=%v", tt.password, msg, tt.ok)
		}
	}
	// The CLI and sign-up both go through CreateAccount.
	s := modelstest.Open(t)
	_, err := s.CreateAccount(context.Background(), models.NewAccount{Email: "x@example.org", Name: "X", Password: "Manchester"})
	if fe := models.FieldErrors(err); fe["password"] == "" {
		t.Errorf("CreateAccount with a common password: %v", err)
	}
}

// TestSignInThrottle follows one attack in time: an account's free failures, then delays
// that double up to five minutes; a right password refused while blocked; the owner's own
// browser (device cookie) still signing in; and one address trying many accounts blocked.
func TestSignInThrottle(t *testing.T) {
	ctx := context.Background()
	s := modelstest.Open(t)
	modelstest.Account(t, s, "Ada Lovelace") // ada.lovelace@example.org, "correct horse battery"
	t0 := time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)
	now := t0
	try := func(addr, password, device string) error {
		t.Helper()
		_, err := s.SignIn(ctx, models.SignInAttempt{Email: "ada.lovelace@example.org", Password: password, Address: addr, Device: device}, now)
		return err
	}
	waitOf := func(err error) time.Duration {
		var th *models.ThrottledError
		if !errors.As(err, &th) {
			return 0
		}
		return th.Wait
	}

	// The owner signs in once from her laptop and keeps its device cookie.
	acct, err := s.SignIn(ctx, models.SignInAttempt{Email: "ada.lovelace@example.org", Password: "correct horse battery", Address: "192.0.2.1"}, now)
	if err != nil {
		t.Fatal(err)
	}
	laptop := s.DeviceToken(acct.ID, now)

	// An attacker, from ever-changing addresses, guesses: five failures are free.
	addr := func(i int) string { return "198.51.100." + string(rune('0'+i%10)) + string(rune('0'+i/10)) }
	for i := range 5 {
		if err := try(addr(i), "guess", ""); !errors.Is(err, models.ErrUnauthorized) {
			t.Fatalf("guess %d: %v, want a plain wrong password", i+1, err)
		}
	}
	// Each further failure blocks the account for twice as long, up to 5 minutes.
	wantWaits := []time.Duration{time.Second, 2 * time.Second, 4 * time.Second, 8 * time.Second, 16 * time.Second,
		32 * time.Second, 64 * time.Second, 128 * time.Second, 256 * time.Second, 5 * time.Minute, 5 * time.Minute}
	for i, want := range wantWaits {
		if err := try(addr(10+i), "guess", ""); !errors.Is(err, models.ErrUnauthorized) {
			t.Fatalf("guess %d: %v", i+6, err)
		}
		err := try(addr(30+i), "correct horse battery", "") // even the right password waits
		if got := waitOf(err); got != want {
			t.Fatalf("after %d failures: wait %v (%v), want %v", i+6, got, err, want)
		}
		// Her laptop is not blocked by what others typed (checked at the first block and at
		// the longest: each check costs a bcrypt comparison).
		if i == 0 || i == len(wantWaits)-1 {
			if err := try("192.0.2.1", "correct horse battery", laptop); err != nil {
				t.Fatalf("the owner's browser during the attack: %v", err)
			}
		}
		now = now.Add(want)
	}
	// A forged or foreign device cookie counts for nothing.
	if err := try("192.0.2.9", "guess", laptop+"x"); !errors.Is(err, models.ErrUnauthorized) {
		t.Fatalf("forged device cookie: %v", err)
	}
	if waitOf(try("192.0.2.9", "correct horse battery", "not-a-cookie")) == 0 {
		t.Fatal("a forged device cookie escaped the account's block")
	}
	// Once the block has passed, the owner's right password works from anywhere and clears it.
	now = now.Add(5 * time.Minute)
	if err := try("203.0.113.7", "correct horse battery", ""); err != nil {
		t.Fatalf("after the block: %v", err)
	}

	// One address trying many accounts: 20 failures are free, then it is blocked whatever
	// the email; another address is not.
	now = now.Add(25 * time.Hour) // failures are forgotten after a day
	for i := range 21 {
		_, err := s.SignIn(ctx, models.SignInAttempt{Email: "user" + addr(i) + "@example.org", Password: "guess", Address: "2001:db8:1:2::" + string(rune('a'+i%6))}, now)
		if !errors.Is(err, models.ErrUnauthorized) {
			t.Fatalf("address guess %d: %v", i+1, err)
		}
	}
	// The same /64 is the same client.
	if _, err := s.SignIn(ctx, models.SignInAttempt{Email: "ada.lovelace@example.org", Password: "correct horse battery", Address: "2001:db8:1:2::ffff"}, now); !errors.Is(err, models.ErrThrottled) {
		t.Fatalf("address after 21 failures: %v, want throttled", err)
	}
	if _, err := s.SignIn(ctx, models.SignInAttempt{Email: "ada.lovelace@example.org", Password: "correct horse battery", Address: "2001:db8:9::1"}, now); err != nil {
		t.Fatalf("another address: %v", err)
	}
}
