package engine_test

import (
	"context"
	"errors"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"policykit/engine"
	"policykit/engine/enginetest"
	"policykit/models"
)

var ctx = context.Background()

func submit(t *testing.T, env *enginetest.Env, s engine.Submission) *engine.Result {
	t.Helper()
	res, err := env.Engine.Submit(ctx, s)
	if err != nil {
		t.Fatalf("submit %s: %v", s.Type, err)
	}
	return res
}

func vote(t *testing.T, env *enginetest.Env, c *models.Community, p *models.Proposal, member int64, value any) *engine.VoteResult {
	t.Helper()
	res, err := env.Engine.CastVote(ctx, c.ID, p.ID, member, value, "web")
	if err != nil {
		t.Fatalf("vote by %d: %v", member, err)
	}
	return res
}

func effectKinds(t *testing.T, env *enginetest.Env, c *models.Community, p *models.Proposal) []string {
	t.Helper()
	es, err := env.Store.EffectsOf(ctx, c.ID, p.ID)
	if err != nil {
		t.Fatal(err)
	}
	var kinds []string
	for _, e := range es {
		kinds = append(kinds, e.Kind)
	}
	return kinds
}

func has(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

func reload(t *testing.T, env *enginetest.Env, c *models.Community, id int64) (*models.Proposal, *models.Action) {
	t.Helper()
	p, err := env.Store.ProposalByID(ctx, c.ID, id)
	if err != nil {
		t.Fatal(err)
	}
	a, err := env.Store.ActionByID(ctx, c.ID, p.ActionID)
	if err != nil {
		t.Fatal(err)
	}
	return p, a
}

func rename(c *models.Community, by int64) engine.Submission {
	return engine.Submission{CommunityID: c.ID, Type: "test.rename_channel", InitiatorID: by, Origin: models.OriginPlatform,
		Params: map[string]any{"channel": "C1", "name": "random-talk", "previous_name": "general"}}
}

// TestJuryScenario is the seed paper's example: a rename goes to a random jury of three; two
// yes votes pass it and it is carried out again; without votes it fails after two days.
func TestJuryScenario(t *testing.T) {
	env := enginetest.New(t)
	c, members := env.Community(t, "Jurors", engine.KitJury, 6)

	res := submit(t, env, rename(c, members[1]))
	p := res.Proposal
	if p == nil || p.Status != models.StatusPending {
		t.Fatalf("rename not pending: %+v", p)
	}
	if !res.Action.Reverted {
		t.Error("the rename happened on the platform and must be reverted while pending")
	}
	jury := toInt64s(p.Data["jury"])
	if len(jury) != 3 {
		t.Fatalf("jury = %v, want 3 members", p.Data["jury"])
	}
	if p.Ballot == nil || len(p.Ballot.Eligible) != 3 || !p.Ballot.DM {
		t.Fatalf("ballot = %+v, want a private yes/no ballot for the jury", p.Ballot)
	}
	kinds := effectKinds(t, env, c, p)
	for _, k := range []string{"revert", "open_ballot", "notify"} {
		if !has(kinds, k) {
			t.Errorf("effects %v lack %s", kinds, k)
		}
	}
	outsider := firstNotIn(members, jury)
	if _, err := env.Engine.CastVote(ctx, c.ID, p.ID, outsider, "yes", "web"); !errors.Is(err, models.ErrForbidden) {
		t.Errorf("a member outside the jury voted: %v", err)
	}
	vote(t, env, c, p, jury[0], "yes")
	if r := vote(t, env, c, p, jury[1], "no"); r.Proposal.Status != models.StatusPending {
		t.Fatalf("1 yes 1 no decided %s", r.Proposal.Status)
	}
	r := vote(t, env, c, p, jury[1], "yes") // changes the vote
	if !r.Changed || r.Proposal.Status != models.StatusPassed {
		t.Fatalf("2 yes: status %s changed %v", r.Proposal.Status, r.Changed)
	}
	_, a := reload(t, env, c, p.ID)
	if a.Status != models.StatusPassed || !has(effectKinds(t, env, c, p), "close_ballot") {
		t.Fatalf("action %s; effects %v", a.Status, effectKinds(t, env, c, p))
	}
	if !hasActionEffect(t, env, a.ID, "execute") {
		t.Error("a passed rename that was reverted must be executed again")
	}
	if _, err := env.Engine.CastVote(ctx, c.ID, p.ID, jury[2], "no", "web"); !errors.Is(err, models.ErrConflict) {
		t.Errorf("vote after close: %v", err)
	}

	// Second run: nobody answers; after two days the rename fails and stays reverted.
	res2 := submit(t, env, rename(c, members[2]))
	env.Clock.Advance(47 * time.Hour)
	if _, err := env.Engine.CheckPending(ctx); err != nil {
		t.Fatal(err)
	}
	if p2, _ := reload(t, env, c, res2.Proposal.ID); p2.Status != models.StatusPending {
		t.Fatalf("decided before the deadline: %s", p2.Status)
	}
	env.Clock.Advance(2 * time.Hour)
	stats, err := env.Engine.CheckPending(ctx)
	if err != nil {
		t.Fatal(err)
	}
	p2, a2 := reload(t, env, c, res2.Proposal.ID)
	if p2.Status != models.StatusFailed || a2.Status != models.StatusFailed || !a2.Reverted || stats.Decided != 1 {
		t.Fatalf("after 49h: proposal %s action %s reverted %v stats %+v", p2.Status, a2.Status, a2.Reverted, stats)
	}
	if hasActionEffect(t, env, a2.ID, "execute") {
		t.Error("a failed rename was executed")
	}
	report, err := env.Engine.VerifyAudit(ctx, c.ID)
	if err != nil || !report.OK() || report.Decisions != 2 {
		t.Fatalf("audit: %+v %v", report, err)
	}
}

// TestDeterminism: re-evaluating a proposal from its recorded inputs gives the same outcome,
// and the jury is the same draw every time.
func TestDeterminism(t *testing.T) {
	env := enginetest.New(t)
	c, members := env.Community(t, "Repeat", engine.KitJury, 10)
	res := submit(t, env, rename(c, members[1]))
	jury := toInt64s(res.Proposal.Data["jury"])
	for i := 0; i < 3; i++ {
		p, err := env.Engine.Recheck(ctx, c.ID, res.Proposal.ID)
		if err != nil {
			t.Fatal(err)
		}
		if got := toInt64s(p.Data["jury"]); !equal(got, jury) {
			t.Fatalf("jury changed on re-check: %v then %v", jury, got)
		}
	}
	vote(t, env, c, res.Proposal, jury[0], "yes")
	vote(t, env, c, res.Proposal, jury[1], "yes")
	report, err := env.Engine.VerifyAudit(ctx, c.ID)
	if err != nil || !report.OK() {
		t.Fatalf("re-tally: %+v %v", report, err)
	}
	// Tampering with a recorded event breaks the chain.
	if err := env.Store.DB().Exec("UPDATE audit_events SET payload = '{}' WHERE kind = 'vote.cast' AND community_id = ?", c.ID).Error; err != nil {
		t.Fatal(err)
	}
	if report, _ := env.Engine.VerifyAudit(ctx, c.ID); report.ChainOK {
		t.Fatal("a tampered audit log verified")
	}
}

func TestAnnouncementsNeedAModerator(t *testing.T) {
	env := enginetest.New(t)
	c, members := env.Community(t, "Announcers", engine.KitModerators, 4)
	moderator, author := members[0], members[1]
	addPolicy(t, env, c, moderator, map[string]any{
		"kind": "platform", "name": "Announcements need a moderator", "action_types": []any{"test.post_message"}, "priority": 5,
		"filter": `action.channel == "announcements"`,
		"notify": `start_vote("yes_no", {among: with_role("Moderator")})`,
		"check":  `has_role(action.initiator, "Moderator") ? PASSED : yes(with_role("Moderator")) >= 1 ? PASSED : no(with_role("Moderator")) >= 1 ? FAILED : PENDING`,
	})
	post := func(by int64, channel string) *engine.Result {
		return submit(t, env, engine.Submission{CommunityID: c.ID, Type: "test.post_message", InitiatorID: by, Origin: models.OriginPlatform,
			Params: map[string]any{"channel": channel, "text": "Hi"}})
	}
	res := post(author, "announcements")
	if res.Proposal.Status != models.StatusPending || !res.Action.Reverted {
		t.Fatalf("a member's announcement: %s reverted=%v", res.Proposal.Status, res.Action.Reverted)
	}
	r := vote(t, env, c, res.Proposal, moderator, "yes")
	if r.Proposal.Status != models.StatusPassed || !hasActionEffect(t, env, res.Action.ID, "execute") {
		t.Fatalf("after approval: %s", r.Proposal.Status)
	}
	own := post(moderator, "announcements")
	if own.Proposal.Status != models.StatusPassed || own.Action.Status != models.StatusExecuted || own.Action.Reverted {
		t.Fatalf("a moderator's own post must stand: %s %s", own.Proposal.Status, own.Action.Status)
	}
	if hasActionEffect(t, env, own.Action.ID, "revert") || hasActionEffect(t, env, own.Action.ID, "execute") {
		t.Error("a standing post must not be touched")
	}
	elsewhere := post(author, "general")
	if elsewhere.Action.Status != models.StatusExecuted {
		t.Fatalf("a post elsewhere is governed by the base policy and stands: %s", elsewhere.Action.Status)
	}
	// The re-tally sees the roles as the check saw them, not as they are now: the moderator
	// who approved has since lost the role, and the approval still verifies.
	role, err := env.Store.RoleByName(ctx, c.ID, "Moderator")
	if err != nil {
		t.Fatal(err)
	}
	if err := env.Store.RevokeRole(ctx, c.ID, moderator, role.ID); err != nil {
		t.Fatal(err)
	}
	if report, err := env.Engine.VerifyAudit(ctx, c.ID); err != nil || !report.OK() {
		t.Fatalf("audit after a role change: %+v %v", report, err)
	}
}

// TestTwoThirdsToChangeAPolicy: "to change any policy, a two-thirds majority must approve".
func TestTwoThirdsToChangeAPolicy(t *testing.T) {
	env := enginetest.New(t)
	c, m := env.Community(t, "Supermajority", engine.KitEverythingPasses, 6)
	addPolicy(t, env, c, m[0], map[string]any{
		"kind": "constitution", "name": "Two thirds to change a policy", "priority": 1,
		"action_types": []any{engine.TypeChangePolicy},
		"notify":       `start_vote("yes_no")`,
		"check":        `supermajority(2, 3, {of: "eligible", deadline: "72h"})`,
	})
	target, err := env.Store.PolicyByName(ctx, c.ID, "Platform actions pass")
	if err != nil {
		t.Fatal(err)
	}
	res := submit(t, env, engine.Submission{CommunityID: c.ID, Type: engine.TypeChangePolicy, InitiatorID: m[1], Origin: models.OriginWeb,
		Params: map[string]any{"policy": float64(target.ID), "description": "Everything stands, by vote."}})
	if res.Proposal == nil || res.Proposal.Status != models.StatusPending {
		t.Fatalf("policy change not pending")
	}
	for i, member := range m[:4] {
		r := vote(t, env, c, res.Proposal, member, "yes")
		if want := map[bool]string{true: models.StatusPassed, false: models.StatusPending}[i == 3]; r.Proposal.Status != want {
			t.Fatalf("after %d yes of 6: %s, want %s", i+1, r.Proposal.Status, want)
		}
	}
	changed, _ := env.Store.PolicyByID(ctx, c.ID, target.ID)
	if changed.Description != "Everything stands, by vote." || changed.Version != 2 {
		t.Fatalf("policy not changed: %+v", changed)
	}
	vs, _ := env.Store.PolicyVersions(ctx, c.ID, target.ID)
	if len(vs) != 2 || vs[1].Description == changed.Description {
		t.Fatal("the old version was not kept")
	}
}

func TestRoleBypassAndMissingPropose(t *testing.T) {
	env := enginetest.New(t)
	c, m := env.Community(t, "Perms", engine.KitDemocracy, 3)
	base, _ := env.Store.BaseRole(ctx, c.ID)
	if err := env.Store.CreateRole(ctx, &models.Role{CommunityID: c.ID, Name: "Herald"},
		[]models.RolePermission{{ActionType: "test.post_message", Execute: true}}); err != nil {
		t.Fatal(err)
	}
	herald, _ := env.Store.RoleByName(ctx, c.ID, "Herald")
	if err := env.Store.GrantRole(ctx, c.ID, m[1], herald.ID); err != nil {
		t.Fatal(err)
	}
	web := engine.Submission{CommunityID: c.ID, Type: "test.post_message", InitiatorID: m[1], Origin: models.OriginWeb,
		Params: map[string]any{"channel": "C1", "text": "Hear ye"}}
	res := submit(t, env, web)
	if res.Proposal != nil || res.Action.Status != models.StatusPassed || !hasActionEffect(t, env, res.Action.ID, "execute") {
		t.Fatalf("execute permission must bypass governance: %+v", res.Action)
	}
	// Without propose, a website proposal is refused and nothing is written; a platform
	// action is recorded and reverted.
	if err := env.Store.UpdateRole(ctx, base, nil); err != nil {
		t.Fatal(err)
	}
	before := count(t, env, "actions")
	web.InitiatorID = m[2]
	if _, err := env.Engine.Submit(ctx, web); !errors.Is(err, models.ErrForbidden) {
		t.Fatalf("proposal without permission: %v", err)
	}
	if count(t, env, "actions") != before {
		t.Fatal("a refused proposal wrote an action")
	}
	plat := web
	plat.Origin = models.OriginPlatform
	res = submit(t, env, plat)
	if res.Action.Status != models.StatusFailed || !res.Action.Reverted || !hasActionEffect(t, env, res.Action.ID, "revert") {
		t.Fatalf("platform action without permission: %+v", res.Action)
	}
}

func TestPolicyErrorsStayWithTheirPolicy(t *testing.T) {
	env := enginetest.New(t)
	c, m := env.Community(t, "Errors", engine.KitEverythingPasses, 3)
	addPolicy(t, env, c, m[0], map[string]any{
		"kind": "platform", "name": "Broken at run time", "priority": 1, "action_types": []any{"test.post_message"},
		"check": `len(sample(members(), 50)) > 0 ? PASSED : PENDING`,
	})
	res := submit(t, env, engine.Submission{CommunityID: c.ID, Type: "test.post_message", InitiatorID: m[1], Origin: models.OriginPlatform,
		Params: map[string]any{"channel": "x", "text": "y"}})
	p := res.Proposal
	if p.Status != models.StatusPending || p.Error == "" || !res.Action.Reverted {
		t.Fatalf("a policy error must leave the proposal pending with the error: %+v", p)
	}
	pol, _ := env.Store.PolicyByName(ctx, c.ID, "Broken at run time")
	if *p.PolicyID != pol.ID || pol.LastError == "" {
		t.Fatalf("the error must stay with its policy (governed by %d, last error %q)", *p.PolicyID, pol.LastError)
	}
}

func TestBrokenPolicyCodeIsRefused(t *testing.T) {
	env := enginetest.New(t)
	c, m := env.Community(t, "Compile", engine.KitEverythingPasses, 1)
	before := count(t, env, "policies")
	_, err := env.Engine.Submit(ctx, engine.Submission{CommunityID: c.ID, Type: engine.TypeAddPolicy, InitiatorID: m[0], Origin: models.OriginWeb,
		Params: map[string]any{"kind": "platform", "name": "Typo", "check": "yes(get(\"jury\")) >= 2 ?\n PASSED : jurry"}})
	fields := models.FieldErrors(err)
	if fields["check"] == "" || !strings.Contains(fields["check"], "line 2") {
		t.Fatalf("broken code: %v (fields %v)", err, fields)
	}
	if count(t, env, "policies") != before || count(t, env, "actions") != 0 {
		t.Fatal("broken code wrote something")
	}
}

func TestBadInputWritesNothing(t *testing.T) {
	env := enginetest.New(t)
	c, m := env.Community(t, "Bad", engine.KitEverythingPasses, 1)
	other, om := env.Community(t, "Other", engine.KitEverythingPasses, 1)
	otherDoc := submit(t, env, engine.Submission{CommunityID: other.ID, Type: engine.TypeAddDocument, InitiatorID: om[0], Origin: models.OriginWeb,
		Params: map[string]any{"title": "Theirs", "body": "x"}})
	docs, _ := env.Store.Documents(ctx, other.ID)
	_ = otherDoc
	helper := &models.Role{CommunityID: c.ID, Name: "Helper"}
	if err := env.Store.CreateRole(ctx, helper, nil); err != nil {
		t.Fatal(err)
	}
	before := count(t, env, "actions")
	tests := []struct {
		name string
		s    engine.Submission
		want error
	}{
		{"unknown type", engine.Submission{Type: "constitution.frobnicate"}, models.ErrInvalid},
		{"missing param", engine.Submission{Type: engine.TypeAddDocument, Params: map[string]any{"title": "x"}}, models.ErrInvalid},
		{"unknown param", engine.Submission{Type: engine.TypeAddDocument, Params: map[string]any{"title": "x", "body": "y", "color": "red"}}, models.ErrInvalid},
		{"wrong type", engine.Submission{Type: engine.TypeGrantRole, Params: map[string]any{"role": "admin", "member": 1}}, models.ErrInvalid},
		{"another community's document", engine.Submission{Type: engine.TypeRemoveDocument, Params: map[string]any{"document": docs[0].ID}}, models.ErrInvalid},
		{"another community's member", engine.Submission{Type: engine.TypeGrantRole, Params: map[string]any{"role": helper.ID, "member": om[0]}}, models.ErrInvalid},
		{"constitution action from a platform", engine.Submission{Type: engine.TypeAddDocument, Origin: models.OriginPlatform, Params: map[string]any{"title": "x", "body": "y"}}, models.ErrInvalid},
		{"initiator of another community", engine.Submission{Type: engine.TypeAddDocument, InitiatorID: om[0], Params: map[string]any{"title": "x", "body": "y"}}, models.ErrNotFound},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := tt.s
			s.CommunityID = c.ID
			if s.InitiatorID == 0 {
				s.InitiatorID = m[0]
			}
			if s.Origin == "" {
				s.Origin = models.OriginWeb
			}
			if _, err := env.Engine.Submit(ctx, s); !errors.Is(err, tt.want) {
				t.Fatalf("err = %v, want %v", err, tt.want)
			}
		})
	}
	if count(t, env, "actions") != before {
		t.Fatal("bad input wrote an action")
	}
}

