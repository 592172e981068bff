package engine_test

import (
	"strings"
	"testing"

	"policykit/engine"
	"policykit/models"
)

func TestCompileErrors(t *testing.T) {
	tests := []struct {
		name      string
		src       engine.Sources
		stage     string
		wantInMsg string
	}{
		{"unknown name", engine.Sources{Check: "jurry"}, "check", "unknown name jurry"},
		{"syntax error with position", engine.Sources{Check: "PASSED +\n  ("}, "check", "line 2"},
		{"filter must be boolean", engine.Sources{Filter: `"yes"`}, "filter", "expected bool"},
		{"check must be text", engine.Sources{Check: "42"}, "check", "string"},
		{"now() is disabled", engine.Sources{Check: "now() > now ? PASSED : PENDING"}, "check", "not callable"},
		{"wrong argument type", engine.Sources{Initialize: `with_role(3)`}, "initialize", "argument"},
		{"too long", engine.Sources{Check: strings.Repeat("1 + ", 6000) + "1"}, "check", "longer than"},
		{"too many nodes", engine.Sources{Check: strings.Repeat("1 + ", 2500) + "1 > 0 ? PASSED : FAILED"}, "check", "nodes"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := engine.CheckPolicy(tt.src)
			msg := models.FieldErrors(err)[tt.stage]
			if msg == "" || !strings.Contains(msg, tt.wantInMsg) {
				t.Fatalf("error for %s = %q (all: %v), want it to mention %q", tt.stage, msg, err, tt.wantInMsg)
			}
		})
	}
	good := engine.Sources{
		Filter:     `action.type == "test.rename_channel" && action.initiator.name != ""`,
		Initialize: `set("jury", sample(members(), 3))`,
		Notify:     `start_vote("yes_no", {among: get("jury")}); notify(get("jury"), "Please deliberate")`,
		Check:      `let jury = get("jury"); if yes(jury) >= 2 { PASSED } else if proposal.age > duration("48h") { FAILED } else { PENDING }`,
		Pass:       `execute(); post("Renamed by jury")`,
		Fail:       `post("The jury said no")`,
	}
	if err := engine.CheckPolicy(good); err != nil {
		t.Fatalf("the seed's jury policy does not compile: %v", err)
	}
}

// FuzzCompile feeds arbitrary source to the policy compiler: it must return a clean error
// or a program, never panic.
func FuzzCompile(f *testing.F) {
	for _, s := range []string{"PASSED", "yes() > 2 ? PASSED : PENDING", "let x = 1; x", "if true { 1 } else { 2 }",
		`sample(members(), 3)`, "{a: 1}.a", "1..3 | map(# * 2)", "((((", `"\u0000"`, "now()"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, src string) {
		for _, stage := range []string{"filter", "check", "pass"} {
			var s engine.Sources
			switch stage {
			case "filter":
				s.Filter = src
			case "check":
				s.Check = src
			default:
				s.Pass = src
			}
			_ = engine.CheckPolicy(s)
		}
	})
}
