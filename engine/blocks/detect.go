package blocks

import (
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/expr-lang/expr/ast"
	"github.com/expr-lang/expr/parser"

	"policykit/engine"
	"policykit/models"
)

// Detect recognises policy code that still has the exact shape a block program compiles
// to, so the builder can offer to re-attach the blocks. It reads a candidate program back
// from the code (the kind and action types come from f, the later stages of a policy
// bundle from stages, in order), compiles it, and accepts it only when every stage's code is
// identical to the given code, up to line endings and surrounding blank space. Any other
// code — hand-written, or edited in any way that changes it — gives false.
func Detect(f models.PolicyFields, stages ...engine.Sources) (*Program, bool) {
	p, err := decompile(f, stages)
	if err != nil {
		return nil, false
	}
	if !compilesTo(p, f, stages) {
		return nil, false
	}
	return p, true
}

func sameSources(a, b engine.Sources) bool {
	norm := func(s string) string { return strings.TrimSpace(strings.ReplaceAll(s, "\r\n", "\n")) }
	return norm(a.Filter) == norm(b.Filter) && norm(a.Initialize) == norm(b.Initialize) &&
		norm(a.Notify) == norm(b.Notify) && norm(a.Check) == norm(b.Check) &&
		norm(a.Pass) == norm(b.Pass) && norm(a.Fail) == norm(b.Fail)
}

// errShape is any code the decompiler does not recognise.
var errShape = errors.New("not the shape of a block program")

// decompile reads a candidate block program from policy code. It only has to be right for
// code the compiler wrote: Detect recompiles the candidate and compares.
func decompile(f models.PolicyFields, stages []engine.Sources) (p *Program, err error) {
	defer func() {
		if r := recover(); r != nil { // expr's parser and walker can panic on odd input
			p, err = nil, errShape
		}
	}()
	p = &Program{Version: Version, Kind: f.Kind}
	if len(f.ActionTypes) > 0 {
		p.When = &When{ActionTypes: append([]string(nil), f.ActionTypes...)}
	}
	first := engine.SourcesOf(&f)
	if err := readFilter(p, first.Filter); err != nil {
		return nil, err
	}
	all := append([]engine.Sources{first}, stages...)
	for i, src := range all {
		d, skip, err := readDecision(src)
		if err != nil {
			return nil, err
		}
		if i == 0 {
			p.Decision = d
			if len(skip) > 0 {
				p.Skip = &Skip{Roles: skip}
			}
		} else {
			p.Stages = append(p.Stages, d)
		}
	}
	last := all[len(all)-1]
	if p.OnPass, err = readSteps(last.Pass); err != nil {
		return nil, err
	}
	if p.OnFail, err = readSteps(first.Fail); err != nil {
		return nil, err
	}
	return p, nil
}

func parse(src string) (ast.Node, error) {
	src = strings.TrimSpace(src)
	if src == "" {
		return nil, nil
	}
	tree, err := parser.Parse(src)
	if err != nil {
		return nil, errShape
	}
	return tree.Node, nil
}

// callOf returns the name and arguments of a function call (expr parses some env functions,
// such as get, as builtins).
func callOf(n ast.Node) (string, []ast.Node) {
	switch x := n.(type) {
	case *ast.CallNode:
		if id, ok := x.Callee.(*ast.IdentifierNode); ok {
			return id.Value, x.Arguments
		}
	case *ast.BuiltinNode:
		return x.Name, x.Arguments
	}
	return "", nil
}

func strOf(n ast.Node) (string, bool) {
	s, ok := n.(*ast.StringNode)
	if !ok {
		return "", false
	}
	return s.Value, true
}

// juryCapped reads k from max(1, min(k, len(get("jury")))), a threshold a jury drawn
// smaller than k can still meet (the recompilation checks the rest of its shape).
func juryCapped(n ast.Node) int {
	if name, args := callOf(n); name == "max" && len(args) == 2 {
		if inner, iargs := callOf(args[1]); inner == "min" && len(iargs) == 2 {
			k, _ := intOf(iargs[0])
			return k
		}
	}
	return 0
}

func intOf(n ast.Node) (int, bool) {
	i, ok := n.(*ast.IntegerNode)
	if !ok {
		return 0, false
	}
	return i.Value, true
}

