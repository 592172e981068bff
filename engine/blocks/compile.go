package blocks

import (
	"fmt"
	"strconv"
	"strings"

	"policykit/engine"
)

// Output is a compiled block program: the policy's fields, and for a policy bundle the
// later stages, each to be saved as a policy of its own (inactive, so it never governs an
// action alone) whose id goes into the first policy's stages list.
type Output struct {
	Kind        string
	ActionTypes []string
	Sources     engine.Sources
	// Rule is the plain-language rule of the whole program, frozen into each proposal.
	Rule   string
	Stages []StageOutput
}

// StageOutput is one later stage of a policy bundle.
type StageOutput struct {
	Sources engine.Sources
	Rule    string // the rule from this stage on
}

// Names are display names the rule uses for the members a program names by id. A member
// without a name is written "member #12".
type Names struct {
	Members map[int64]string
	// Types maps action types to their labels ("Rename a channel"), for the rule to say what
	// the policy covers (engine.RuleCovering).
	Types map[string]string
}

// Compile compiles a block program to the six stage sources of its (first) policy and the
// plain-language rule. See CompilePolicy for bundles and names.
func Compile(p *Program) (engine.Sources, string, error) {
	out, err := CompilePolicy(p, Names{})
	if err != nil {
		return engine.Sources{}, "", err
	}
	return out.Sources, out.Rule, nil
}

// CompilePolicy compiles a block program. It refuses what Check refuses (a
// *models.ValidationError). Every value taken from the program enters the code as a quoted
// string literal (strconv.Quote, which expr reads back exactly), an integer printed by
// strconv, or one of a fixed set of words chosen by a switch — never as raw text.
func CompilePolicy(p *Program, names Names) (*Output, error) {
	if err := p.Check(); err != nil {
		return nil, err
	}
	out := &Output{Kind: p.kind(), ActionTypes: []string{}}
	if p.When != nil && len(p.When.ActionTypes) > 0 {
		out.ActionTypes = append(out.ActionTypes, p.When.ActionTypes...)
	}
	ds := p.decisions()
	for i, d := range ds {
		last := i == len(ds)-1
		src := engine.Sources{
			Initialize: initializeCode(d),
			Notify:     notifyCode(d),
			Check:      checkCode(p, d),
			Fail:       stepsCode(p.OnFail, d),
		}
		if last {
			src.Pass = stepsCode(p.onPass(), d)
		}
		if i == 0 {
			src.Filter = filterCode(p.When)
		}
		if err := engine.CheckPolicy(src); err != nil {
			return nil, fmt.Errorf("blocks: the generated code of stage %d does not compile (a bug in the compiler): %w", i+1, err)
		}
		rule := ruleText(p, i, names)
		if i == 0 {
			out.Sources, out.Rule = src, rule
		} else {
			out.Stages = append(out.Stages, StageOutput{Sources: src, Rule: rule})
		}
	}
	return out, nil
}

// lit writes s as an expr string literal. Check has made sure s is valid UTF-8, the one
// case where strconv.Quote's escapes would not read back as the same string.
func lit(s string) string { return strconv.Quote(s) }

func itoa(n int) string { return strconv.Itoa(n) }

// goDuration writes minutes as a duration expr's duration() parses (no days in Go).
func goDuration(minutes int) string {
	if minutes%60 == 0 {
		return strconv.Itoa(minutes/60) + "h"
	}
	return strconv.Itoa(minutes) + "m"
}

func minutes(d Duration) int {
	n, _ := d.Minutes() // validated by Check
	return n
}

func filterCode(w *When) string {
	if w == nil {
		return ""
	}
	var terms []string
	switch len(w.Channels) {
	case 0:
	case 1:
		terms = append(terms, "action.channel == "+lit(w.Channels[0]))
	default:
		quoted := make([]string, len(w.Channels))
		for i, c := range w.Channels {
			quoted[i] = lit(c)
		}
		terms = append(terms, "action.channel in ["+strings.Join(quoted, ", ")+"]")
	}
	if w.InitiatorHasRole != "" {
		terms = append(terms, "has_role(action.initiator, "+lit(w.InitiatorHasRole)+")")
	}
	if w.InitiatorLacksRole != "" {
		terms = append(terms, "!has_role(action.initiator, "+lit(w.InitiatorLacksRole)+")")
	}
	if w.TextContains != "" {
		terms = append(terms, "action.text contains "+lit(w.TextContains))
	}
	if w.TextMatches != "" {
		terms = append(terms, "action.text matches "+lit(w.TextMatches))
	}
	return strings.Join(terms, "\n  && ")
}

