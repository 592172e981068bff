package engine_test

import (
	"errors"
	"strconv"
	"strings"
	"testing"
	"time"

	"policykit/engine"
	"policykit/engine/enginetest"
	"policykit/models"
)

// votedPosts is a community whose posts need a majority of 3 members within an hour, with
// three decided posts: 2 yes 1 no (passed), 2 yes (passed) and 1 no after half an hour then a
// timeout (failed).
func votedPosts(t *testing.T) (*enginetest.Env, *models.Community, []int64, engine.Draft) {
	t.Helper()
	env := enginetest.New(t)
	c, m := env.Community(t, "Replay", engine.KitEverythingPasses, 3)
	policy := map[string]any{"kind": "platform", "name": "Majority for posts", "priority": 1,
		"action_types": []any{"test.post_message"}, "filter": `action.channel != "free"`,
		"notify": `start_vote("yes_no")`, "check": `majority({deadline: "1h"})`}
	addPolicy(t, env, c, m[0], policy)
	post := func() *models.Proposal {
		t.Helper()
		return submit(t, env, engine.Submission{CommunityID: c.ID, Type: "test.post_message", InitiatorID: m[1], Origin: models.OriginPlatform,
			Params: map[string]any{"channel": "general", "text": "hi"}}).Proposal
	}
	p1 := post()
	vote(t, env, c, p1, m[0], "yes")
	vote(t, env, c, p1, m[1], "no")
	env.Clock.Advance(10 * time.Minute)
	if vote(t, env, c, p1, m[2], "yes").Proposal.Status != models.StatusPassed {
		t.Fatal("setup: 2 yes 1 no must pass")
	}
	p2 := post()
	vote(t, env, c, p2, m[0], "yes")
	if vote(t, env, c, p2, m[2], "yes").Proposal.Status != models.StatusPassed {
		t.Fatal("setup: 2 yes of 3 must pass")
	}
	p3 := post()
	env.Clock.Advance(30 * time.Minute)
	vote(t, env, c, p3, m[0], "no")
	env.Clock.Advance(31 * time.Minute)
	if _, err := env.Engine.CheckPending(ctx); err != nil {
		t.Fatal(err)
	}
	if p, _ := reload(t, env, c, p3.ID); p.Status != models.StatusFailed {
		t.Fatalf("setup: the third post is %s", p.Status)
	}
	env.Clock.Advance(24 * time.Hour)
	draft := engine.Draft{Policy: models.PolicyFields{Kind: models.KindPlatform, Name: "Draft", ActionTypes: []string{"test.post_message"},
		FilterSrc: `action.channel != "free"`, NotifySrc: `start_vote("yes_no")`, CheckSrc: `majority({deadline: "1h"})`}}
	return env, c, m, draft
}