// isMember tells whether n is obj.prop, as in action.channel.
func isMember(n ast.Node, obj, prop string) bool {
	m, ok := n.(*ast.MemberNode)
	if !ok {
		return false
	}
	id, ok := m.Node.(*ast.IdentifierNode)
	p, _ := strOf(m.Property)
	return ok && id.Value == obj && p == prop
}

// visit calls fn on every node under n (children first).
func visit(n ast.Node, fn func(ast.Node)) {
	if n == nil {
		return
	}
	ast.Walk(&n, visitor(fn))
}

type visitor func(ast.Node)

func (v visitor) Visit(n *ast.Node) { v(*n) }

// sequence flattens a; b; c into its statements.
func sequence(n ast.Node) []ast.Node {
	if s, ok := n.(*ast.SequenceNode); ok {
		return s.Nodes
	}
	return []ast.Node{n}
}

func readFilter(p *Program, src string) error {
	root, err := parse(src)
	if err != nil || root == nil {
		return err
	}
	w := p.When
	if w == nil {
		w = &When{}
		p.When = w
	}
	var terms []ast.Node
	var flatten func(ast.Node)
	flatten = func(n ast.Node) {
		if b, ok := n.(*ast.BinaryNode); ok && b.Operator == "&&" {
			flatten(b.Left)
			flatten(b.Right)
			return
		}
		terms = append(terms, n)
	}
	flatten(root)
	for _, t := range terms {
		switch x := t.(type) {
		case *ast.BinaryNode:
			switch {
			case x.Operator == "==" && isMember(x.Left, "action", "channel"):
				c, ok := strOf(x.Right)
				if !ok {
					return errShape
				}
				w.Channels = []string{c}
			case x.Operator == "in" && isMember(x.Left, "action", "channel"):
				arr, ok := x.Right.(*ast.ArrayNode)
				if !ok {
					return errShape
				}
				for _, e := range arr.Nodes {
					c, ok := strOf(e)
					if !ok {
						return errShape
					}
					w.Channels = append(w.Channels, c)
				}
			case x.Operator == "contains" && isMember(x.Left, "action", "text"):
				w.TextContains, _ = strOf(x.Right)
			case x.Operator == "matches" && isMember(x.Left, "action", "text"):
				w.TextMatches, _ = strOf(x.Right)
			default:
				return errShape
			}
		case *ast.UnaryNode:
			if x.Operator != "!" {
				return errShape
			}
			w.InitiatorLacksRole = initiatorRole(x.Node)
		default:
			w.InitiatorHasRole = initiatorRole(t)
		}
	}
	return nil
}

// initiatorRole reads has_role(action.initiator, "R").
func initiatorRole(n ast.Node) string {
	name, args := callOf(n)
	if name != "has_role" || len(args) != 2 || !isMember(args[0], "action", "initiator") {
		return ""
	}
	r, _ := strOf(args[1])
	return r
}

// readDecision reads one stage's deciders, method and options from its initialize, notify
// and check code, and the skip roles of its check.
func readDecision(src engine.Sources) (Decision, []string, error) {
	var d Decision
	check, err := parse(src.Check)
	if err != nil {
		return d, nil, err
	}
	notify, err := parse(src.Notify)
	if err != nil {
		return d, nil, err
	}
	init, err := parse(src.Initialize)
	if err != nil {
		return d, nil, err
	}
	if check == nil {
		return d, nil, nil // everything passes
	}
	d.Deciders = &Deciders{Who: Everyone}
	d.How = &How{}
	if err := readNotify(&d, notify); err != nil {
		return d, nil, err
	}
	if d.Deciders.Who == ByJury {
		readJury(d.Deciders, init)
	}
	skip := readCheck(&d, check)
	if d.How.Method == "" {
		return d, nil, errShape
	}
	return d, skip, nil
}

func readNotify(d *Decision, n ast.Node) error {
	if n == nil {
		return errShape
	}
	for _, stmt := range sequence(n) {
		name, args := callOf(stmt)
		switch {
		case name == "start_vote" && len(args) >= 1:
			kind, _ := strOf(args[0])
			switch kind {
			case "consensus":
				d.How.Method = Consensus
			case "ranking":
				d.How.Method = RankedChoice
			case "approval":
				d.How.Method = Approval
			}
			if len(args) < 2 {
				continue
			}
			m, ok := args[1].(*ast.MapNode)
			if !ok {
				return errShape
			}
			for _, pair := range m.Pairs {
				kv := pair.(*ast.PairNode)
				key, _ := strOf(kv.Key)
				switch key {
				case "among":
					readAmong(d.Deciders, kv.Value)
				case "dm":
					tell(d).Private = true
				}
			}
		case name == "notify" && len(args) == 2:
			tell(d).Open, _ = strOf(args[1])
		default:
			return errShape
		}
	}
	return nil
}

