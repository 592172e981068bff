package blocks_test

import (
	"errors"
	"strings"
	"testing"

	"policykit/engine/blocks"
	"policykit/models"
)

// valid is a program every case below breaks in one place.
func valid() *blocks.Program {
	return &blocks.Program{Version: blocks.Version, When: &blocks.When{ActionTypes: []string{"test.post_message"}},
		Decision: blocks.Decision{Deciders: &blocks.Deciders{Who: blocks.ByRole, Role: "Council"},
			How: &blocks.How{Method: blocks.Majority}, Deadline: &blocks.Deadline{After: "48h"}}}
}

func TestCheckExplainsEachField(t *testing.T) {
	tests := []struct {
		name  string
		edit  func(p *blocks.Program)
		field string
		msg   string
	}{
		{"other version", func(p *blocks.Program) { p.Version = 2 }, "version", "version 1"},
		{"unknown kind", func(p *blocks.Program) { p.Kind = "galactic" }, "kind", "platform or constitution"},
		{"action type of another kind", func(p *blocks.Program) { p.Kind = models.KindConstitution }, "when.action_types", "not a constitution action"},
		{"malformed action type", func(p *blocks.Program) { p.When.ActionTypes = []string{"x\") || true"} }, "when.action_types", "not an action type name"},
		{"bad pattern", func(p *blocks.Program) { p.When.TextMatches = "(" }, "when.text_matches", "not a valid pattern"},
		{"empty channel", func(p *blocks.Program) { p.When.Channels = []string{""} }, "when.channels", "empty"},
		{"control character in a role", func(p *blocks.Program) { p.Deciders.Role = "Coun\ncil" }, "deciders.role", "control character"},
		{"have and lack the same role", func(p *blocks.Program) {
			p.When.InitiatorHasRole, p.When.InitiatorLacksRole = "A", "A"
		}, "when.initiator_lacks_role", "both"},
		{"deciders without a method", func(p *blocks.Program) { p.How = nil }, "how", "choose how"},
		{"consensus without deciders", func(p *blocks.Program) {
			p.Deciders = nil
			p.How = &blocks.How{Method: blocks.Consensus, MinAgree: 2}
		}, "deciders", "choose who decides"},
		{"unknown method", func(p *blocks.Program) { p.How.Method = "dice" }, "how.method", "unknown vote method"},
		{"supermajority without a fraction", func(p *blocks.Program) { p.How = &blocks.How{Method: blocks.Supermajority} }, "how.fraction", "not a fraction"},
		{"supermajority above everyone", func(p *blocks.Program) { p.How = &blocks.How{Method: blocks.Supermajority, Fraction: "4/3"} }, "how.fraction", "more than everyone"},
		{"supermajority of zero", func(p *blocks.Program) { p.How = &blocks.How{Method: blocks.Supermajority, Fraction: "0/3"} }, "how.fraction", "not a fraction"},
		{"threshold of zero", func(p *blocks.Program) { p.How = &blocks.How{Method: blocks.Threshold} }, "how.yes", "from 1"},
		{"lazy consensus of zero", func(p *blocks.Program) { p.How = &blocks.How{Method: blocks.LazyConsensus} }, "how.objections", "from 1"},
		{"negative agreement", func(p *blocks.Program) { p.How = &blocks.How{Method: blocks.Consensus, MinAgree: -1} }, "how.min_agree", "from 0"},
		{"a number of another method", func(p *blocks.Program) { p.How.Yes = 3 }, "how.yes", "does not apply to majority"},
		{"eligible threshold", func(p *blocks.Program) { p.How = &blocks.How{Method: blocks.Threshold, Yes: 2, Of: blocks.OfEligible} }, "how.of", "only applies to majority"},
		{"a deadline of zero", func(p *blocks.Program) { p.Deadline.After = "0h" }, "deadline.after", "not a duration"},
		{"a deadline with code", func(p *blocks.Program) { p.Deadline.After = `1h"} || true || {"` }, "deadline.after", "not a duration"},
		{"a deadline of ten years", func(p *blocks.Program) { p.Deadline.After = "3650d" }, "deadline.after", "longer than a year"},
		{"unknown deadline choice", func(p *blocks.Program) { p.Deadline.Then = "shrug" }, "deadline.then", "decide, pass or fail"},
		{"lazy consensus without a deadline", func(p *blocks.Program) {
			p.How, p.Deadline = &blocks.How{Method: blocks.LazyConsensus, Objections: 1}, nil
		}, "deadline.after", "needs a deadline"},
		{"consensus passing at the deadline", func(p *blocks.Program) {
			p.How, p.Deadline.Then = &blocks.How{Method: blocks.Consensus}, blocks.ThenPass
		}, "deadline.then", "always settled by the votes cast"},
		{"consensus with a quorum", func(p *blocks.Program) {
			p.How, p.Quorum = &blocks.How{Method: blocks.Consensus}, &blocks.Quorum{Votes: 2}
		}, "quorum", "has no quorum"},
		{"both quorums", func(p *blocks.Program) { p.Quorum = &blocks.Quorum{Votes: 2, Share: "1/2"} }, "quorum", "not both"},
		{"quorum of zero", func(p *blocks.Program) { p.Quorum = &blocks.Quorum{} }, "quorum.votes", "from 1"},
		{"then without a deadline", func(p *blocks.Program) { p.Deadline = &blocks.Deadline{Then: blocks.ThenFail} }, "deadline.then", "needs a deadline"},
		{"a reminder after the deadline", func(p *blocks.Program) { p.Tell = &blocks.Tell{RemindBefore: "2d"} }, "tell.remind_before", "shorter than the deadline (2 days)"},
		{"a reminder without a deadline", func(p *blocks.Program) {
			p.Deadline, p.Tell = nil, &blocks.Tell{RemindBefore: "1h"}
		}, "tell.remind_before", "needs a deadline"},
		{"a reminder text without a time", func(p *blocks.Program) { p.Tell = &blocks.Tell{Remind: "hey"} }, "tell.remind_before", "how long before"},
		{"a jury of zero", func(p *blocks.Program) { p.Deciders = &blocks.Deciders{Who: blocks.ByJury} }, "deciders.size", "1 to"},
		{"a role without a name", func(p *blocks.Program) { p.Deciders.Role = "" }, "deciders.role", "choose the role"},
		{"a member without an id", func(p *blocks.Program) { p.Deciders = &blocks.Deciders{Who: blocks.ByMember} }, "deciders.member", "choose the member"},
		{"size on a role", func(p *blocks.Program) { p.Deciders.Size = 3 }, "deciders.size", "only a jury"},
		{"election of a post", func(p *blocks.Program) { p.How = &blocks.How{Method: blocks.RankedChoice} }, "how.method", "constitution.hold_election"},
		{"skip without a vote", func(p *blocks.Program) {
			p.Deciders, p.How, p.Deadline = nil, nil, nil
			p.Skip = &blocks.Skip{Roles: []string{"Mod"}}
		}, "skip", "passes at once already"},
		{"tell without a vote", func(p *blocks.Program) {
			p.Deciders, p.How, p.Deadline = nil, nil, nil
			p.Tell = &blocks.Tell{Open: "hi"}
		}, "tell", "only applies to a vote"},
		{"on fail without a vote", func(p *blocks.Program) {
			p.Deciders, p.How, p.Deadline = nil, nil, nil
			p.OnFail = []blocks.Step{{Do: blocks.DoPost, Text: "no"}}
		}, "on_fail", "nothing can fail"},
		{"execute on fail", func(p *blocks.Program) { p.OnFail = []blocks.Step{{Do: blocks.DoExecute}} }, "on_fail[0].do", "never carried out"},
		{"executing twice", func(p *blocks.Program) { p.OnPass = []blocks.Step{{Do: blocks.DoExecute}, {Do: blocks.DoExecute}} }, "on_pass", "once"},
		{"a post without text", func(p *blocks.Program) { p.OnPass = []blocks.Step{{Do: blocks.DoPost}} }, "on_pass[0].text", "write the message"},
		{"grant without a role", func(p *blocks.Program) { p.OnPass = []blocks.Step{{Do: blocks.DoGrantRole}} }, "on_pass[0].role", "choose the role"},
		{"unknown step", func(p *blocks.Program) { p.OnPass = []blocks.Step{{Do: "explode"}} }, "on_pass[0].do", "unknown step"},
		{"a later stage without a vote", func(p *blocks.Program) { p.Stages = []blocks.Decision{{}} }, "stages[0].how", "needs a vote"},
		{"a later stage's bad number", func(p *blocks.Program) {
			p.Stages = []blocks.Decision{{Deciders: &blocks.Deciders{Who: blocks.Everyone}, How: &blocks.How{Method: blocks.Threshold, Yes: -1}}}
		}, "stages[0].how.yes", "from 1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := valid()
			tt.edit(p)
			err := p.Check()
			if !errors.Is(err, models.ErrInvalid) {
				t.Fatalf("Check() = %v, want a validation error", err)
			}
			if msg := models.FieldErrors(err)[tt.field]; !strings.Contains(msg, tt.msg) {
				t.Fatalf("%s: %q, want it to mention %q (all: %v)", tt.field, msg, tt.msg, err)
			}
			if _, _, err := blocks.Compile(p); !errors.Is(err, models.ErrInvalid) {
				t.Fatalf("Compile accepted it: %v", err)
			}
		})
	}
	if err := valid().Check(); err != nil {
		t.Fatalf("the valid program is refused: %v", err)
	}
}