func TestDryRun(t *testing.T) {
	env, c, _, same := votedPosts(t)
	before := map[string]int64{}
	for _, table := range []string{"proposals", "votes", "effects", "audit_events", "actions", "policies"} {
		before[table] = count(t, env, table)
	}
	outcomes := func(d engine.Draft, lastN int) []string {
		t.Helper()
		rows, err := env.Engine.DryRun(ctx, c.ID, d, lastN)
		if err != nil {
			t.Fatal(err)
		}
		var out []string
		for _, r := range rows {
			s := r.Old + "→" + r.New
			if r.Changed != (r.Old != r.New) || r.Summary == "" {
				t.Errorf("row %+v", r)
			}
			if r.Error != "" {
				s += " (" + r.Error + ")"
			}
			out = append(out, s)
		}
		return out
	}
	with := func(change func(f *models.PolicyFields)) engine.Draft {
		d := same
		change(&d.Policy)
		return d
	}
	tests := []struct {
		name  string
		draft engine.Draft
		lastN int
		want  string // newest first
	}{
		{"the policy itself changes nothing", same, 10, "failed→failed passed→passed passed→passed"},
		{"only the last N", same, 2, "failed→failed passed→passed"},
		// 2 yes and a member who never voted: still open after the vote, passed at the deadline.
		{"unanimity", with(func(f *models.PolicyFields) { f.CheckSrc = `unanimity({deadline: "1h"})` }), 10,
			"failed→failed passed→passed passed→failed"},
		{"unanimity without a deadline stays open", with(func(f *models.PolicyFields) { f.CheckSrc = `unanimity()` }), 10,
			"failed→failed passed→pending passed→failed"},
		{"a shorter deadline decides before a late vote", with(func(f *models.PolicyFields) {
			f.CheckSrc = `majority({deadline: "5m", at_deadline: "pass"})`
		}), 10, "failed→passed passed→passed passed→passed"},
		{"a vote of a council that never voted", with(func(f *models.PolicyFields) {
			f.NotifySrc = `start_vote("yes_no", {among: [` + "999" + `]})`
		}), 10, "failed→failed passed→failed passed→failed"},
		{"a filter that excludes them all", with(func(f *models.PolicyFields) { f.FilterSrc = `action.channel == "free"` }), 10, ""},
		// A constitution draft replays the one constitution proposal: adding the policy, which
		// passed at once and would now wait for a vote nobody cast.
		{"another kind", with(func(f *models.PolicyFields) { f.Kind, f.ActionTypes, f.FilterSrc = models.KindConstitution, nil, "" }), 10, "passed→failed"},
		{"everything passes", engine.Draft{Policy: models.PolicyFields{Kind: models.KindPlatform}}, 10, "failed→passed passed→passed passed→passed"},
		{"a policy error", with(func(f *models.PolicyFields) { f.CheckSrc = `len(sample(members(), 50)) > 0 ? PASSED : PENDING` }), 10,
			"failed→error passed→error passed→error"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := outcomes(tt.draft, tt.lastN)
			if g := strings.Join(stripErrors(got), " "); g != tt.want {
				t.Fatalf("outcomes %q, want %q (rows %v)", g, tt.want, got)
			}
		})
	}
	rows, _ := env.Engine.DryRun(ctx, c.ID, with(func(f *models.PolicyFields) { f.NotifySrc = `start_vote("yes_no", {among: [999]})` }), 10)
	if len(rows) == 0 || !strings.Contains(rows[1].Note, "left out") {
		t.Errorf("votes by members the draft does not ask must be noted: %+v", rows)
	}
	if _, err := env.Engine.DryRun(ctx, c.ID, with(func(f *models.PolicyFields) { f.CheckSrc = "majorty()" }), 10); !errors.Is(err, models.ErrInvalid) {
		t.Errorf("broken draft code: %v", err)
	}
	for table, n := range before {
		if count(t, env, table) != n {
			t.Errorf("a dry-run wrote to %s", table)
		}
	}
}

func stripErrors(list []string) []string {
	out := make([]string, len(list))
	for i, s := range list {
		out[i], _, _ = strings.Cut(s, " (")
	}
	return out
}