func tell(d *Decision) *Tell {
	if d.Tell == nil {
		d.Tell = &Tell{}
	}
	return d.Tell
}

func readAmong(dc *Deciders, n ast.Node) {
	if arr, ok := n.(*ast.ArrayNode); ok && len(arr.Nodes) == 1 {
		if id, ok := intOf(arr.Nodes[0]); ok {
			dc.Who, dc.Member = ByMember, int64(id)
		}
		return
	}
	name, args := callOf(n)
	switch {
	case name == "with_role" && len(args) == 1:
		dc.Who = ByRole
		dc.Role, _ = strOf(args[0])
	case name == "get":
		dc.Who = ByJury
	}
}

// readJury reads let pool = with_role("R"); set("jury", sample(pool, min(k, len(pool)))).
func readJury(dc *Deciders, n ast.Node) {
	visit(n, func(x ast.Node) {
		name, args := callOf(x)
		switch {
		case name == "with_role" && len(args) == 1:
			dc.Role, _ = strOf(args[0])
		case name == "min" && len(args) == 2:
			dc.Size, _ = intOf(args[0])
		}
	})
}

// readCheck reads the method call and its options, the reminder, the cool-off, an
// election's deadline and quorum, and returns the skip roles.
func readCheck(d *Decision, root ast.Node) []string {
	var skip []string
	reminderAt := map[ast.Node]bool{}
	visit(root, func(n ast.Node) {
		c, ok := n.(*ast.ConditionalNode)
		if !ok || !mentionsGet(c.Cond, "reminded") {
			return
		}
		visit(c.Cond, func(x ast.Node) {
			if name, args := callOf(x); name == "duration" && len(args) == 1 {
				reminderAt[x] = true
				at, _ := strOf(args[0])
				tell(d).RemindBefore = Duration(at) // made relative to the deadline below
			}
		})
		visit(c.Exp1, func(x ast.Node) {
			if name, args := callOf(x); name == "notify" && len(args) == 2 {
				tell(d).Remind, _ = strOf(args[1])
			}
		})
	})
	visit(root, func(n ast.Node) {
		name, args := callOf(n)
		switch name {
		case "has_role":
			if r := initiatorRole(n); r != "" {
				skip = append(skip, r)
			}
		case "majority", "unanimity":
			d.How.Method = name
			readOptions(d, args)
		case "supermajority":
			if len(args) >= 2 {
				num, _ := intOf(args[0])
				den, _ := intOf(args[1])
				d.How.Method, d.How.Fraction = Supermajority, Fraction(fmt.Sprintf("%d/%d", num, den))
				readOptions(d, args[2:])
			}
		case "threshold", "consensus", "lazy_consensus":
			if len(args) >= 1 {
				k, ok := intOf(args[0])
				if !ok {
					k = juryCapped(args[0])
				}
				d.How.Method = name
				switch name {
				case "threshold":
					d.How.Yes = k
				case "consensus":
					d.How.MinAgree = k
				default:
					d.How.Objections = k
				}
				readOptions(d, args[1:])
			}
		case "ranked_choice_winner":
			d.How.Method = RankedChoice
		case "approval_winner":
			d.How.Method = Approval
		}
		b, ok := n.(*ast.BinaryNode)
		if !ok {
			return
		}
		lname, _ := callOf(b.Left)
		rname, rargs := callOf(b.Right)
		switch {
		case b.Operator == ">=" && lname == "no":
			d.How.FailAtNo, _ = intOf(b.Right)
		case b.Operator == ">=" && lname == "voters": // an election's quorum
			if q := readQuorum(b.Right); q != nil && (q.Share != "" || q.Votes != 1) {
				d.Quorum = q
			}
		case b.Operator == ">=" && isMember(b.Left, "proposal", "age") && rname == "duration" && !reminderAt[b.Right] && len(rargs) == 1:
			after, _ := strOf(rargs[0])
			deadline(d).After = Duration(after)
		case b.Operator == "<" && rname == "duration" && len(rargs) == 1: // the cool-off
			c, _ := strOf(rargs[0])
			deadline(d).CoolOff = Duration(c)
		}
	})
	if t := d.Tell; t != nil && t.RemindBefore != "" && d.Deadline != nil {
		at, err1 := goMinutes(string(t.RemindBefore))
		after, err2 := d.Deadline.After.Minutes()
		if err1 != nil || err2 != nil || after <= at {
			t.RemindBefore = ""
		} else {
			t.RemindBefore = canonicalDuration(after - at)
		}
		if t.Remind == defaultReminder(t.RemindBefore) {
			t.Remind = ""
		}
	}
	return skip
}

