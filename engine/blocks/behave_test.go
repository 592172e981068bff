package blocks_test

import (
	"strconv"
	"strings"
	"testing"

	"policykit/engine"
	"policykit/engine/blocks"
	"policykit/models"
)

// scenario installs a compiled block program in a fresh community, governs one action and
// plays votes and time against it (see world.play). says lists the statements of the rule the
// scenario checks: each must be in the rule, so the rule and the behaviour cannot drift apart.
type scenario struct {
	name    string
	members int
	roles   map[string][]int
	program func(w *world) *blocks.Program
	action  string // post (default), rename, document, election
	by      int    // initiator, by member index (default 1)
	steps   []string
	says    []string
	check   func(t *testing.T, w *world, res *engine.Result)
}

// onPosts is a program governing test.post_message with one vote.
func onPosts(who blocks.Deciders, how blocks.How, change ...func(*blocks.Program)) func(*world) *blocks.Program {
	return func(*world) *blocks.Program {
		p := &blocks.Program{Version: blocks.Version, When: &blocks.When{ActionTypes: []string{"test.post_message"}},
			Decision: blocks.Decision{Deciders: &who, How: &how}}
		for _, c := range change {
			c(p)
		}
		return p
	}
}

func deadline(after string, then string) func(*blocks.Program) {
	return func(p *blocks.Program) {
		if p.Deadline == nil {
			p.Deadline = &blocks.Deadline{}
		}
		p.Deadline.After, p.Deadline.Then = blocks.Duration(after), then
	}
}

func quorum(q blocks.Quorum) func(*blocks.Program) {
	return func(p *blocks.Program) { p.Quorum = &q }
}

var everyone = blocks.Deciders{Who: blocks.Everyone}

func (l *lab) run(t *testing.T, sc scenario) {
	t.Helper()
	n := sc.members
	if n == 0 {
		n = 4
	}
	w := l.world(t, n, sc.roles)
	p := sc.program(w)
	out := w.install(t, "Under test", p)
	for _, s := range sc.says {
		// A sentence that opens the rule follows "When someone …, " in lower case.
		if !strings.Contains(out.Rule, s) && !strings.Contains(out.Rule, strings.ToLower(s[:1])+s[1:]) {
			t.Errorf("the rule does not say %q:\n%s", s, out.Rule)
		}
	}
	by := sc.by
	if by == 0 {
		by = 1
	}
	var res *engine.Result
	switch sc.action {
	case "", "post":
		res = w.submit(t, "test.post_message", by, map[string]any{"channel": "C1", "text": "hello"})
	case "rename":
		res = w.submit(t, "test.rename_channel", by, map[string]any{"channel": "C1", "name": "new", "previous_name": "old"})
	case "document":
		res = w.submit(t, engine.TypeAddDocument, by, map[string]any{"title": "Charter", "body": "We decide together."})
	case "election":
		cand := func(label string) map[string]any {
			return map[string]any{"label": label, "type": engine.TypeAddDocument, "params": map[string]any{"title": "Motto " + label, "body": label}}
		}
		res = w.submit(t, engine.TypeElection, by, map[string]any{"title": "Motto", "candidates": []any{cand("A"), cand("B"), cand("C")}})
	}
	if res.Proposal == nil {
		t.Fatalf("no proposal: %s", res.Action.Note)
	}
	if pol, err := w.env.Store.PolicyByName(ctx, w.c.ID, "Under test"); err != nil || *res.Proposal.PolicyID != pol.ID {
		t.Fatalf("the policy under test does not govern the action (%v)", err)
	}
	if res.Proposal.Rule != out.Rule {
		t.Errorf("the proposal froze rule %q, want the compiled rule", res.Proposal.Rule)
	}
	w.play(t, res.Action.ID, sc.steps)
	if sc.check != nil {
		sc.check(t, w, res)
	}
	if report, err := w.env.Engine.VerifyAudit(ctx, w.c.ID); err != nil || !report.OK() {
		t.Errorf("audit re-tally: %+v %v", report, err)
	}
}