func TestValidateAgainstTheCommunity(t *testing.T) {
	facts := blocks.CommunityFacts{Members: 6, Roles: map[string]int{"Council": 3, "Empty": 0, "Juror": 4},
		Named: map[int64]string{7: "Ada"}, ActionTypes: map[string]string{"test.post_message": models.KindPlatform, "constitution.add_document": models.KindConstitution}}
	tests := []struct {
		name  string
		edit  func(p *blocks.Program)
		field string
		msg   string
	}{
		{"unknown role", func(p *blocks.Program) { p.Deciders.Role = "Senate" }, "deciders.role", "no role named “Senate”"},
		{"supermajority of an empty role", func(p *blocks.Program) {
			p.Deciders.Role, p.How = "Empty", &blocks.How{Method: blocks.Supermajority, Fraction: "2/3"}
		}, "deciders.role", "nobody has the role “Empty”, so nobody could vote"},
		{"more yes than a jury bigger than its pool", func(p *blocks.Program) {
			p.Deciders, p.How = &blocks.Deciders{Who: blocks.ByJury, Size: 5, Role: "Juror"}, &blocks.How{Method: blocks.Threshold, Yes: 6}
		}, "how.yes", "the jury has only 5 members, so 6 yes votes can never happen"},
		{"a jury from an empty role", func(p *blocks.Program) {
			p.Deciders = &blocks.Deciders{Who: blocks.ByJury, Size: 2, Role: "Empty"}
		}, "deciders.role", "no jury can be drawn"},
		{"more yes than voters", func(p *blocks.Program) { p.How = &blocks.How{Method: blocks.Threshold, Yes: 4} }, "how.yes", "the role “Council” has only 3 members, so 4 yes votes can never happen"},
		{"more yes than a jury", func(p *blocks.Program) {
			p.Deciders, p.How = &blocks.Deciders{Who: blocks.ByJury, Size: 3}, &blocks.How{Method: blocks.Threshold, Yes: 4}
		}, "how.yes", "the jury has only 3 members"},
		{"objections that can never come", func(p *blocks.Program) {
			p.How = &blocks.How{Method: blocks.LazyConsensus, Objections: 5}
		}, "how.objections", "it would always pass"},
		{"agreement out of reach", func(p *blocks.Program) {
			p.Deciders, p.How = &blocks.Deciders{Who: blocks.ByMember, Member: 7}, &blocks.How{Method: blocks.Consensus, MinAgree: 2}
		}, "how.min_agree", "only one member decides"},
		{"quorum out of reach", func(p *blocks.Program) { p.Quorum = &blocks.Quorum{Votes: 4} }, "quorum.votes", "a quorum of 4 ballots can never happen"},
		{"unknown member", func(p *blocks.Program) { p.Deciders = &blocks.Deciders{Who: blocks.ByMember, Member: 8} }, "deciders.member", "member #8 is not a member"},
		{"unknown skip role", func(p *blocks.Program) { p.Skip = &blocks.Skip{Roles: []string{"Mod"}} }, "skip.roles", "no role named “Mod”"},
		{"unknown role in when", func(p *blocks.Program) { p.When.InitiatorLacksRole = "Mod" }, "when.initiator_lacks_role", "no role named"},
		{"unknown action type", func(p *blocks.Program) { p.When.ActionTypes = []string{"test.delete_everything"} }, "when.action_types", "unknown action type"},
		{"unknown role granted", func(p *blocks.Program) { p.OnPass = []blocks.Step{{Do: blocks.DoGrantRole, Role: "Mod"}} }, "on_pass[0].role", "no role named"},
		{"unknown member granted", func(p *blocks.Program) {
			p.OnPass = []blocks.Step{{Do: blocks.DoGrantRole, Role: "Council", Member: 99}}
		}, "on_pass[0].member", "member #99"},
		{"stage 2 of an empty role", func(p *blocks.Program) {
			p.Stages = []blocks.Decision{{Deciders: &blocks.Deciders{Who: blocks.ByRole, Role: "Empty"}, How: &blocks.How{Method: blocks.Majority}}}
		}, "stages[0].deciders.role", "nobody has the role"},
		{"a structural error first", func(p *blocks.Program) { p.Deadline.After = "0d" }, "deadline.after", "not a duration"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := valid()
			tt.edit(p)
			err := blocks.Validate(p, facts)
			if msg := models.FieldErrors(err)[tt.field]; !strings.Contains(msg, tt.msg) {
				t.Fatalf("%s: %q, want it to mention %q (all: %v)", tt.field, msg, tt.msg, err)
			}
		})
	}
	if err := blocks.Validate(valid(), facts); err != nil {
		t.Fatalf("the valid program is refused: %v", err)
	}
	ok := valid()
	ok.Deciders = &blocks.Deciders{Who: blocks.ByMember, Member: 7}
	ok.OnPass = []blocks.Step{{Do: blocks.DoExecute}, {Do: blocks.DoGrantRole, Role: "Council", Member: 7}}
	if ids := ok.MemberIDs(); len(ids) != 2 || ids[0] != 7 {
		t.Fatalf("MemberIDs = %v", ids)
	}
	if err := blocks.Validate(ok, facts); err != nil {
		t.Fatalf("a named member is refused: %v", err)
	}
}

