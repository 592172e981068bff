package engine_test

import (
	"errors"
	"testing"
	"time"

	"policykit/engine"
	"policykit/engine/enginetest"
	"policykit/models"
)

// pendingVotes sets up a community whose website posts wait for four yes votes, and returns
// it with its members.
func pendingVotes(t *testing.T) (*enginetest.Env, *models.Community, []int64) {
	t.Helper()
	env := enginetest.New(t)
	c, m := env.Community(t, "Identities", engine.KitEverythingPasses, 5)
	addPolicy(t, env, c, m[0], map[string]any{"kind": "platform", "name": "Four yes", "priority": 1,
		"action_types": []any{"test.post_message"}, "notify": `start_vote("yes_no")`, "check": `yes() >= 4 ? PASSED : PENDING`})
	return env, c, m
}

func castVia(t *testing.T, env *enginetest.Env, c *models.Community, p *models.Proposal, member int64, value, via string) {
	t.Helper()
	if _, err := env.Engine.CastVote(ctx, c.ID, p.ID, member, value, via); err != nil {
		t.Fatalf("vote by %d via %s: %v", member, via, err)
	}
	time.Sleep(2 * time.Millisecond) // votes are ordered by when they were cast
}

// TestOneVotePerMemberAcrossPlatforms: a member linked on several platforms votes once per
// proposal; the last vote cast, wherever it came from, stands.
func TestOneVotePerMemberAcrossPlatforms(t *testing.T) {
	env, c, m := pendingVotes(t)
	p := proposeMessage(t, env, c, m[1]).Proposal
	castVia(t, env, c, p, m[2], "yes", "slack")
	castVia(t, env, c, p, m[2], "no", "discord")
	castVia(t, env, c, p, m[2], "yes", "web")
	castVia(t, env, c, p, m[2], "no", "reddit")
	vs, err := env.Store.VotesOf(ctx, []int64{p.ID})
	if err != nil {
		t.Fatal(err)
	}
	if got := vs[p.ID]; len(got) != 1 || got[0].Value != `"no"` || got[0].Via != "reddit" {
		t.Fatalf("votes %+v, want one: the last, no via reddit", got)
	}
	tally, err := env.Engine.Tally(ctx, p)
	if err != nil {
		t.Fatal(err)
	}
	if tally.Voters != 1 {
		t.Fatalf("tally counts %d voters", tally.Voters)
	}
}

// TestMergeMembers: two members found to be the same person are merged by a governed action.
// The kept member gets the other's platform identity, role and votes on open proposals;
// where both voted, the later vote stands; decided proposals keep their votes as recorded,
// so the audit log still verifies.
func TestMergeMembers(t *testing.T) {
	env, c, m := pendingVotes(t)
	keep, dup := m[1], m[2]
	if err := env.Store.ClaimIdentity(ctx, models.PlatformIdentity{CommunityID: c.ID, MemberID: dup, Platform: "test", ExternalID: "U9", Username: "nine"}); err != nil {
		t.Fatal(err)
	}
	mod := &models.Role{CommunityID: c.ID, Name: "Moderator"}
	if err := env.Store.CreateRole(ctx, mod, nil); err != nil {
		t.Fatal(err)
	}
	if err := env.Store.GrantRole(ctx, c.ID, dup, mod.ID); err != nil {
		t.Fatal(err)
	}

	decided := proposeMessage(t, env, c, m[0]).Proposal
	castVia(t, env, c, decided, dup, "yes", "web")
	for _, id := range []int64{m[0], m[3], m[4]} {
		castVia(t, env, c, decided, id, "yes", "web")
	}
	laterDup, laterKeep, onlyDup := proposeMessage(t, env, c, m[0]).Proposal, proposeMessage(t, env, c, m[0]).Proposal, proposeMessage(t, env, c, m[0]).Proposal
	castVia(t, env, c, laterDup, keep, "yes", "slack")
	castVia(t, env, c, laterDup, dup, "no", "test")
	castVia(t, env, c, laterKeep, dup, "no", "test")
	castVia(t, env, c, laterKeep, keep, "yes", "web")
	castVia(t, env, c, onlyDup, dup, "yes", "test")

	merge := func(keepID, dupID int64) (*engine.Result, error) {
		return env.Engine.Submit(ctx, engine.Submission{CommunityID: c.ID, Type: engine.TypeMergeMembers, InitiatorID: m[0],
			Origin: models.OriginWeb, Params: map[string]any{"member": keepID, "duplicate": dupID}})
	}
	_, otherMembers := env.Community(t, "Elsewhere", engine.KitEverythingPasses, 2)
	for name, bad := range map[string][2]int64{"into themselves": {keep, keep}, "another community's member": {keep, otherMembers[1]}} {
		if _, err := merge(bad[0], bad[1]); !errors.Is(err, models.ErrInvalid) && !errors.Is(err, models.ErrNotFound) {
			t.Fatalf("merging %s: %v", name, err)
		}
	}
	res, err := merge(keep, dup)
	if err != nil || res.Action.Status != models.StatusExecuted {
		t.Fatalf("merge: %v %+v", err, res)
	}

	if who, err := env.Store.MemberByIdentity(ctx, c.ID, "test", "U9"); err != nil || who.ID != keep {
		t.Fatalf("U9 belongs to %+v (%v), want the kept member", who, err)
	}
	gone, _ := env.Store.MemberByID(ctx, c.ID, dup)
	if gone.LeftAt == nil || gone.MergedInto == nil || *gone.MergedInto != keep {
		t.Fatalf("merged member %+v", gone)
	}
	if ids, _ := env.Store.MemberIDsWithRole(ctx, c.ID, "Moderator"); len(ids) != 1 || ids[0] != keep {
		t.Fatalf("moderators %v, want the kept member", ids)
	}
	vs, err := env.Store.VotesOf(ctx, []int64{decided.ID, laterDup.ID, laterKeep.ID, onlyDup.ID})
	if err != nil {
		t.Fatal(err)
	}
	want := map[int64]models.Vote{
		laterDup.ID:  {MemberID: keep, Value: `"no"`, Via: "test"},
		laterKeep.ID: {MemberID: keep, Value: `"yes"`, Via: "web"},
		onlyDup.ID:   {MemberID: keep, Value: `"yes"`, Via: "test"},
	}
	for pid, w := range want {
		if got := vs[pid]; len(got) != 1 || got[0].MemberID != w.MemberID || got[0].Value != w.Value || got[0].Via != w.Via {
			t.Errorf("proposal %d votes %+v, want one: %+v", pid, got, w)
		}
	}
	byMember := map[int64]bool{}
	for _, v := range vs[decided.ID] {
		byMember[v.MemberID] = true
	}
	if !byMember[dup] || byMember[keep] || len(vs[decided.ID]) != 4 {
		t.Fatalf("the decided proposal's votes changed: %+v", vs[decided.ID])
	}
	p, _ := reload(t, env, c, onlyDup.ID)
	if p.Ballot.IsEligible(dup) || !p.Ballot.IsEligible(keep) {
		t.Fatalf("open ballot eligibility %v", p.Ballot.Eligible)
	}
	tally, err := env.Engine.Tally(ctx, p)
	if err != nil || tally.Voters != 1 {
		t.Fatalf("the moved vote is not counted: %+v %v", tally, err)
	}
	if report, err := env.Engine.VerifyAudit(ctx, c.ID); err != nil || !report.ChainOK || len(report.Mismatches) != 0 {
		t.Fatalf("audit after the merge: %+v %v", report, err)
	}
}