func TestYesNoMethodsBehaveAsTheirRuleSays(t *testing.T) {
	l := newLab(t)
	majority := blocks.How{Method: blocks.Majority}
	absolute := blocks.How{Method: blocks.Majority, Of: blocks.OfEligible}
	twoThirds := blocks.How{Method: blocks.Supermajority, Fraction: "2/3"}
	twoThirdsAll := blocks.How{Method: blocks.Supermajority, Fraction: "2/3", Of: blocks.OfEligible}
	unanimity := blocks.How{Method: blocks.Unanimity}
	unanimityAll := blocks.How{Method: blocks.Unanimity, Of: blocks.OfEligible}
	two := blocks.How{Method: blocks.Threshold, Yes: 2}
	d48 := deadline("48h", "")
	tests := []scenario{
		// majority of votes cast: yes > no, abstentions left out
		{name: "majority: a tie fails at the deadline", program: onPosts(everyone, majority, d48),
			steps: []string{"yes 0", "no 1", "=pending", "+47h", "=pending", "+1h", "=failed"},
			says:  []string{"more than half of the yes and no votes", "a tie is not enough", "If it is still open after 48 hours, the votes cast decide"}},
		{name: "majority: all abstain fails once everyone has voted", program: onPosts(everyone, majority, d48),
			steps: []string{"abstain 0", "abstain 1", "abstain 2", "=pending", "abstain 3", "=failed"},
			says:  []string{"abstentions are not counted"}},
		{name: "majority: no votes fails at the deadline", program: onPosts(everyone, majority, d48),
			steps: []string{"+48h", "=failed"}},
		{name: "majority: passes early once certain", program: onPosts(everyone, majority, d48),
			steps: []string{"yes 0", "yes 1", "=pending", "yes 2", "=passed"},
			says:  []string{"it passes once the rule is met and would stay met even if everyone yet to vote voted no"}},
		{name: "majority: 2 yes 1 no 1 abstain passes when the last votes", program: onPosts(everyone, majority, d48),
			steps: []string{"yes 0", "no 1", "yes 2", "=pending", "abstain 3", "=passed"}},
		{name: "majority: fails early once it cannot pass", program: onPosts(everyone, majority, d48),
			steps: []string{"no 0", "=pending", "no 1", "=failed"},
			says:  []string{"fails once the rule could not be met even if everyone yet to vote voted yes"}},
		{name: "majority: leading at the deadline passes", program: onPosts(everyone, majority, d48),
			steps: []string{"yes 0", "+48h", "=passed"}},
		{name: "majority: at the deadline it passes when told to", program: onPosts(everyone, majority, deadline("2d", blocks.ThenPass)),
			steps: []string{"no 0", "+47h", "=pending", "+1h", "=passed"},
			says:  []string{"If it is still open after 2 days, it passes."}},
		{name: "majority: at the deadline it fails when told to", program: onPosts(everyone, majority, deadline("90m", blocks.ThenFail)),
			steps: []string{"yes 0", "+89m", "=pending", "+1m", "=failed"},
			says:  []string{"If it is still open after 90 minutes, it fails."}},
		{name: "majority: without a deadline it stays open", program: onPosts(everyone, majority),
			steps: []string{"yes 0", "+2000h", "=pending", "yes 1", "yes 2", "=passed"},
			says:  []string{"There is no deadline"}},
		// majority of every eligible voter: not voting weighs like no
		{name: "absolute majority: half is not enough", program: onPosts(everyone, absolute, d48),
			steps: []string{"yes 0", "yes 1", "abstain 2", "=pending", "abstain 3", "=failed"},
			says:  []string{"more than half of all the voters vote yes", "abstaining or not voting weighs like a no"}},
		{name: "absolute majority: non-voters count at the deadline", program: onPosts(everyone, absolute, d48),
			steps: []string{"yes 0", "yes 1", "+48h", "=failed"}},
		{name: "absolute majority: 3 of 4 passes at once", program: onPosts(everyone, absolute, d48),
			steps: []string{"yes 0", "yes 1", "yes 2", "=passed"}},
		// supermajority: at least p/q, exactly p/q passes
		{name: "two thirds: exactly 2/3 passes", members: 3, program: onPosts(everyone, twoThirds, d48),
			steps: []string{"yes 0", "no 1", "=pending", "yes 2", "=passed"},
			says:  []string{"at least 2/3 of the yes and no votes", "exactly 2/3 is enough"}},
		{name: "two thirds: decided with the votes cast at the deadline", program: onPosts(everyone, twoThirds, d48),
			steps: []string{"yes 0", "yes 1", "no 2", "=pending", "+48h", "=passed"}},
		{name: "two thirds: just under fails at the deadline", members: 7, program: onPosts(everyone, twoThirds, d48),
			steps: []string{"yes 0", "yes 1", "yes 2", "no 3", "no 4", "=pending", "+48h", "=failed"}},
		{name: "two thirds: all abstain fails", members: 3, program: onPosts(everyone, twoThirds, d48),
			steps: []string{"abstain 0", "abstain 1", "abstain 2", "=failed"},
			says:  []string{"at least one yes is needed"}},
		{name: "two thirds of everyone: abstentions weigh like no", members: 3, program: onPosts(everyone, twoThirdsAll, d48),
			steps: []string{"yes 0", "abstain 1", "=pending", "abstain 2", "=failed"},
			says:  []string{"at least 2/3 of all the voters vote yes"}},
		// unanimity
		{name: "unanimity: one no fails at once", program: onPosts(everyone, unanimity, d48),
			steps: []string{"yes 0", "yes 1", "no 2", "=failed"},
			says:  []string{"at least one voter votes yes and nobody votes no"}},
		{name: "unanimity: abstentions do not block", members: 3, program: onPosts(everyone, unanimity, d48),
			steps: []string{"abstain 0", "yes 1", "=pending", "abstain 2", "=passed"}},
		{name: "unanimity: at the deadline the votes cast decide", program: onPosts(everyone, unanimity, d48),
			steps: []string{"yes 0", "+48h", "=passed"}},
		{name: "unanimity of everyone: an abstention blocks", members: 3, program: onPosts(everyone, unanimityAll, d48),
			steps: []string{"yes 0", "yes 1", "abstain 2", "=failed"},
			says:  []string{"every voter votes yes"}},
		// threshold
		{name: "threshold: two yes pass at once", program: onPosts(everyone, two, d48),
			steps: []string{"yes 0", "=pending", "yes 1", "=passed"},
			says:  []string{"It passes as soon as at least 2 voters vote yes"}},
		{name: "threshold: fails once two yes cannot be reached", program: onPosts(everyone, two, d48),
			steps: []string{"no 0", "abstain 1", "=pending", "no 2", "=failed"},
			says:  []string{"yes votes plus voters yet to vote fall below 2"}},
		{name: "threshold: the deadline fails it", program: onPosts(everyone, two, d48),
			steps: []string{"yes 0", "+48h", "=failed"},
			says:  []string{"If it is still open after 48 hours, it fails."}},
		{name: "threshold: fails at the first no when told to", program: onPosts(everyone, blocks.How{Method: blocks.Threshold, Yes: 2, FailAtNo: 1}),
			steps: []string{"yes 0", "no 1", "=failed"},
			says:  []string{"It also fails as soon as 1 voter votes no."}},
		// quorum
		{name: "quorum of ballots: not reached fails at the deadline", members: 5, program: onPosts(everyone, majority, d48, quorum(blocks.Quorum{Votes: 3})),
			steps: []string{"yes 0", "yes 1", "+48h", "=failed"},
			says:  []string{"provided at least 3 ballots are cast (yes, no and abstain all count)"}},
		{name: "quorum of ballots: abstentions count", members: 5, program: onPosts(everyone, majority, d48, quorum(blocks.Quorum{Votes: 3})),
			steps: []string{"yes 0", "yes 1", "abstain 2", "=pending", "+48h", "=passed"}},
		{name: "quorum share: half of 5 rounds up to 3", members: 5, program: onPosts(everyone, majority, d48, quorum(blocks.Quorum{Share: "1/2"})),
			steps: []string{"yes 0", "yes 1", "+48h", "=failed"},
			says:  []string{"at least 1/2 of the voters (rounded up) cast a ballot"}},
		{name: "quorum share: reached", members: 5, program: onPosts(everyone, majority, d48, quorum(blocks.Quorum{Share: "1/2"})),
			steps: []string{"yes 0", "no 1", "yes 2", "+48h", "=passed"}},
	}
	for _, sc := range tests {
		t.Run(sc.name, func(t *testing.T) { l.run(t, sc) })
	}
}