func TestDryRunPoliciesRecordWhatTheyWouldDecide(t *testing.T) {
	env := enginetest.New(t)
	c, m := env.Community(t, "Shadows", engine.KitEverythingPasses, 3)
	addPolicy(t, env, c, m[0], map[string]any{
		"kind": "platform", "name": "Would need two yes", "mode": "dry_run", "priority": 1,
		"check": `votes() >= 0 ? threshold(2, {deadline: "1h"}) : PENDING`,
	})
	res := submit(t, env, engine.Submission{CommunityID: c.ID, Type: "test.post_message", InitiatorID: m[1], Origin: models.OriginPlatform,
		Params: map[string]any{"channel": "x", "text": "y"}})
	if res.Action.Status != models.StatusExecuted {
		t.Fatalf("the enforcing base policy decides: %s", res.Action.Status)
	}
	ds, err := env.Store.ShadowDecisions(ctx, c.ID, res.Proposal.ID, 0)
	if err != nil || len(ds) != 1 || ds[0].Outcome != engine.Pending {
		t.Fatalf("shadow decisions = %+v, %v", ds, err)
	}
}

func TestPolicyBundleStages(t *testing.T) {
	env := enginetest.New(t)
	c, m := env.Community(t, "Stages", engine.KitEverythingPasses, 3)
	addPolicy(t, env, c, m[0], map[string]any{"kind": "constitution", "name": "Round two", "priority": 900,
		"action_types": []any{engine.TypeAddDocument}, "notify": `start_vote("yes_no")`, "check": `majority({of: "eligible"})`})
	second, _ := env.Store.PolicyByName(ctx, c.ID, "Round two")
	addPolicy(t, env, c, m[0], map[string]any{"kind": "constitution", "name": "Round one", "priority": 1,
		"action_types": []any{engine.TypeAddDocument}, "stages": []any{float64(second.ID)},
		"notify": `start_vote("yes_no", {among: [` + strconv.FormatInt(m[0], 10) + `]})`, "check": `yes() >= 1 ? PASSED : PENDING`})
	res := submit(t, env, engine.Submission{CommunityID: c.ID, Type: engine.TypeAddDocument, InitiatorID: m[1], Origin: models.OriginWeb,
		Params: map[string]any{"title": "Charter", "body": "We govern together."}})
	r := vote(t, env, c, res.Proposal, m[0], "yes")
	if r.Proposal.Status != models.StatusPassed {
		t.Fatalf("stage one: %s", r.Proposal.Status)
	}
	ps, _ := env.Store.ProposalsOfAction(ctx, res.Action.ID)
	if len(ps) != 2 || ps[1].Stage != 1 || ps[1].Status != models.StatusPending {
		t.Fatalf("stage two not opened: %+v", ps)
	}
	if docs, _ := env.Store.Documents(ctx, c.ID); len(docs) != 0 {
		t.Fatal("the document was added after stage one")
	}
	vote(t, env, c, &ps[1], m[0], "yes")
	r = vote(t, env, c, &ps[1], m[1], "yes")
	if r.Proposal.Status != models.StatusPassed {
		t.Fatalf("stage two: %s", r.Proposal.Status)
	}
	if docs, _ := env.Store.Documents(ctx, c.ID); len(docs) != 1 {
		t.Fatal("the document was not added after both stages passed")
	}
}