func TestDecode(t *testing.T) {
	tests := []struct {
		name, json, field, msg string
	}{
		{"not JSON", `{"version": 1,`, "blocks", "not a valid block program"},
		{"unknown field", `{"version": 1, "whom": {}}`, "blocks", `unknown field "whom"`},
		{"wrong type", `{"version": 1, "deciders": {"who": 3}}`, "blocks", "must be a string"},
		{"trailing data", `{"version": 1} {}`, "blocks", "after the program"},
		{"no version", `{}`, "version", "version 1, not 0"},
		{"a list", `[]`, "blocks", "not a valid block program"},
		{"invalid program", `{"version": 1, "how": {"method": "majority"}}`, "deciders", "choose who decides"},
		{"too large", `{"version": 1, "kind": "` + strings.Repeat("x", blocks.MaxProgramBytes) + `"}`, "blocks", "larger than"},
		{"not UTF-8", "{\"version\": 1, \"kind\": \"\xff\"}", "blocks", "UTF-8"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := blocks.Decode([]byte(tt.json))
			if msg := models.FieldErrors(err)[tt.field]; !strings.Contains(msg, tt.msg) {
				t.Fatalf("%s: %q, want it to mention %q (all: %v)", tt.field, msg, tt.msg, err)
			}
		})
	}
	p, err := blocks.Decode([]byte(`{"version":1,"when":{"action_types":["test.rename_channel"]},
		"deciders":{"who":"jury","size":3},"how":{"method":"threshold","yes":2},"deadline":{"after":"48h","then":"fail"}}`))
	if err != nil {
		t.Fatal(err)
	}
	raw, err := p.Encode()
	if err != nil {
		t.Fatal(err)
	}
	again, err := blocks.Decode(raw)
	if err != nil || again.Deciders.Size != 3 || again.Deadline.Then != blocks.ThenFail {
		t.Fatalf("round trip: %+v %v", again, err)
	}
}

// TestJuryBiggerThanItsPool: a jury of 9 in a community of 6 is all of them, as its rule says,
// not an error (communities grow).
func TestJuryBiggerThanItsPool(t *testing.T) {
	facts := blocks.CommunityFacts{Members: 6, Roles: map[string]int{}, Named: map[int64]string{}}
	p := &blocks.Program{Version: blocks.Version, Kind: models.KindPlatform, Decision: blocks.Decision{
		Deciders: &blocks.Deciders{Who: blocks.ByJury, Size: 9}, How: &blocks.How{Method: blocks.Threshold, Yes: 2}}}
	if err := blocks.Validate(p, facts); err != nil {
		t.Fatalf("refused: %v", err)
	}
	_, rule, err := blocks.Compile(p)
	if err != nil || !strings.Contains(rule, "all of them if there are fewer than 9") {
		t.Fatalf("rule %q, %v", rule, err)
	}
}