func TestTryIt(t *testing.T) {
	env := enginetest.New(t)
	c, m := env.Community(t, "Try", engine.KitEverythingPasses, 6)
	jury := engine.Draft{Policy: models.PolicyFields{Kind: models.KindPlatform, Name: "Jury", ActionTypes: []string{"test.rename_channel"},
		InitSrc:   `set("jury", sample(members(), 3))`,
		NotifySrc: `start_vote("yes_no", {among: get("jury")}); notify(get("jury"), "You are on a jury")`,
		CheckSrc:  `threshold(2, {deadline: "48h"})`,
		FailSrc:   `post("The jury said no")`}}
	rename := engine.TryInput{ActionType: "test.rename_channel", Initiator: m[1], Seed: 7,
		Params: map[string]any{"channel": "C1", "name": "new", "previous_name": "old"}}
	before := map[string]int64{}
	for _, table := range []string{"proposals", "votes", "effects", "audit_events", "actions"} {
		before[table] = count(t, env, table)
	}
	steps, err := env.Engine.TryIt(ctx, c.ID, jury, rename)
	if err != nil {
		t.Fatal(err)
	}
	if got := stepNames(steps); got != "filter:governs initialize check:pending notify" {
		t.Fatalf("steps %s", got)
	}
	drawn := toInt64s(steps[1].Data["jury"])
	if len(drawn) != 3 || steps[3].Ballot == nil || len(steps[3].Ballot.Eligible) != 3 || len(steps[3].Effects) != 2 {
		t.Fatalf("jury %v, notify step %+v", drawn, steps[3])
	}
	again, _ := env.Engine.TryIt(ctx, c.ID, jury, rename)
	if !equal(toInt64s(again[1].Data["jury"]), drawn) {
		t.Fatal("the same seed drew another jury")
	}

	outsider := firstNotIn(m, drawn)
	in := rename
	in.Votes = []engine.HypotheticalVote{
		{Member: drawn[1], Value: "yes", At: 2 * time.Hour},
		{Member: outsider, Value: "yes", At: time.Hour},
		{Member: drawn[0], Value: "maybe", At: 3 * time.Hour},
		{Member: drawn[0], Value: "yes", At: 5 * time.Hour},
	}
	steps, err = env.Engine.TryIt(ctx, c.ID, jury, in)
	if err != nil {
		t.Fatal(err)
	}
	if got := stepNames(steps); got != "filter:governs initialize check:pending notify vote! vote check:pending vote! vote check:passed pass" {
		t.Fatalf("steps %s", got)
	}
	last := steps[len(steps)-1]
	if last.At != 5*time.Hour || len(last.Effects) != 1 || last.Effects[0].Kind != engine.IntentExecute {
		t.Fatalf("pass step %+v", last)
	}
	if !strings.Contains(steps[4].Error, "not among the voters") {
		t.Fatalf("an outsider's vote: %+v", steps[4])
	}

	// Nobody votes: the deadline fails it and the fail stage posts.
	in = rename
	in.Until = 49 * time.Hour
	steps, _ = env.Engine.TryIt(ctx, c.ID, jury, in)
	if got := stepNames(steps); got != "filter:governs initialize check:pending notify check:failed fail" {
		t.Fatalf("steps %s", got)
	}
	if f := steps[len(steps)-1]; f.At != 49*time.Hour || f.Effects[0].Kind != engine.IntentPost {
		t.Fatalf("fail step %+v", f)
	}
	// A vote after the deadline comes too late: time decided first.
	in.Votes = []engine.HypotheticalVote{{Member: drawn[0], Value: "yes", At: 50 * time.Hour}}
	steps, _ = env.Engine.TryIt(ctx, c.ID, jury, in)
	if got := stepNames(steps); got != "filter:governs initialize check:pending notify check:failed fail" || steps[4].At != 50*time.Hour {
		t.Fatalf("steps %s (%v)", got, steps[4].At)
	}

	// A bundle: stage 2 opens when stage 1 passes, with its own votes.
	bundle := engine.Draft{Policy: models.PolicyFields{Kind: models.KindPlatform, ActionTypes: []string{"test.rename_channel"},
		NotifySrc: `start_vote("yes_no", {among: [` + strconv.FormatInt(m[0], 10) + `]})`, CheckSrc: `threshold(1)`},
		Stages: []models.PolicyFields{{Kind: models.KindPlatform, NotifySrc: `start_vote("yes_no")`, CheckSrc: `majority({of: "eligible"})`}}}
	in = rename
	in.Votes = []engine.HypotheticalVote{{Member: m[0], Value: "yes", At: time.Minute}}
	for _, id := range m[:4] {
		in.Votes = append(in.Votes, engine.HypotheticalVote{Member: id, Value: "yes", At: time.Hour, Stage: 1})
	}
	steps, err = env.Engine.TryIt(ctx, c.ID, bundle, in)
	if err != nil {
		t.Fatal(err)
	}
	if got := stepNames(steps); got != "filter:governs initialize check:pending notify vote check:passed pass "+
		"initialize check:pending notify vote check:pending vote check:pending vote check:pending vote check:passed pass" {
		t.Fatalf("steps %s", got)
	}
	if steps[len(steps)-1].Stage != 1 {
		t.Fatalf("the last pass belongs to stage %d", steps[len(steps)-1].Stage)
	}

	// The filter decides first; bad input is an error.
	noFilter := jury
	noFilter.Policy.FilterSrc = `action.channel == "elsewhere"`
	if steps, _ := env.Engine.TryIt(ctx, c.ID, noFilter, rename); stepNames(steps) != "filter:does not govern" {
		t.Fatalf("steps %s", stepNames(steps))
	}
	for name, in := range map[string]engine.TryInput{
		"uncovered type": {ActionType: "test.post_message", Params: map[string]any{"channel": "C", "text": "x"}},
		"unknown type":   {ActionType: "test.launch"},
		"bad params":     {ActionType: "test.rename_channel", Params: map[string]any{"channel": "C1"}},
	} {
		if _, err := env.Engine.TryIt(ctx, c.ID, jury, in); !errors.Is(err, models.ErrInvalid) {
			t.Errorf("%s: %v", name, err)
		}
	}
	for table, n := range before {
		if count(t, env, table) != n {
			t.Errorf("try it wrote to %s", table)
		}
	}
}