func deadline(d *Decision) *Deadline {
	if d.Deadline == nil {
		d.Deadline = &Deadline{}
	}
	return d.Deadline
}

func mentionsGet(n ast.Node, key string) bool {
	found := false
	visit(n, func(x ast.Node) {
		if name, args := callOf(x); name == "get" && len(args) == 1 {
			if k, _ := strOf(args[0]); k == key {
				found = true
			}
		}
	})
	return found
}

// readOptions reads a vote method's {of, quorum, deadline, at_deadline}.
func readOptions(d *Decision, args []ast.Node) {
	if len(args) != 1 {
		return
	}
	m, ok := args[0].(*ast.MapNode)
	if !ok {
		return
	}
	for _, pair := range m.Pairs {
		kv := pair.(*ast.PairNode)
		key, _ := strOf(kv.Key)
		val, _ := strOf(kv.Value)
		switch key {
		case "of":
			d.How.Of = val
		case "quorum":
			d.Quorum = readQuorum(kv.Value)
		case "deadline":
			deadline(d).After = Duration(val)
		case "at_deadline":
			deadline(d).Then = val
		}
	}
}

// readQuorum reads 3, ceil(len(eligible()) / 2) or ceil(len(eligible()) * 2 / 3).
func readQuorum(n ast.Node) *Quorum {
	if v, ok := intOf(n); ok {
		return &Quorum{Votes: v}
	}
	name, args := callOf(n)
	if name != "ceil" || len(args) != 1 {
		return nil
	}
	div, ok := args[0].(*ast.BinaryNode)
	if !ok || div.Operator != "/" {
		return nil
	}
	den, _ := intOf(div.Right)
	num := 1
	if mul, ok := div.Left.(*ast.BinaryNode); ok && mul.Operator == "*" {
		num, _ = intOf(mul.Right)
	}
	return &Quorum{Share: Fraction(fmt.Sprintf("%d/%d", num, den))}
}

// goMinutes reads the durations goDuration writes ("42h", "90m").
func goMinutes(s string) (int, error) {
	if n, ok := strings.CutSuffix(s, "h"); ok {
		h, err := strconv.Atoi(n)
		return h * 60, err
	}
	if n, ok := strings.CutSuffix(s, "m"); ok {
		return strconv.Atoi(n)
	}
	return 0, errShape
}

// canonicalDuration writes minutes in the largest whole unit.
func canonicalDuration(m int) Duration {
	switch {
	case m%(24*60) == 0:
		return Duration(strconv.Itoa(m/(24*60)) + "d")
	case m%60 == 0:
		return Duration(strconv.Itoa(m/60) + "h")
	}
	return Duration(strconv.Itoa(m) + "m")
}

// readSteps reads execute(), post("…"), grant_role(who, "R"), revoke_role(who, "R").
func readSteps(src string) ([]Step, error) {
	root, err := parse(src)
	if err != nil || root == nil {
		return nil, err
	}
	var steps []Step
	for _, stmt := range sequence(root) {
		name, args := callOf(stmt)
		switch {
		case name == "execute":
			steps = append(steps, Step{Do: DoExecute})
		case name == "post" && len(args) == 1:
			text, _ := strOf(args[0])
			steps = append(steps, Step{Do: DoPost, Text: text})
		case (name == "grant_role" || name == "revoke_role") && len(args) == 2:
			s := Step{Do: DoGrantRole}
			if name == "revoke_role" {
				s.Do = DoRevokeRole
			}
			if id, ok := intOf(args[0]); ok {
				s.Member = int64(id)
			}
			s.Role, _ = strOf(args[1])
			steps = append(steps, s)
		default:
			return nil, errShape
		}
	}
	return steps, nil
}