func TestElectionCarriesOutTheWinner(t *testing.T) {
	env := enginetest.New(t)
	c, m := env.Community(t, "Elect", engine.KitEverythingPasses, 3)
	addPolicy(t, env, c, m[0], map[string]any{"kind": "constitution", "name": "Ranked election", "priority": 1,
		"action_types": []any{engine.TypeElection},
		"notify":       `start_vote("ranking")`,
		"check":        `voters() == len(eligible()) ? PASSED : PENDING`,
		"pass":         `execute(ranked_choice_winner())`})
	res := submit(t, env, engine.Submission{CommunityID: c.ID, Type: engine.TypeElection, InitiatorID: m[0], Origin: models.OriginWeb,
		Params: map[string]any{"title": "Which guideline?", "candidates": []any{
			map[string]any{"label": "Short", "type": engine.TypeAddDocument, "params": map[string]any{"title": "Guide", "body": "Be kind."}},
			map[string]any{"label": "Long", "type": engine.TypeAddDocument, "params": map[string]any{"title": "Guide", "body": "Be kind, brave and patient."}},
		}}})
	vote(t, env, c, res.Proposal, m[0], []any{"Long", "Short"})
	vote(t, env, c, res.Proposal, m[1], []any{"Long"})
	r := vote(t, env, c, res.Proposal, m[2], []any{"Short", "Long"})
	if r.Proposal.Status != models.StatusPassed {
		t.Fatalf("election: %s", r.Proposal.Status)
	}
	docs, _ := env.Store.Documents(ctx, c.ID)
	if len(docs) != 1 || docs[0].Body != "Be kind, brave and patient." {
		t.Fatalf("winner not carried out: %+v", docs)
	}
}

