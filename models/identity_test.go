package models_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"policykit/models"
	"policykit/models/modelstest"
)

func TestPlatformMembersAndIdentities(t *testing.T) {
	ctx := context.Background()
	s := modelstest.Open(t)
	c, founder := modelstest.Community(t, s, "Linked")
	users := []models.NewPlatformMember{{ExternalID: "U1", Username: "alice", DisplayName: "Alice"}, {ExternalID: "U2", Username: "bob"}}
	epoch, _ := s.PolicyEpoch(ctx, c.ID)
	created, err := s.AddPlatformMembers(ctx, c.ID, "slack", "T1", users)
	if err != nil || len(created) != 2 {
		t.Fatalf("add: %v %+v", err, created)
	}
	if now, _ := s.PolicyEpoch(ctx, c.ID); now == epoch {
		t.Fatal("adding members left the policy epoch, so cached member lists would miss them")
	}
	// Adding the same users again (a second sync, a replayed team_join) adds nobody.
	if again, err := s.AddPlatformMembers(ctx, c.ID, "slack", "T1", append(users, models.NewPlatformMember{ExternalID: "U3"})); err != nil || len(again) != 1 {
		t.Fatalf("second sync: %v %+v", err, again)
	}
	alice, err := s.MemberByIdentity(ctx, c.ID, "slack", "U1")
	if err != nil || alice.DisplayName != "Alice" {
		t.Fatalf("alice: %+v %v", alice, err)
	}
	if m, _ := s.MemberByIdentity(ctx, c.ID, "slack", "U2"); m.DisplayName != "bob" {
		t.Fatalf("a user without a real name is named by handle: %q", m.DisplayName)
	}
	if access, err := s.MemberAccess(ctx, c.ID, alice.ID); err != nil || len(access.Roles) != 1 {
		t.Fatalf("synced members get the base role: %+v %v", access, err)
	}
	other, _ := modelstest.Community(t, s, "Elsewhere")
	if _, err := s.MemberByIdentity(ctx, other.ID, "slack", "U1"); !errors.Is(err, models.ErrNotFound) {
		t.Fatalf("an identity is found in another community: %v", err)
	}

	// The founder links U1: alice's synced member has no login, so it is merged away.
	if err := s.ClaimIdentity(ctx, models.PlatformIdentity{CommunityID: c.ID, MemberID: founder.ID, Platform: "slack", Workspace: "T1", ExternalID: "U1", Username: "alice"}); err != nil {
		t.Fatal(err)
	}
	if m, _ := s.MemberByIdentity(ctx, c.ID, "slack", "U1"); m.ID != founder.ID {
		t.Fatalf("U1 is linked to %d", m.ID)
	}
	if m, _ := s.MemberByID(ctx, c.ID, alice.ID); m.LeftAt == nil {
		t.Fatal("the merged member is still counted")
	}
	if ids, _ := s.MemberIDs(ctx, c.ID); len(ids) != 3 { // founder, bob, U3
		t.Fatalf("members after the merge: %v", ids)
	}
	// bob gets a login; then nobody else may take his Slack account.
	bob, _ := s.MemberByIdentity(ctx, c.ID, "slack", "U2")
	acct, err := s.PlatformAccount(ctx, "Bob", "u2.t1@slack.invalid")
	if err != nil {
		t.Fatal(err)
	}
	if again, _ := s.PlatformAccount(ctx, "Bob", "U2.T1@slack.invalid"); again.ID != acct.ID {
		t.Fatal("a second sign-in made a second login")
	}
	if err := s.LinkAccount(ctx, c.ID, bob.ID, acct.ID); err != nil {
		t.Fatal(err)
	}
	if err := s.LinkAccount(ctx, c.ID, bob.ID, acct.ID); !errors.Is(err, models.ErrConflict) {
		t.Fatalf("linking a member that has a login: %v", err)
	}
	if err := s.ClaimIdentity(ctx, models.PlatformIdentity{CommunityID: c.ID, MemberID: founder.ID, Platform: "slack", ExternalID: "U2"}); !errors.Is(err, models.ErrConflict) {
		t.Fatalf("taking a Slack account from a member with a login: %v", err)
	}
	if _, err := s.Authenticate(ctx, "u2.t1@slack.invalid", ""); err == nil {
		t.Fatal("a platform login accepts an empty password")
	}
	byMember, err := s.IdentitiesByMember(ctx, c.ID, "slack", []int64{founder.ID, bob.ID})
	if err != nil || byMember[founder.ID].ExternalID != "U1" || byMember[bob.ID].ExternalID != "U2" {
		t.Fatalf("identities by member: %+v %v", byMember, err)
	}
}

func TestDeliveryKeysAndEchoes(t *testing.T) {
	ctx := context.Background()
	s := modelstest.Open(t)
	c, _ := modelstest.Community(t, s, "Echoes")
	now := time.Now()
	if first, err := s.RecordDelivery(ctx, "slack", "event:T1:Ev1", now.Add(time.Hour)); err != nil || !first {
		t.Fatalf("first delivery: %v %v", first, err)
	}
	if first, _ := s.RecordDelivery(ctx, "slack", "event:T1:Ev1", now.Add(time.Hour)); first {
		t.Fatal("a duplicate delivery was taken as new")
	}
	if _, err := s.RecordDelivery(ctx, "slack", "sig:old", now.Add(-time.Minute)); err != nil {
		t.Fatal(err)
	}
	conn := &models.PlatformConnection{CommunityID: c.ID, Platform: "slack", ExternalID: "T1"}
	if err := s.SaveConnection(ctx, conn, map[string]string{}); err != nil {
		t.Fatal(err)
	}
	for range 2 {
		if err := s.ExpectEcho(ctx, conn.ID, "rename:C1:general", now.Add(time.Minute)); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.ExpectEcho(ctx, conn.ID, "pin:C1:1.1", now.Add(-time.Second)); err != nil {
		t.Fatal(err)
	}
	var consumed []bool
	for range 3 {
		ok, err := s.ConsumeEcho(ctx, conn.ID, "rename:C1:general", now)
		if err != nil {
			t.Fatal(err)
		}
		consumed = append(consumed, ok)
	}
	if !consumed[0] || !consumed[1] || consumed[2] {
		t.Fatalf("two expected echoes excused %v", consumed)
	}
	if ok, _ := s.ConsumeEcho(ctx, conn.ID, "pin:C1:1.1", now); ok {
		t.Fatal("an expired expectation excused an event")
	}
	if n, err := s.PruneInbound(ctx, now); err != nil || n != 2 {
		t.Fatalf("pruned %d (%v), want the expired key and the expired echo", n, err)
	}
	if first, _ := s.RecordDelivery(ctx, "slack", "event:T1:Ev1", now.Add(time.Hour)); first {
		t.Fatal("pruning dropped a live key")
	}
}