func TestConsensusAndElectionsBehaveAsTheirRuleSays(t *testing.T) {
	l := newLab(t)
	d48 := deadline("48h", "")
	consensus2 := blocks.How{Method: blocks.Consensus, MinAgree: 2}
	consent := blocks.How{Method: blocks.Consensus}
	lazy2 := blocks.How{Method: blocks.LazyConsensus, Objections: 2}
	election := func(method string, q *blocks.Quorum) func(*world) *blocks.Program {
		return func(*world) *blocks.Program {
			return &blocks.Program{Version: blocks.Version, Kind: models.KindConstitution,
				When: &blocks.When{ActionTypes: []string{engine.TypeElection}},
				Decision: blocks.Decision{Deciders: &everyone, How: &blocks.How{Method: method}, Quorum: q,
					Deadline: &blocks.Deadline{After: "48h"}}}
		}
	}
	motto := func(want string) func(t *testing.T, w *world, res *engine.Result) {
		return func(t *testing.T, w *world, res *engine.Result) {
			docs, err := w.env.Store.Documents(ctx, w.c.ID)
			if err != nil {
				t.Fatal(err)
			}
			got := ""
			for _, d := range docs {
				got += d.Body
			}
			if got != want {
				t.Fatalf("carried out %q, want the winner %q", got, want)
			}
		}
	}
	tests := []scenario{
		{name: "consensus: a block keeps it open until withdrawn", program: onPosts(everyone, consensus2, d48),
			steps: []string{"agree 0", "agree 1", "block 2", "disagree 3", "=pending", "agree 2", "=passed"},
			says:  []string{"nobody blocks and at least 2 voters agree", "a block before the deadline keeps the vote open", "Disagree and abstain never stop it"}},
		{name: "consensus: a block at the deadline fails", program: onPosts(everyone, consensus2, d48),
			steps: []string{"agree 0", "agree 1", "block 2", "+48h", "=failed"},
			says:  []string{"at the deadline if anyone blocks"}},
		{name: "consensus: fails once agreement is out of reach", program: onPosts(everyone, consensus2, d48),
			steps: []string{"disagree 0", "abstain 1", "=pending", "disagree 2", "=failed"},
			says:  []string{"It fails as soon as 2 agreements can no longer be reached"}},
		{name: "consensus: enough agreement at the deadline passes", program: onPosts(everyone, consensus2, d48),
			steps: []string{"agree 0", "agree 1", "=pending", "+48h", "=passed"}},
		{name: "consensus: too little agreement at the deadline fails", program: onPosts(everyone, consensus2, d48),
			steps: []string{"agree 0", "disagree 1", "+48h", "=failed"}},
		{name: "consent: silence passes at the deadline", program: onPosts(everyone, consent, d48),
			steps: []string{"+48h", "=passed"},
			says:  []string{"It passes when nobody blocks"}},
		{name: "lazy consensus: one objection is not enough", program: onPosts(everyone, lazy2, d48),
			steps: []string{"no 0", "=pending", "+48h", "=passed"},
			says:  []string{"It passes after 48 hours unless 2 voters vote no (object)"}},
		{name: "lazy consensus: two objections fail at once", program: onPosts(everyone, lazy2, d48),
			steps: []string{"no 0", "no 1", "=failed"},
			says:  []string{"It fails as soon as 2 voters object"}},
		{name: "lazy consensus: passes early once objections are impossible", program: onPosts(everyone, lazy2, d48),
			steps: []string{"yes 0", "abstain 1", "=pending", "yes 2", "=passed"},
			says:  []string{"passes early once 2 objections are no longer possible"}},
		{name: "ranked choice: a majority of first preferences wins", members: 3, action: "election", program: election(blocks.RankedChoice, nil),
			steps: []string{"rank 0 A,B", "rank 1 B,A", "=pending", "rank 2 A", "=passed"},
			says:  []string{"instant runoff", "more than half of these ballots wins"}, check: motto("A")},
		{name: "ranked choice: transfers decide", members: 5, action: "election", program: election(blocks.RankedChoice, nil),
			steps: []string{"rank 0 A", "rank 1 A", "rank 2 B", "rank 3 B", "rank 4 C,B", "=passed"}, check: motto("B")},
		{name: "ranked choice: an exact tie fails", members: 2, action: "election", program: election(blocks.RankedChoice, nil),
			steps: []string{"rank 0 A", "rank 1 B", "=failed"},
			says:  []string{"If two candidates are left exactly tied"}, check: motto("")},
		{name: "ranked choice: no votes fails at the deadline", action: "election", program: election(blocks.RankedChoice, nil),
			steps: []string{"+47h", "=pending", "+1h", "=failed"}, check: motto("")},
		{name: "ranked choice: the deadline decides with the votes cast", action: "election", program: election(blocks.RankedChoice, nil),
			steps: []string{"rank 0 C", "+48h", "=passed"},
			says:  []string{"The vote closes when every voter has voted, or after 48 hours."}, check: motto("C")},
		{name: "ranked choice: below the quorum fails", action: "election", program: election(blocks.RankedChoice, &blocks.Quorum{Votes: 2}),
			steps: []string{"rank 0 C", "+48h", "=failed"},
			says:  []string{"It also fails when fewer than 2 voters have voted."}},
		{name: "approval: most approvals win", members: 3, action: "election", program: election(blocks.Approval, nil),
			steps: []string{"approve 0 A,B", "approve 1 B", "approve 2 C", "=passed"},
			says:  []string{"most approvals wins"}, check: motto("B")},
		{name: "approval: a tie for first fails", members: 2, action: "election", program: election(blocks.Approval, nil),
			steps: []string{"approve 0 A,B", "approve 1 B,A", "=failed"},
			says:  []string{"a tie for first place"}},
	}
	for _, sc := range tests {
		t.Run(sc.name, func(t *testing.T) { l.run(t, sc) })
	}
}