// TestConcurrentVotes: 200 members vote at once on one proposal; the tally is exact.
func TestConcurrentVotes(t *testing.T) {
	env := enginetest.New(t)
	c, m := env.Community(t, "Crowd", engine.KitEverythingPasses, 200)
	addPolicy(t, env, c, m[0], map[string]any{"kind": "constitution", "name": "Everyone votes", "priority": 1,
		"action_types": []any{engine.TypeAddDocument}, "notify": `start_vote("yes_no")`, "check": `voters() == 200 ? PASSED : PENDING`})
	res := submit(t, env, engine.Submission{CommunityID: c.ID, Type: engine.TypeAddDocument, InitiatorID: m[0], Origin: models.OriginWeb,
		Params: map[string]any{"title": "Crowd", "body": "Many voices."}})
	var wg sync.WaitGroup
	errs := make(chan error, len(m))
	for i, id := range m {
		wg.Add(1)
		go func() {
			defer wg.Done()
			value := "no"
			if i%3 != 0 {
				value = "yes"
			}
			if _, err := env.Engine.CastVote(ctx, c.ID, res.Proposal.ID, id, value, "api"); err != nil {
				errs <- err
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatalf("vote failed: %v", err)
	}
	p, _ := reload(t, env, c, res.Proposal.ID)
	tally, err := env.Engine.Tally(ctx, p)
	if err != nil {
		t.Fatal(err)
	}
	if tally.Voters != 200 || tally.Counts["no"] != 67 || tally.Counts["yes"] != 133 || p.Status != models.StatusPassed {
		t.Fatalf("tally %+v, status %s", tally, p.Status)
	}
	if n := count(t, env, "votes"); n != 200 {
		t.Fatalf("%d vote rows, want 200", n)
	}
}

// --- helpers ---

func addPolicy(t *testing.T, env *enginetest.Env, c *models.Community, by int64, params map[string]any) {
	t.Helper()
	res := submit(t, env, engine.Submission{CommunityID: c.ID, Type: engine.TypeAddPolicy, InitiatorID: by, Origin: models.OriginWeb, Params: params})
	if res.Action.Status != models.StatusExecuted {
		t.Fatalf("adding policy %v: %s (%s)", params["name"], res.Action.Status, res.Action.Note)
	}
}

func hasActionEffect(t *testing.T, env *enginetest.Env, actionID int64, kind string) bool {
	t.Helper()
	var n int64
	if err := env.Store.DB().Table("effects").Where("action_id = ? AND kind = ?", actionID, kind).Count(&n).Error; err != nil {
		t.Fatal(err)
	}
	return n > 0
}

func count(t *testing.T, env *enginetest.Env, table string) int64 {
	t.Helper()
	var n int64
	if err := env.Store.DB().Table(table).Count(&n).Error; err != nil {
		t.Fatal(err)
	}
	return n
}

func toInt64s(v any) []int64 {
	l, _ := v.([]any)
	out := make([]int64, 0, len(l))
	for _, x := range l {
		switch n := x.(type) {
		case float64:
			out = append(out, int64(n))
		case int:
			out = append(out, int64(n))
		}
	}
	return out
}

func firstNotIn(all, some []int64) int64 {
	for _, a := range all {
		found := false
		for _, s := range some {
			found = found || a == s
		}
		if !found {
			return a
		}
	}
	return 0
}

func equal(a, b []int64) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// TestAVoterWhoLeaves: a member who leaves drops out of the electorate frozen at the
// ballot's opening, and their vote stops counting.
func TestAVoterWhoLeaves(t *testing.T) {
	env := enginetest.New(t)
	c, m := env.Community(t, "Leavers", engine.KitDemocracy, 4)
	res := submit(t, env, engine.Submission{CommunityID: c.ID, Type: engine.TypeAddDocument, InitiatorID: m[0], Origin: models.OriginWeb,
		Params: map[string]any{"title": "Rules", "body": "Some."}})
	vote(t, env, c, res.Proposal, m[1], "yes")
	vote(t, env, c, res.Proposal, m[2], "yes")
	if err := env.Store.LeaveCommunity(ctx, c.ID, m[2]); err != nil {
		t.Fatal(err)
	}
	if _, err := env.Engine.CastVote(ctx, c.ID, res.Proposal.ID, m[2], "no", "web"); !errors.Is(err, models.ErrForbidden) {
		t.Fatalf("a member who left changed their vote: %v", err)
	}
	p, _ := reload(t, env, c, res.Proposal.ID)
	tally, _ := env.Engine.Tally(ctx, p)
	if tally.Eligible != 3 || tally.Voters != 1 {
		t.Fatalf("after a voter left: %+v, want 3 eligible and 1 counted vote", tally)
	}
	// 2 yes of 3 remaining is a majority of the electorate: the next vote decides it.
	if r := vote(t, env, c, p, m[3], "no"); r.Proposal.Status != models.StatusPending {
		t.Fatalf("1 yes, 1 no of 3: %s", r.Proposal.Status)
	}
	if r := vote(t, env, c, p, m[0], "yes"); r.Proposal.Status != models.StatusPassed {
		t.Fatalf("2 yes of 3: %s", r.Proposal.Status)
	}
}

// TestReceiptGovernsADeliveryOnce: an inbound delivery processed several times, even at
// once (a crash recovery racing a slow worker, two replicas), governs its action once.
func TestReceiptGovernsADeliveryOnce(t *testing.T) {
	env := enginetest.New(t)
	c, members := env.Community(t, "Receipts", engine.KitEverythingPasses, 3)
	now := env.Clock.Now()
	if _, err := env.Store.AcceptDelivery(ctx, models.InboundDelivery{Platform: "test", Key: "event:1", Kind: "event", Body: "{}"}, "test",
		now.Add(time.Hour), now.Add(time.Minute)); err != nil {
		t.Fatal(err)
	}
	results := make(chan error, 8)
	for range cap(results) {
		go func() {
			_, err := env.Engine.Submit(ctx, engine.Submission{CommunityID: c.ID, Type: "test.post_message", InitiatorID: members[1],
				Origin: models.OriginPlatform, Params: map[string]any{"channel": "C1", "text": "once"},
				Receipt: &engine.Receipt{Platform: "test", Key: "event:1"}})
			results <- err
		}()
	}
	governed, dup := 0, 0
	for range cap(results) {
		switch err := <-results; {
		case err == nil:
			governed++
		case errors.Is(err, engine.ErrAlreadyGoverned):
			dup++
		default:
			t.Fatal(err)
		}
	}
	var actions int64
	env.Store.DB().Model(&models.Action{}).Where("community_id = ?", c.ID).Count(&actions)
	if governed != 1 || dup != cap(results)-1 || actions != 1 {
		t.Fatalf("governed %d, duplicates %d, actions %d; want 1, %d, 1", governed, dup, actions, cap(results)-1)
	}
	// A receipt for a delivery never accepted governs nothing either.
	if _, err := env.Engine.Submit(ctx, engine.Submission{CommunityID: c.ID, Type: "test.post_message", InitiatorID: members[1],
		Origin: models.OriginPlatform, Params: map[string]any{"channel": "C1", "text": "?"},
		Receipt: &engine.Receipt{Platform: "test", Key: "event:unknown"}}); !errors.Is(err, engine.ErrAlreadyGoverned) {
		t.Fatalf("unknown receipt: %v", err)
	}
}

// TestFailedRequestsLeaveTheirBatch: requests that share a group commit fail alone. Half of
// forty concurrent submissions name an initiator of another community (read, then refused);
// the other half are governed and their audit chain verifies.
func TestFailedRequestsLeaveTheirBatch(t *testing.T) {
	env := enginetest.New(t)
	c, members := env.Community(t, "Batched", engine.KitEverythingPasses, 5)
	_, strangers := env.Community(t, "Elsewhere", engine.KitEverythingPasses, 2)
	const n = 40
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			who := members[i%len(members)]
			if i%2 == 1 {
				who = strangers[1]
			}
			_, errs[i] = env.Engine.Submit(ctx, engine.Submission{CommunityID: c.ID, Type: "test.post_message", InitiatorID: who,
				Origin: models.OriginPlatform, Params: map[string]any{"channel": "C1", "text": strconv.Itoa(i)}})
		}()
	}
	wg.Wait()
	for i, err := range errs {
		if want := i%2 == 1; (err != nil) != want || (want && !errors.Is(err, models.ErrNotFound)) {
			t.Errorf("submission %d: %v", i, err)
		}
	}
	var actions int64
	env.Store.DB().Model(&models.Action{}).Where("community_id = ?", c.ID).Count(&actions)
	if actions != n/2 {
		t.Fatalf("%d actions, want %d", actions, n/2)
	}
	if report, err := env.Engine.VerifyAudit(ctx, c.ID); err != nil || !report.OK() {
		t.Fatalf("audit: %+v %v", report, err)
	}
}