// stepNames writes steps as "check:pending", "vote!" for a refused vote.
func stepNames(steps []engine.StepResult) string {
	var out []string
	for _, s := range steps {
		name := s.Step
		switch {
		case s.Step == "vote" && s.Error != "":
			name += "!"
		case s.Outcome != "":
			name += ":" + s.Outcome
		case s.Error != "":
			name += "!" + s.Error
		}
		out = append(out, name)
	}
	return strings.Join(out, " ")
}

func TestShadowAgreement(t *testing.T) {
	env := enginetest.New(t)
	c, m := env.Community(t, "Shadow", engine.KitEverythingPasses, 3)
	addPolicy(t, env, c, m[0], map[string]any{"kind": "platform", "name": "Strict shadow", "mode": "dry_run", "priority": 1,
		"check": `action.text == "fine" ? PASSED : action.text == "bad" ? FAILED : PENDING`})
	for _, text := range []string{"fine", "fine", "bad", "later"} {
		submit(t, env, engine.Submission{CommunityID: c.ID, Type: "test.post_message", InitiatorID: m[1], Origin: models.OriginPlatform,
			Params: map[string]any{"channel": "x", "text": text}})
	}
	pol, err := env.Store.PolicyByName(ctx, c.ID, "Strict shadow")
	if err != nil {
		t.Fatal(err)
	}
	got, err := env.Engine.ShadowAgreement(ctx, c.ID, pol.ID)
	if err != nil {
		t.Fatal(err)
	}
	if *got != (engine.Agreement{Agreed: 2, Disagreed: 1, Open: 1}) {
		t.Fatalf("agreement %+v", *got)
	}
}

// TestDryRunSeesRolesAsTheyWere: a past decision is replayed with the roles its check read
// then, not today's: the moderator who approved has since lost the role.
func TestDryRunSeesRolesAsTheyWere(t *testing.T) {
	env := enginetest.New(t)
	c, members := env.Community(t, "Then", engine.KitModerators, 4)
	moderator, author := members[0], members[1]
	notify, check := `start_vote("yes_no", {among: with_role("Moderator")})`, `yes(with_role("Moderator")) >= 1 ? PASSED : PENDING`
	addPolicy(t, env, c, moderator, map[string]any{"kind": "platform", "name": "Moderated posts", "priority": 5,
		"action_types": []any{"test.post_message"}, "notify": notify, "check": check})
	res := submit(t, env, engine.Submission{CommunityID: c.ID, Type: "test.post_message", InitiatorID: author, Origin: models.OriginPlatform,
		Params: map[string]any{"channel": "general", "text": "hi"}})
	if vote(t, env, c, res.Proposal, moderator, "yes").Proposal.Status != models.StatusPassed {
		t.Fatal("setup: the moderator's yes must pass the post")
	}
	role, err := env.Store.RoleByName(ctx, c.ID, "Moderator")
	if err != nil {
		t.Fatal(err)
	}
	if err := env.Store.RevokeRole(ctx, c.ID, moderator, role.ID); err != nil {
		t.Fatal(err)
	}
	rows, err := env.Engine.DryRun(ctx, c.ID, engine.Draft{Policy: models.PolicyFields{Kind: models.KindPlatform, Name: "Same",
		ActionTypes: []string{"test.post_message"}, NotifySrc: notify, CheckSrc: check}}, 10)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range rows {
		if r.ProposalID == res.Proposal.ID {
			if r.Old != models.StatusPassed || r.New != models.StatusPassed || r.Changed {
				t.Fatalf("replayed with today's roles: %+v", r)
			}
			return
		}
	}
	t.Fatalf("the post was not replayed: %+v", rows)
}
