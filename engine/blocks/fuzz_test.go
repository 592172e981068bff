package blocks_test

import (
	"errors"
	"fmt"
	"regexp"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/expr-lang/expr/ast"
	"github.com/expr-lang/expr/parser"

	"policykit/engine"
	"policykit/engine/blocks"
	"policykit/models"
)

// FuzzDecode: any bytes give a program or a validation error, never a panic; every program
// Decode accepts compiles, type-checks and is recognised by Detect.
func FuzzDecode(f *testing.F) {
	for _, p := range examples() {
		raw, _ := p.Encode()
		f.Add(raw)
	}
	for _, k := range blocks.Kits() {
		raw, _ := k.Program.Encode()
		f.Add(raw)
	}
	for _, s := range []string{`{}`, `null`, `{"version":1}`, `{"version":1,"stages":[{}]}`, `{"version":1,"how":{"method":"majority"}}`,
		`{"version":1,"deciders":{"who":"jury","size":1e9},"how":{"method":"threshold","yes":-1}}`, `{"version":1,"when":{"channels":["\u0000"]}}`,
		`{"version":1,"deadline":{"after":"99999999999d"}}`, `{"version":1,"quorum":{"share":"1/0"}}`, `[[[[`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		p, err := blocks.Decode(data)
		if err != nil {
			if !errors.Is(err, models.ErrInvalid) || len(models.FieldErrors(err)) == 0 {
				t.Fatalf("Decode error %v is not a validation error", err)
			}
			return
		}
		out, err := blocks.CompilePolicy(p, blocks.Names{})
		if err != nil {
			t.Fatalf("a decoded program does not compile: %v", err)
		}
		if _, ok := blocks.Detect(fields(out), stageSources(out)...); !ok {
			t.Fatalf("not detected:\n%s", render(out))
		}
		_ = blocks.Validate(p, blocks.CommunityFacts{Members: 3, Roles: map[string]int{"A": 1}})
	})
}

// FuzzQuoting: a message goes into code as a string literal that expr reads back exactly.
func FuzzQuoting(f *testing.F) {
	for _, s := range []string{"plain", `"`, `\`, "\n", "\x00", "\u2028", "\U0001F600", "`", "${x}", "\x7f", "é", "\t\r\v\a\b\f", "\ufeff", "\U000E0001"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		p := valid()
		p.OnPass = []blocks.Step{{Do: blocks.DoExecute}, {Do: blocks.DoPost, Text: s}}
		src, _, err := blocks.Compile(p)
		if err != nil {
			if !utf8.ValidString(s) || strings.TrimSpace(s) == "" || utf8.RuneCountInString(s) > 2000 {
				return // refused, as it should be
			}
			t.Fatalf("a valid message %q is refused: %v", s, err)
		}
		tree, err := parser.Parse(src.Pass)
		if err != nil {
			t.Fatalf("%q: %v", s, err)
		}
		seq, ok := tree.Node.(*ast.SequenceNode)
		if !ok || len(seq.Nodes) != 2 {
			t.Fatalf("%q changed the shape of the pass stage: %s", s, src.Pass)
		}
		call, ok := seq.Nodes[1].(*ast.CallNode)
		if !ok || len(call.Arguments) != 1 {
			t.Fatalf("%q: %s", s, src.Pass)
		}
		if got := call.Arguments[0].(*ast.StringNode).Value; got != s {
			t.Fatalf("expr reads %q back as %q", s, got)
		}
	})
}