// initializeCode draws a jury once, when the proposal opens; sample is seeded by the
// proposal, so the draw can be reproduced. A pool smaller than the jury gives every member
// of the pool (Validate warns about it when the community is known).
func initializeCode(d Decision) string {
	if d.Deciders == nil || d.Deciders.Who != ByJury {
		return ""
	}
	pool := "members()"
	if d.Deciders.Role != "" {
		pool = "with_role(" + lit(d.Deciders.Role) + ")"
	}
	return "let pool = " + pool + ";\nset(\"jury\", sample(pool, min(" + itoa(d.Deciders.Size) + ", len(pool))))"
}

// among is the list of deciders as code, "" for every member (the engine's default).
func among(d *Deciders) string {
	switch d.Who {
	case ByRole:
		return "with_role(" + lit(d.Role) + ")"
	case ByJury:
		return `get("jury")`
	case ByMember:
		return "[" + strconv.FormatInt(d.Member, 10) + "]"
	}
	return ""
}

// audience is whom a message to the deciders goes to.
func audience(d *Deciders) string {
	if a := among(d); a != "" {
		return a
	}
	return "members()"
}

func notifyCode(d Decision) string {
	if d.How == nil {
		return ""
	}
	var opts []string
	if a := among(d.Deciders); a != "" {
		opts = append(opts, "among: "+a)
	}
	if d.Tell != nil && d.Tell.Private {
		opts = append(opts, "dm: true")
	}
	call := "start_vote(" + lit(ballotKind(d.How.Method))
	if len(opts) > 0 {
		call += ", {" + strings.Join(opts, ", ") + "}"
	}
	lines := []string{call + ")"}
	if d.Tell != nil && d.Tell.Open != "" {
		lines = append(lines, "notify("+audience(d.Deciders)+", "+lit(d.Tell.Open)+")")
	}
	return strings.Join(lines, ";\n")
}

// checkCode is the check stage: skip roles pass at once; a reminder goes out once; the vote
// method decides, held back by the cool-off. The vote methods count the ballot's electorate
// (eligible(): the deciders, frozen when the vote opened), so no "among" is needed.
func checkCode(p *Program, d Decision) string {
	if d.How == nil {
		return ""
	}
	var stmts []string
	if r := reminderCode(d); r != "" {
		stmts = append(stmts, r)
	}
	switch {
	case isElection(d.How.Method):
		stmts = append(stmts, electionCode(d))
	case d.Deadline != nil && d.Deadline.CoolOff != "":
		stmts = append(stmts, "let result = "+methodCode(d)+";\n"+coolOffCode(d.Deadline.CoolOff))
	default:
		stmts = append(stmts, methodCode(d))
	}
	body := strings.Join(stmts, ";\n")
	if p.Skip == nil {
		return body
	}
	conds := make([]string, len(p.Skip.Roles))
	for i, r := range p.Skip.Roles {
		conds[i] = "has_role(action.initiator, " + lit(r) + ")"
	}
	cond := strings.Join(conds, " || ")
	if len(stmts) == 1 && !strings.Contains(body, "\n") {
		return cond + " ? PASSED : " + body
	}
	return "if " + cond + " {\n  PASSED\n} else {\n" + indent(body) + "\n}"
}

func indent(s string) string {
	return "  " + strings.ReplaceAll(s, "\n", "\n  ")
}

// methodCode is the call of the engine's vote method with its options.
func methodCode(d Decision) string {
	h := d.How
	var opts []string
	if h.Of == OfEligible {
		opts = append(opts, `of: "eligible"`)
	}
	if d.Quorum != nil {
		opts = append(opts, "quorum: "+quorumCode(d.Quorum))
	}
	if d.Deadline != nil && d.Deadline.After != "" {
		opts = append(opts, "deadline: "+lit(string(d.Deadline.After)))
		if t := d.Deadline.Then; t == ThenPass || t == ThenFail {
			opts = append(opts, "at_deadline: "+lit(t))
		}
	}
	o := ""
	if len(opts) > 0 {
		o = "{" + strings.Join(opts, ", ") + "}"
	}
	args := func(first ...string) string {
		if o != "" {
			first = append(first, o)
		}
		return strings.Join(first, ", ")
	}
	switch h.Method {
	case Majority:
		return "majority(" + args() + ")"
	case Supermajority:
		num, den, _ := h.Fraction.Parts()
		return "supermajority(" + args(itoa(num), itoa(den)) + ")"
	case Unanimity:
		return "unanimity(" + args() + ")"
	case Threshold:
		yes := itoa(h.Yes)
		if d.Deciders != nil && d.Deciders.Who == ByJury && h.Yes > 1 {
			// A jury drawn smaller than the threshold (a small community) passes with every
			// juror's yes, as the rule says; an empty one never passes.
			yes = "max(1, min(" + yes + `, len(get("jury"))))`
		}
		call := "threshold(" + args(yes) + ")"
		if h.FailAtNo > 0 {
			return "no() >= " + itoa(h.FailAtNo) + " ? FAILED : " + call
		}
		return call
	case Consensus:
		return "consensus(" + args(itoa(h.MinAgree)) + ")"
	case LazyConsensus:
		return "lazy_consensus(" + args(itoa(h.Objections)) + ")"
	}
	panic("blocks: methodCode of " + h.Method) // Check refuses other methods
}

