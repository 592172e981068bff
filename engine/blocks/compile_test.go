package blocks_test

import (
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"policykit/engine"
	"policykit/engine/blocks"
	"policykit/models"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata")

// render writes a compiled policy as the golden files keep it.
func render(out *blocks.Output) string {
	var b strings.Builder
	write := func(title string, src engine.Sources, rule string) {
		fmt.Fprintf(&b, "# %s\n", title)
		for _, s := range []struct{ name, code string }{{"filter", src.Filter}, {"initialize", src.Initialize},
			{"notify", src.Notify}, {"check", src.Check}, {"pass", src.Pass}, {"fail", src.Fail}} {
			fmt.Fprintf(&b, "## %s\n%s\n", s.name, s.code)
		}
		fmt.Fprintf(&b, "## rule\n%s\n", rule)
	}
	fmt.Fprintf(&b, "kind: %s\naction types: %s\n", out.Kind, strings.Join(out.ActionTypes, ", "))
	write("stage 1", out.Sources, out.Rule)
	for i, s := range out.Stages {
		write(fmt.Sprintf("stage %d", i+2), s.Sources, s.Rule)
	}
	return b.String()
}

func golden(t *testing.T, name, got string) {
	t.Helper()
	path := filepath.Join("testdata", name+".golden")
	if *update {
		if err := os.MkdirAll("testdata", 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -update to create it)", err)
	}
	if string(want) != got {
		t.Errorf("%s changed (go test -update if intended):\n--- got\n%s\n--- want\n%s", path, got, want)
	}
}

func fileName(s string) string {
	return strings.Map(func(r rune) rune {
		if r >= 'a' && r <= 'z' || r >= '0' && r <= '9' {
			return r
		}
		if r >= 'A' && r <= 'Z' {
			return r + 'a' - 'A'
		}
		return '_'
	}, s)
}

// typeLabels are the labels rules name covered action types with.
func typeLabels() map[string]string {
	out := map[string]string{"slack.rename_channel": "Rename a channel", "slack.post_message": "Post a message"}
	for _, t := range engine.ConstitutionTypes() {
		out[t.Name] = t.Label
	}
	return out
}

// TestKitsGolden keeps the generated code and rule of every starter kit policy.
func TestKitsGolden(t *testing.T) {
	for _, k := range blocks.Kits() {
		t.Run(k.Name, func(t *testing.T) {
			out, err := blocks.CompilePolicy(k.Program, blocks.Names{Types: typeLabels()})
			if err != nil {
				t.Fatal(err)
			}
			golden(t, "kit_"+fileName(k.Name), render(out))
		})
	}
}

// examples are programs worth reading in full, kept as golden files.
func examples() map[string]*blocks.Program {
	v := blocks.Version
	return map[string]*blocks.Program{
		// The browser scenario.
		"rename_jury": {Version: v, When: &blocks.When{ActionTypes: []string{"slack.rename_channel"}},
			Decision: blocks.Decision{Deciders: &blocks.Deciders{Who: blocks.ByJury, Size: 3}, How: &blocks.How{Method: blocks.Threshold, Yes: 2},
				Deadline: &blocks.Deadline{After: "48h", Then: blocks.ThenFail}}},
		"everything": {Version: v, When: &blocks.When{ActionTypes: []string{"slack.post_message"}, Channels: []string{"C01", "C02"},
			InitiatorHasRole: "Newcomer", InitiatorLacksRole: "Moderator", TextContains: "http", TextMatches: `^\[vote\]`},
			Skip: &blocks.Skip{Roles: []string{"Moderator", "Admin"}},
			Decision: blocks.Decision{Deciders: &blocks.Deciders{Who: blocks.ByRole, Role: "Council"},
				How:      &blocks.How{Method: blocks.Supermajority, Fraction: "2/3", Of: blocks.OfEligible},
				Quorum:   &blocks.Quorum{Share: "1/2"},
				Deadline: &blocks.Deadline{After: "3d", Then: blocks.ThenDecide, CoolOff: "2h"},
				Tell:     &blocks.Tell{Open: "A link from a newcomer \"needs\" a look.\nThanks!", Private: true, RemindBefore: "12h"}},
			OnPass: []blocks.Step{{Do: blocks.DoExecute}, {Do: blocks.DoPost, Text: "Approved by the council."}, {Do: blocks.DoGrantRole, Role: "Trusted"}},
			OnFail: []blocks.Step{{Do: blocks.DoPost, Text: "Not approved."}, {Do: blocks.DoRevokeRole, Role: "Newcomer", Member: 12}},
			Stages: []blocks.Decision{{Deciders: &blocks.Deciders{Who: blocks.Everyone}, How: &blocks.How{Method: blocks.LazyConsensus, Objections: 3},
				Deadline: &blocks.Deadline{After: "7d"}, Tell: &blocks.Tell{Open: "Object within a week if you disagree."}}}},
		"election": {Version: v, Kind: models.KindConstitution, When: &blocks.When{ActionTypes: []string{engine.TypeElection}},
			Decision: blocks.Decision{Deciders: &blocks.Deciders{Who: blocks.Everyone}, How: &blocks.How{Method: blocks.RankedChoice},
				Quorum: &blocks.Quorum{Votes: 3}, Deadline: &blocks.Deadline{After: "5d"}, Tell: &blocks.Tell{RemindBefore: "1d"}}},
		"consensus": {Version: v, Kind: models.KindConstitution,
			Decision: blocks.Decision{Deciders: &blocks.Deciders{Who: blocks.ByMember, Member: 7}, How: &blocks.How{Method: blocks.Consensus, MinAgree: 1},
				Deadline: &blocks.Deadline{After: "90m"}}},
	}
}

func TestExamplesGolden(t *testing.T) {
	for name, p := range examples() {
		t.Run(name, func(t *testing.T) {
			out, err := blocks.CompilePolicy(p, blocks.Names{Members: map[int64]string{7: "Ada"}, Types: typeLabels()})
			if err != nil {
				t.Fatal(err)
			}
			golden(t, "example_"+name, render(out))
		})
	}
}

// combinations enumerates what the form allows: every deciders choice × vote method ×
// quorum × deadline, each also with a rotating choice of the other blocks (cool-off, tell,
// skip, when, on pass/fail, a later stage), and the elections.
func combinations() []*blocks.Program {
	deciders := []blocks.Deciders{{Who: blocks.Everyone}, {Who: blocks.ByRole, Role: "Council"},
		{Who: blocks.ByJury, Size: 3}, {Who: blocks.ByJury, Size: 2, Role: "Council"}, {Who: blocks.ByMember, Member: 7}}
	methods := []blocks.How{
		{Method: blocks.Majority}, {Method: blocks.Majority, Of: blocks.OfEligible},
		{Method: blocks.Supermajority, Fraction: "2/3"}, {Method: blocks.Supermajority, Fraction: "3/4", Of: blocks.OfEligible},
		{Method: blocks.Supermajority, Fraction: "1/1"},
		{Method: blocks.Unanimity}, {Method: blocks.Unanimity, Of: blocks.OfEligible},
		{Method: blocks.Threshold, Yes: 2}, {Method: blocks.Threshold, Yes: 1, FailAtNo: 1},
		{Method: blocks.Consensus}, {Method: blocks.Consensus, MinAgree: 2},
		{Method: blocks.LazyConsensus, Objections: 1}, {Method: blocks.LazyConsensus, Objections: 2},
	}
	quorums := []*blocks.Quorum{nil, {Votes: 2}, {Share: "1/2"}, {Share: "2/3"}}
	deadlines := []*blocks.Deadline{nil, {After: "48h"}, {After: "2d", Then: blocks.ThenPass}, {After: "90m", Then: blocks.ThenFail}, {After: "7d", Then: blocks.ThenDecide}}
	extras := []func(p *blocks.Program){
		func(p *blocks.Program) {},
		func(p *blocks.Program) {
			if p.Deadline == nil {
				p.Deadline = &blocks.Deadline{}
			}
			p.Deadline.CoolOff = "30m"
		},
		func(p *blocks.Program) { p.Tell = &blocks.Tell{Open: "Vote, please.", Private: true} },
		func(p *blocks.Program) { p.Tell = &blocks.Tell{RemindBefore: "1h", Remind: "Last call"} },
		func(p *blocks.Program) { p.Skip = &blocks.Skip{Roles: []string{"Moderator"}} },
		func(p *blocks.Program) {
			p.Skip = &blocks.Skip{Roles: []string{"Moderator", "Admin"}}
			p.Tell = &blocks.Tell{RemindBefore: "30m"}
			if p.Deadline != nil {
				p.Deadline.CoolOff = "2h"
			}
		},
		func(p *blocks.Program) {
			p.When.Channels = []string{"general"}
			p.When.TextMatches = "(?i)urgent"
		},
		func(p *blocks.Program) {
			p.OnPass = []blocks.Step{{Do: blocks.DoPost, Text: "ok"}, {Do: blocks.DoExecute}, {Do: blocks.DoGrantRole, Role: "Trusted", Member: 7}}
			p.OnFail = []blocks.Step{{Do: blocks.DoRevokeRole, Role: "Trusted"}}
		},
		func(p *blocks.Program) {
			p.Stages = []blocks.Decision{{Deciders: &blocks.Deciders{Who: blocks.ByRole, Role: "Council"}, How: &blocks.How{Method: blocks.Majority}, Deadline: &blocks.Deadline{After: "1d"}}}
		},
		func(p *blocks.Program) {
			p.Stages = []blocks.Decision{{Deciders: &blocks.Deciders{Who: blocks.ByJury, Size: 5}, How: &blocks.How{Method: blocks.Consensus, MinAgree: 3},
				Deadline: &blocks.Deadline{After: "3d"}, Tell: &blocks.Tell{Open: "Stage two", RemindBefore: "1d"}}}
			p.OnPass = []blocks.Step{{Do: blocks.DoPost, Text: "no execute"}}
		},
	}
	var out []*blocks.Program
	n := 0
	for _, d := range deciders {
		for _, h := range methods {
			for _, q := range quorums {
				for _, dl := range deadlines {
					d, h := d, h
					p := &blocks.Program{Version: blocks.Version, When: &blocks.When{ActionTypes: []string{"test.post_message"}},
						Decision: blocks.Decision{Deciders: &d, How: &h, Quorum: q}}
					if dl != nil {
						c := *dl
						p.Deadline = &c
					}
					extras[n%len(extras)](p)
					n++
					out = append(out, p)
				}
			}
		}
	}
	for _, d := range deciders {
		for _, m := range []string{blocks.RankedChoice, blocks.Approval} {
			for _, q := range quorums {
				for _, tell := range []*blocks.Tell{nil, {Open: "Choose"}, {RemindBefore: "12h", Private: true}} {
					d := d
					out = append(out, &blocks.Program{Version: blocks.Version, Kind: models.KindConstitution,
						When: &blocks.When{ActionTypes: []string{engine.TypeElection}},
						Decision: blocks.Decision{Deciders: &d, How: &blocks.How{Method: m}, Quorum: q,
							Deadline: &blocks.Deadline{After: "2d"}, Tell: tell}})
				}
			}
		}
	}
	return out
}

// TestEveryCombinationCompilesAndIsDetected: each combination the form allows either is
// refused with field messages, or compiles to code that type-checks, states its deadline and
// denominator in the rule, and is recognised again by Detect.
func TestEveryCombinationCompilesAndIsDetected(t *testing.T) {
	var valid, refused int
	for i, p := range combinations() {
		out, err := blocks.CompilePolicy(p, blocks.Names{})
		if err != nil {
			if len(models.FieldErrors(err)) == 0 || !errors.Is(err, models.ErrInvalid) {
				t.Fatalf("combination %d: %v is not a validation error", i, err)
			}
			refused++
			continue
		}
		valid++
		srcs := append([]engine.Sources{out.Sources}, stageSources(out)...)
		for _, s := range srcs {
			if err := engine.CheckPolicy(s); err != nil {
				t.Fatalf("combination %d does not type-check: %v", i, err)
			}
		}
		h, d := p.How, p.Deadline
		switch {
		case d != nil && d.After != "" && !strings.Contains(out.Rule, "after "):
			t.Errorf("combination %d: the rule does not state the deadline: %s", i, out.Rule)
		case (d == nil || d.After == "") && !strings.Contains(out.Rule, "There is no deadline"):
			t.Errorf("combination %d: the rule does not say there is no deadline: %s", i, out.Rule)
		case h.Of == blocks.OfEligible && !strings.Contains(out.Rule, "of all the voters") && !strings.Contains(out.Rule, "every voter votes yes"):
			t.Errorf("combination %d: the rule does not say it counts every voter: %s", i, out.Rule)
		case h.Method == blocks.Majority && h.Of == "" && !strings.Contains(out.Rule, "a tie is not enough"):
			t.Errorf("combination %d: the rule does not say how a tie ends: %s", i, out.Rule)
		}
		got, ok := blocks.Detect(fields(out), stageSources(out)...)
		if !ok {
			t.Fatalf("combination %d is not detected:\n%s", i, render(out))
		}
		// The code is identical; the rule may name a duration in another unit (an election's
		// "2d" is written duration("48h") in code and read back as 48 hours).
		again, err := blocks.CompilePolicy(got, blocks.Names{})
		if err != nil || !sameCode(again, out) {
			t.Fatalf("combination %d detected as a different program (%v):\n%s\nvs\n%s", i, err, render(again), render(out))
		}
	}
	t.Logf("%d combinations compile, %d are refused", valid, refused)
	if valid < 900 || refused == 0 {
		t.Fatalf("%d valid, %d refused: the sweep lost its coverage", valid, refused)
	}
}

func sameCode(a, b *blocks.Output) bool {
	if a.Sources != b.Sources || len(a.Stages) != len(b.Stages) {
		return false
	}
	for i := range a.Stages {
		if a.Stages[i].Sources != b.Stages[i].Sources {
			return false
		}
	}
	return true
}

func stageSources(out *blocks.Output) []engine.Sources {
	var s []engine.Sources
	for _, st := range out.Stages {
		s = append(s, st.Sources)
	}
	return s
}

func fields(out *blocks.Output) models.PolicyFields {
	s := out.Sources
	return models.PolicyFields{Kind: out.Kind, ActionTypes: out.ActionTypes, FilterSrc: s.Filter, InitSrc: s.Initialize,
		NotifySrc: s.Notify, CheckSrc: s.Check, PassSrc: s.Pass, FailSrc: s.Fail}
}

func TestDetect(t *testing.T) {
	p := examples()["everything"]
	out, err := blocks.CompilePolicy(p, blocks.Names{})
	if err != nil {
		t.Fatal(err)
	}
	f := fields(out)
	if _, ok := blocks.Detect(f, stageSources(out)...); !ok {
		t.Fatal("the compiled code is not detected")
	}
	crlf := f
	crlf.CheckSrc = strings.ReplaceAll(f.CheckSrc, "\n", "\r\n") + "\r\n"
	if _, ok := blocks.Detect(crlf, stageSources(out)...); !ok {
		t.Error("a browser's line endings detach the code")
	}
	edits := map[string]func(f *models.PolicyFields){
		"arithmetic added":        func(f *models.PolicyFields) { f.CheckSrc = strings.Replace(f.CheckSrc, "/ 2)", "/ 2) + 1", 1) },
		"an added statement":      func(f *models.PolicyFields) { f.PassSrc += ";\npost(\"extra\")" },
		"a comment":               func(f *models.PolicyFields) { f.NotifySrc = "// hi\n" + f.NotifySrc },
		"reordered steps":         func(f *models.PolicyFields) { f.FailSrc = "revoke_role(12, \"Newcomer\");\npost(\"Not approved.\")" },
		"another filter":          func(f *models.PolicyFields) { f.FilterSrc = "action.channel == \"C01\" || true" },
		"hand-written check":      func(f *models.PolicyFields) { f.CheckSrc = "yes() > no() ? PASSED : PENDING" },
		"broken code":             func(f *models.PolicyFields) { f.CheckSrc = "supermajority(((" },
		"a different action type": func(f *models.PolicyFields) { f.Kind = models.KindConstitution },
	}
	for name, edit := range edits {
		t.Run(name, func(t *testing.T) {
			g := f
			edit(&g)
			if _, ok := blocks.Detect(g, stageSources(out)...); ok {
				t.Fatal("edited code is still attached to its blocks")
			}
		})
	}
	// A number changed in the code is still the shape of a program: it re-attaches with it.
	changed := f
	changed.CheckSrc = strings.Replace(f.CheckSrc, "supermajority(2, 3,", "supermajority(3, 4,", 1)
	if got, ok := blocks.Detect(changed, stageSources(out)...); !ok || got.How.Fraction != "3/4" {
		t.Errorf("code with another fraction: detected %v, fraction %v", ok, got)
	}
	if _, ok := blocks.Detect(f); ok {
		t.Error("a bundle detected without its later stage")
	}
	if _, ok := blocks.Detect(models.PolicyFields{Kind: models.KindPlatform, CheckSrc: "PASSED"}); ok {
		t.Error("hand-written code detected")
	}
}