// FuzzInjection puts arbitrary text in every text field of a program. Whatever it is, the
// code has the same shape — the same nodes, names and numbers — as with harmless text: text
// can only ever be the value of a string literal.
func FuzzInjection(f *testing.F) {
	for _, s := range []string{`") || true || ("`, "\"}; execute(); {\"", "x\n}\nexecute()\n{", `\"`, "# ; let", "a//b", "/* x */", "\u2028)"} {
		f.Add(s, s, s)
	}
	f.Fuzz(func(t *testing.T, role, message, text string) {
		build := func(role, message, text, pattern string) *blocks.Program {
			return &blocks.Program{Version: blocks.Version,
				When: &blocks.When{ActionTypes: []string{"test.post_message"}, Channels: []string{text, "b"}, InitiatorHasRole: role,
					TextContains: text, TextMatches: pattern},
				Skip: &blocks.Skip{Roles: []string{role}},
				Decision: blocks.Decision{Deciders: &blocks.Deciders{Who: blocks.ByJury, Size: 3, Role: role},
					How: &blocks.How{Method: blocks.Majority}, Deadline: &blocks.Deadline{After: "2d", CoolOff: "1h"},
					Tell: &blocks.Tell{Open: message, RemindBefore: "1d", Remind: message}},
				OnPass: []blocks.Step{{Do: blocks.DoExecute}, {Do: blocks.DoPost, Text: message}, {Do: blocks.DoGrantRole, Role: role}},
				OnFail: []blocks.Step{{Do: blocks.DoRevokeRole, Role: role, Member: 4}},
				Stages: []blocks.Decision{{Deciders: &blocks.Deciders{Who: blocks.ByRole, Role: role}, How: &blocks.How{Method: blocks.Unanimity},
					Tell: &blocks.Tell{Open: message}}},
			}
		}
		pattern := regexp.QuoteMeta(text)
		out, err := blocks.CompilePolicy(build(role, message, text, pattern), blocks.Names{})
		if err != nil {
			if !errors.Is(err, models.ErrInvalid) {
				t.Fatalf("not a validation error: %v", err)
			}
			return
		}
		harmless, err := blocks.CompilePolicy(build("R", "m", "t", "t"), blocks.Names{})
		if err != nil {
			t.Fatal(err)
		}
		all := func(o *blocks.Output) []engine.Sources {
			return append([]engine.Sources{o.Sources}, stageSources(o)...)
		}
		got, want := all(out), all(harmless)
		for i := range got {
			for stage, pair := range map[string][2]string{
				"filter": {got[i].Filter, want[i].Filter}, "initialize": {got[i].Initialize, want[i].Initialize},
				"notify": {got[i].Notify, want[i].Notify}, "check": {got[i].Check, want[i].Check},
				"pass": {got[i].Pass, want[i].Pass}, "fail": {got[i].Fail, want[i].Fail},
			} {
				if g, w := shape(t, pair[0]), shape(t, pair[1]); g != w {
					t.Fatalf("stage %d %s: text changed the code's shape:\n%s\nvs\n%s", i+1, stage, pair[0], pair[1])
				}
			}
		}
	})
}

// shape describes a program's syntax tree with every string literal's value left out.
func shape(t *testing.T, src string) string {
	t.Helper()
	if strings.TrimSpace(src) == "" {
		return ""
	}
	tree, err := parser.Parse(src)
	if err != nil {
		t.Fatalf("generated code does not parse: %v\n%s", err, src)
	}
	var b strings.Builder
	node := tree.Node
	ast.Walk(&node, shaper{&b})
	return b.String()
}

type shaper struct{ b *strings.Builder }

func (s shaper) Visit(n *ast.Node) {
	switch x := (*n).(type) {
	case *ast.StringNode:
		s.b.WriteString("S ")
	case *ast.IdentifierNode:
		fmt.Fprintf(s.b, "id:%s ", x.Value)
	case *ast.IntegerNode:
		fmt.Fprintf(s.b, "int:%d ", x.Value)
	case *ast.BinaryNode:
		fmt.Fprintf(s.b, "op:%s ", x.Operator)
	case *ast.UnaryNode:
		fmt.Fprintf(s.b, "op:%s ", x.Operator)
	case *ast.BuiltinNode:
		fmt.Fprintf(s.b, "fn:%s/%d ", x.Name, len(x.Arguments))
	case *ast.VariableDeclaratorNode:
		fmt.Fprintf(s.b, "let:%s ", x.Name)
	default:
		fmt.Fprintf(s.b, "%T ", x)
	}
}