// quorumCode is a number of ballots; a share is rounded up from the eligible deciders.
func quorumCode(q *Quorum) string {
	if q.Share == "" {
		return itoa(q.Votes)
	}
	num, den, _ := q.Share.Parts()
	if num == 1 {
		return "ceil(len(eligible()) / " + itoa(den) + ")"
	}
	return "ceil(len(eligible()) * " + itoa(num) + " / " + itoa(den) + ")"
}

// electionCode closes the vote when every voter has voted or at the deadline, then passes
// with a winner. voters() is checked first so the winner is never asked for before the
// ballot has votes (the first check runs before the ballot opens).
func electionCode(d Decision) string {
	winner := "ranked_choice_winner()"
	if d.How.Method == Approval {
		winner = "approval_winner()"
	}
	need := "1"
	if d.Quorum != nil {
		need = quorumCode(d.Quorum)
	}
	return "let closed = voters() == len(eligible()) || proposal.age >= duration(" + lit(goDuration(minutes(d.Deadline.After))) + ");\n" +
		"if !closed {\n  PENDING\n} else if voters() >= " + need + " && " + winner + " != \"\" {\n  PASSED\n} else {\n  FAILED\n}"
}

// coolOffCode holds a pass back: the first time the method passes, the time is noted and
// the proposal waits; it passes once the cool-off is over and the method still passes.
func coolOffCode(c Duration) string {
	return "if result == PASSED && get(\"passed_at\") == nil {\n" +
		"  set(\"passed_at\", now);\n  PENDING\n" +
		"} else if result == PASSED && now - date(get(\"passed_at\")) < duration(" + lit(goDuration(minutes(c))) + ") {\n" +
		"  PENDING\n} else {\n  result\n}"
}

// defaultReminder is sent when a reminder has no text of its own.
func defaultReminder(before Duration) string {
	return "Reminder: this vote closes in " + humanDuration(minutes(before)) + " and you have not voted yet."
}

// reminderCode reminds the deciders who have not voted, once, when the deadline is near.
func reminderCode(d Decision) string {
	if d.Tell == nil || d.Tell.RemindBefore == "" {
		return ""
	}
	at := minutes(d.Deadline.After) - minutes(d.Tell.RemindBefore)
	text := d.Tell.Remind
	if text == "" {
		text = defaultReminder(d.Tell.RemindBefore)
	}
	return "if get(\"reminded\") == nil && proposal.age >= duration(" + lit(goDuration(at)) + ") {\n" +
		"  set(\"reminded\", true);\n" +
		"  notify(filter(eligible(), voters(#) == 0), " + lit(text) + ")\n" +
		"} else {\n  false\n}"
}

// stepsCode is a pass or fail stage. An election carries out its winner.
func stepsCode(steps []Step, d Decision) string {
	lines := make([]string, 0, len(steps))
	for _, s := range steps {
		switch s.Do {
		case DoExecute:
			switch {
			case d.How != nil && d.How.Method == RankedChoice:
				lines = append(lines, "execute(ranked_choice_winner())")
			case d.How != nil && d.How.Method == Approval:
				lines = append(lines, "execute(approval_winner())")
			default:
				lines = append(lines, "execute()")
			}
		case DoPost:
			lines = append(lines, "post("+lit(s.Text)+")")
		case DoGrantRole, DoRevokeRole:
			who := "action.initiator"
			if s.Member != 0 {
				who = strconv.FormatInt(s.Member, 10)
			}
			fn := "grant_role"
			if s.Do == DoRevokeRole {
				fn = "revoke_role"
			}
			lines = append(lines, fn+"("+who+", "+lit(s.Role)+")")
		}
	}
	return strings.Join(lines, ";\n")
}