func TestBlocksAroundTheVote(t *testing.T) {
	l := newLab(t)
	d48 := deadline("48h", "")
	yes1 := blocks.How{Method: blocks.Threshold, Yes: 1}
	council := map[string][]int{"Council": {2, 3}}
	tests := []scenario{
		{name: "deciders by role: only the role votes", roles: council,
			program: onPosts(blocks.Deciders{Who: blocks.ByRole, Role: "Council"}, blocks.How{Method: blocks.Majority}, d48),
			steps:   []string{"outsider yes", "yes 0", "=pending", "yes 1", "=passed"},
			says:    []string{"The members with the role “Council” vote", "Who may vote is fixed when the vote opens"},
			check: func(t *testing.T, w *world, res *engine.Result) {
				p := w.proposals(t, res.Action.ID)[0]
				if len(p.Ballot.Eligible) != 2 || p.Ballot.Eligible[0] != w.members[2] {
					t.Fatalf("eligible %v, want the council", p.Ballot.Eligible)
				}
			}},
		{name: "one member decides", program: func(w *world) *blocks.Program {
			return onPosts(blocks.Deciders{Who: blocks.ByMember, Member: w.members[3]}, yes1)(w)
		}, steps: []string{"outsider yes", "yes 0", "=passed"}, says: []string{"member #"},
			check: func(t *testing.T, w *world, res *engine.Result) {
				if p := w.proposals(t, res.Action.ID)[0]; len(p.Ballot.Eligible) != 1 || p.Ballot.Eligible[0] != w.members[3] {
					t.Fatalf("eligible %v", p.Ballot.Eligible)
				}
			}},
		{name: "jury from a role: drawn from the role, reproducibly", members: 8, roles: map[string][]int{"Juror": {1, 2, 3, 4, 5}},
			program: onPosts(blocks.Deciders{Who: blocks.ByJury, Size: 3, Role: "Juror"}, blocks.How{Method: blocks.Threshold, Yes: 2}, d48),
			steps:   []string{"outsider yes", "yes 0", "yes 1", "=passed"},
			says:    []string{"A jury of 3 members, drawn at random from the members with the role “Juror”", "seeded by the proposal"},
			check: func(t *testing.T, w *world, res *engine.Result) {
				p := w.proposals(t, res.Action.ID)[0]
				jurors := map[int64]bool{w.members[1]: true, w.members[2]: true, w.members[3]: true, w.members[4]: true, w.members[5]: true}
				if len(p.Ballot.Eligible) != 3 {
					t.Fatalf("jury %v", p.Ballot.Eligible)
				}
				for _, id := range p.Ballot.Eligible {
					if !jurors[id] {
						t.Fatalf("juror %d does not hold the role", id)
					}
				}
			}},
		{name: "jury bigger than its pool takes the whole pool", members: 3,
			program: onPosts(blocks.Deciders{Who: blocks.ByJury, Size: 5}, blocks.How{Method: blocks.Threshold, Yes: 2}, d48),
			steps:   []string{"yes 0", "yes 1", "=passed"},
			says:    []string{"all of them if there are fewer than 5"}},
		{name: "skip: a role's action passes at once", roles: map[string][]int{"Moderator": {2}}, by: 2,
			program: onPosts(everyone, blocks.How{Method: blocks.Majority}, d48, func(p *blocks.Program) { p.Skip = &blocks.Skip{Roles: []string{"Admin", "Moderator"}} }),
			steps:   []string{"=passed"},
			says:    []string{"Members with the role “Admin” or “Moderator” act without a vote"},
			check: func(t *testing.T, w *world, res *engine.Result) {
				if res.Action.Reverted || res.Proposal.Ballot != nil {
					t.Fatal("a skipped action was reverted or voted on")
				}
			}},
		{name: "skip: others still vote", roles: map[string][]int{"Moderator": {2}, "Admin": {}}, by: 1,
			program: onPosts(everyone, yes1, d48, func(p *blocks.Program) { p.Skip = &blocks.Skip{Roles: []string{"Admin", "Moderator"}} }),
			steps:   []string{"=pending", "yes 0", "=passed"}},
		{name: "tell: the voters get the message, privately", program: onPosts(everyone, yes1, d48, func(p *blocks.Program) {
			p.Tell = &blocks.Tell{Open: "Please look at this post.", Private: true}
		}), steps: []string{"=pending"}, says: []string{"When the vote opens, the voters are sent: “Please look at this post.”", "each asked privately"},
			check: func(t *testing.T, w *world, res *engine.Result) {
				p := w.proposals(t, res.Action.ID)[0]
				if !p.Ballot.DM || count(w.effects(t, res.Action.ID), "notify: Please look at this post.") != 1 {
					t.Fatalf("ballot %+v effects %v", p.Ballot, w.effects(t, res.Action.ID))
				}
			}},
		{name: "tell: a reminder goes once to those who have not voted", members: 3,
			program: onPosts(everyone, blocks.How{Method: blocks.Unanimity}, d48, func(p *blocks.Program) {
				p.Tell = &blocks.Tell{RemindBefore: "6h"}
			}),
			steps: []string{"yes 0", "+41h", "=pending", "+1h", "+1h", "=pending", "yes 1", "yes 2", "=passed"},
			says:  []string{"6 hours before the deadline, voters who have not voted yet are reminded once"},
			check: func(t *testing.T, w *world, res *engine.Result) {
				es := w.effects(t, res.Action.ID)
				var reminders []string
				for _, e := range es {
					if strings.HasPrefix(e, "notify: Reminder") {
						reminders = append(reminders, e)
					}
				}
				p := w.proposals(t, res.Action.ID)[0]
				if len(reminders) != 1 || strings.Contains(reminders[0], "["+strconv.FormatInt(p.Ballot.Eligible[0], 10)+",") {
					t.Fatalf("reminders %v (the first voter had voted)", reminders)
				}
			}},
		{name: "cool-off: passes only after it", program: onPosts(everyone, yes1, deadline("48h", ""), func(p *blocks.Program) { p.Deadline.CoolOff = "1h" }),
			steps: []string{"yes 0", "=pending", "+59m", "=pending", "+1m", "=passed"},
			says:  []string{"Cool-off: the first time it would pass, it waits 1 hour"}},
		{name: "cool-off: a changed vote can still fail it", members: 2,
			program: onPosts(everyone, blocks.How{Method: blocks.Unanimity}, func(p *blocks.Program) { p.Deadline = &blocks.Deadline{CoolOff: "1h"} }),
			steps:   []string{"yes 0", "yes 1", "=pending", "+30m", "no 1", "=failed"},
			says:    []string{"it fails at once if a changed vote makes passing impossible"}},
		{name: "on pass: post and grant a role, without carrying out", roles: map[string][]int{"Trusted": {}},
			program: onPosts(everyone, yes1, func(p *blocks.Program) {
				p.OnPass = []blocks.Step{{Do: blocks.DoPost, Text: "Approved!"}, {Do: blocks.DoGrantRole, Role: "Trusted"}}
			}),
			steps: []string{"yes 0", "=passed"},
			says:  []string{"If it passes, the action is not carried out; “Approved!” is posted", "the member who initiated it gets the role “Trusted”"},
			check: func(t *testing.T, w *world, res *engine.Result) {
				es := w.effects(t, res.Action.ID)
				if !contains(es, "post: Approved!") || contains(es, "execute") {
					t.Fatalf("effects %v", es)
				}
				ids, _ := w.env.Store.MemberIDsWithRole(ctx, w.c.ID, "Trusted")
				if len(ids) != 1 || ids[0] != w.members[1] {
					t.Fatalf("Trusted: %v", ids)
				}
			}},
		{name: "on fail: post, revoke a role", roles: map[string][]int{"Poster": {1}},
			program: onPosts(everyone, blocks.How{Method: blocks.Unanimity}, func(p *blocks.Program) {
				p.OnFail = []blocks.Step{{Do: blocks.DoPost, Text: "Rejected."}, {Do: blocks.DoRevokeRole, Role: "Poster"}}
			}),
			steps: []string{"no 0", "=failed"},
			says:  []string{"If it fails, the action is not carried out; “Rejected.” is posted", "loses the role “Poster”"},
			check: func(t *testing.T, w *world, res *engine.Result) {
				if es := w.effects(t, res.Action.ID); !contains(es, "post: Rejected.") || !contains(es, "revert") {
					t.Fatalf("effects %v", es)
				}
				if ids, _ := w.env.Store.MemberIDsWithRole(ctx, w.c.ID, "Poster"); len(ids) != 0 {
					t.Fatalf("Poster: %v", ids)
				}
			}},
		{name: "on pass: carried out again after the revert", program: onPosts(everyone, yes1),
			steps: []string{"=pending", "yes 0", "=passed"},
			says:  []string{"While it is being decided, an action already taken on the platform is undone.", "If it passes, the action is carried out."},
			check: func(t *testing.T, w *world, res *engine.Result) {
				if es := w.effects(t, res.Action.ID); !contains(es, "revert") || !contains(es, "execute") {
					t.Fatalf("effects %v", es)
				}
			}},
		{name: "stages: stage 2 decides only after stage 1 passed", roles: council,
			program: onPosts(blocks.Deciders{Who: blocks.ByRole, Role: "Council"}, blocks.How{Method: blocks.Unanimity}, func(p *blocks.Program) {
				p.Stages = []blocks.Decision{{Deciders: &everyone, How: &blocks.How{Method: blocks.Majority, Of: blocks.OfEligible},
					Deadline: &blocks.Deadline{After: "7d"}}}
				p.OnPass = []blocks.Step{{Do: blocks.DoExecute}, {Do: blocks.DoPost, Text: "Both stages passed."}}
			}),
			steps: []string{"stages 1", "yes 0", "yes 1", "stages 2", "=pending", "yes 0", "yes 1", "=pending", "yes 2", "=passed"},
			says:  []string{"It is decided in 2 stages. Stage 1:", "If stage 1 passes, stage 2 decides:", "If the last stage passes, the action is carried out"},
			check: func(t *testing.T, w *world, res *engine.Result) {
				es := w.effects(t, res.Action.ID)
				if count(es, "post: Both stages passed.") != 1 || count(es, "execute") != 1 {
					t.Fatalf("effects %v", es)
				}
			}},
		{name: "stages: a failed stage 1 never opens stage 2", roles: council,
			program: onPosts(blocks.Deciders{Who: blocks.ByRole, Role: "Council"}, blocks.How{Method: blocks.Unanimity}, func(p *blocks.Program) {
				p.Stages = []blocks.Decision{{Deciders: &everyone, How: &blocks.How{Method: blocks.Majority}}}
			}),
			steps: []string{"no 0", "=failed", "stages 1"}},
		{name: "constitution: a change decided by blocks is applied", action: "document",
			program: func(*world) *blocks.Program {
				return &blocks.Program{Version: blocks.Version, Kind: models.KindConstitution,
					When:     &blocks.When{ActionTypes: []string{engine.TypeAddDocument}},
					Decision: blocks.Decision{Deciders: &everyone, How: &blocks.How{Method: blocks.Supermajority, Fraction: "3/4"}}}
			},
			steps: []string{"yes 0", "yes 1", "=pending", "yes 2", "=passed"},
			says:  []string{"change is carried out"},
			check: func(t *testing.T, w *world, res *engine.Result) {
				if docs, _ := w.env.Store.Documents(ctx, w.c.ID); len(docs) != 1 {
					t.Fatalf("documents %v", docs)
				}
			}},
	}
	for _, sc := range tests {
		t.Run(sc.name, func(t *testing.T) { l.run(t, sc) })
	}
}

// TestWhenChoosesTheActions: the When block's filter decides which posts the policy governs;
// the others go to the base policy (everything passes).
func TestWhenChoosesTheActions(t *testing.T) {
	l := newLab(t)
	w := l.world(t, 4, map[string][]int{"Newcomer": {1, 2}, "Moderator": {2}})
	w.install(t, "Links from newcomers", &blocks.Program{Version: blocks.Version,
		When: &blocks.When{ActionTypes: []string{"test.post_message"}, Channels: []string{"general", "news"},
			InitiatorHasRole: "Newcomer", InitiatorLacksRole: "Moderator", TextContains: "http", TextMatches: `^\S+ \S+`},
		Decision: blocks.Decision{Deciders: &everyone, How: &blocks.How{Method: blocks.Threshold, Yes: 1}}})
	tests := []struct {
		name     string
		by       int
		channel  string
		text     string
		governed bool
	}{
		{"every condition holds", 1, "news", "see http://x", true},
		{"another channel", 1, "random", "see http://x", false},
		{"initiator lacks the role", 3, "news", "see http://x", false},
		{"initiator has the excluded role", 2, "news", "see http://x", false},
		{"text without the word", 1, "news", "see ftp://x", false},
		{"text not matching the pattern", 1, "news", "http://x", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res := w.submit(t, "test.post_message", tt.by, map[string]any{"channel": tt.channel, "text": tt.text})
			pol, err := w.env.Store.PolicyByName(ctx, w.c.ID, "Links from newcomers")
			if err != nil {
				t.Fatal(err)
			}
			if got := *res.Proposal.PolicyID == pol.ID; got != tt.governed {
				t.Fatalf("governed by the block policy: %v, want %v", got, tt.governed)
			}
			if want := map[bool]string{true: models.StatusPending, false: models.StatusPassed}[tt.governed]; res.Proposal.Status != want {
				t.Fatalf("status %s, want %s", res.Proposal.Status, want)
			}
		})
	}
}
