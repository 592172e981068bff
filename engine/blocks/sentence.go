package blocks

import (
	"fmt"
	"strconv"
	"strings"

	"policykit/engine"
	"policykit/models"
)

// The rule text states exactly what the compiled code does, in the words of engine/votes
// (its doc.go is authoritative): what is counted (votes cast or every eligible voter), ≥ or
// >, ties, abstentions, when the vote closes early and what the deadline does. Tests run the
// compiled code through the engine to hold each statement to its code.

// ruleText is the rule of the policy of stage (0 for the first): that stage and the ones
// after it. The first stage's rule begins with the actions it covers.
func ruleText(p *Program, stage int, names Names) string {
	body := ruleBody(p, stage, names)
	if stage > 0 || p.When == nil || len(p.When.ActionTypes) == 0 {
		return body
	}
	labels := make([]string, len(p.When.ActionTypes))
	for i, t := range p.When.ActionTypes {
		if labels[i] = names.Types[t]; labels[i] == "" {
			labels[i] = "take the action " + quoted(t)
		}
	}
	return engine.RuleCovering(p.kind(), labels, body)
}

func ruleBody(p *Program, stage int, names Names) string {
	var s []string
	ds := p.decisions()
	noun := "action"
	if p.kind() == models.KindConstitution {
		noun = "change"
	}
	if stage == 0 {
		if scope := scopeText(p.When); scope != "" {
			s = append(s, scope)
		}
		if ds[0].How == nil {
			parts := passParts(p, names, ds[0], noun)
			parts[0] = "Every " + noun + " it governs passes at once, without a vote, and " + strings.TrimPrefix(parts[0], "the "+noun+" ")
			return strings.Join(append(s, strings.Join(parts, "; ")+"."), " ")
		}
	} else {
		s = append(s, fmt.Sprintf("This is stage %d of %d: it decides after stage %d passed.", stage+1, len(ds), stage))
	}
	if p.Skip != nil {
		s = append(s, fmt.Sprintf("Members with the role %s act without a vote: their %ss pass at once.", orList(p.Skip.Roles), noun))
	}
	for i := stage; i < len(ds); i++ {
		if i > stage || (len(ds) > 1 && stage == 0) {
			if i == 0 {
				s = append(s, fmt.Sprintf("It is decided in %d stages. Stage 1:", len(ds)))
			} else if i > stage {
				s = append(s, fmt.Sprintf("If stage %d passes, stage %d decides:", i, i+1))
			}
		}
		s = append(s, decisionText(ds[i], names)...)
	}
	if p.kind() == models.KindPlatform {
		s = append(s, "While it is being decided, an action already taken on the platform is undone.")
	}
	s = append(s, passText(p, names, ds[len(ds)-1], noun), failText(p, names, noun))
	return strings.Join(s, " ")
}

func quoted(s string) string { return "“" + s + "”" }

// endSentence adds a full stop unless the sentence ends with a quotation that has one.
func endSentence(s string) string {
	t := strings.TrimSuffix(s, "”")
	if t != s && (strings.HasSuffix(t, ".") || strings.HasSuffix(t, "!") || strings.HasSuffix(t, "?")) {
		return s
	}
	return s + "."
}

// orList writes “a”, “b” or “c”.
func orList(items []string) string { return joinList(items, "or") }

func joinList(items []string, word string) string {
	q := make([]string, len(items))
	for i, it := range items {
		q[i] = quoted(it)
	}
	return joinWords(q, word)
}

// joinWords writes a, b and c.
func joinWords(items []string, word string) string {
	switch len(items) {
	case 0:
		return ""
	case 1:
		return items[0]
	}
	return strings.Join(items[:len(items)-1], ", ") + " " + word + " " + items[len(items)-1]
}

func scopeText(w *When) string {
	if w == nil {
		return ""
	}
	var c []string
	switch len(w.Channels) {
	case 0:
	case 1:
		c = append(c, "the channel is "+quoted(w.Channels[0]))
	default:
		c = append(c, "the channel is one of "+joinList(w.Channels, "or"))
	}
	if w.InitiatorHasRole != "" {
		c = append(c, "the initiator has the role "+quoted(w.InitiatorHasRole))
	}
	if w.InitiatorLacksRole != "" {
		c = append(c, "the initiator does not have the role "+quoted(w.InitiatorLacksRole))
	}
	if w.TextContains != "" {
		c = append(c, "the text contains "+quoted(w.TextContains)+" (capitals matter)")
	}
	if w.TextMatches != "" {
		c = append(c, "the text matches the pattern "+quoted(w.TextMatches))
	}
	if len(c) == 0 {
		return ""
	}
	return "It applies only when " + joinWords(c, "and") + "."
}

func memberName(id int64, names Names) string {
	if n := names.Members[id]; n != "" {
		return n
	}
	return "member #" + strconv.FormatInt(id, 10)
}

// humanDuration writes minutes as "90 minutes", "48 hours", "2 days".
func humanDuration(m int) string {
	unit := func(n int, word string) string {
		if n == 1 {
			return "1 " + word
		}
		return strconv.Itoa(n) + " " + word + "s"
	}
	switch {
	case m%(24*60) == 0:
		return unit(m/(24*60), "day")
	case m%60 == 0:
		return unit(m/60, "hour")
	}
	return unit(m, "minute")
}

// durationText writes a duration in the unit it was given ("48h" stays 48 hours).
func durationText(d Duration) string {
	n := minutes(d)
	if strings.HasSuffix(string(d), "h") {
		if n == 60 {
			return "1 hour"
		}
		return strconv.Itoa(n/60) + " hours"
	}
	return humanDuration(n)
}

func plural(n int, one, many string) string {
	if n == 1 {
		return "1 " + one
	}
	return strconv.Itoa(n) + " " + many
}

// decisionText describes one stage's vote.
func decisionText(d Decision, names Names) []string {
	h := d.How
	var s []string
	s = append(s, decidersText(d, names))
	if d.Deciders.Who == ByJury {
		s = append(s, "The draw is seeded by the proposal, so anyone can check it.")
	}
	s = append(s, "Who may vote is fixed when the vote opens; members who leave stop counting.")
	switch h.Method {
	case Consensus:
		s = append(s, consensusText(d)...)
	case LazyConsensus:
		n := h.Objections
		after := durationText(d.Deadline.After)
		s = append(s,
			fmt.Sprintf("It passes after %s unless %s no (object).", after, plural(n, "voter votes", "voters vote")),
			fmt.Sprintf("It fails as soon as %s, and passes early once %s no longer possible (objections so far plus voters yet to vote fall below %d).",
				plural(n, "voter objects", "voters object"), plural(n, "objection is", "objections are"), n),
			"Yes and abstain only count as having answered.")
	case RankedChoice, Approval:
		s = append(s, electionText(d)...)
	default:
		s = append(s, yesNoText(d)...)
	}
	if d.Deadline != nil && d.Deadline.CoolOff != "" {
		s = append(s, fmt.Sprintf("Cool-off: the first time it would pass, it waits %s, during which votes can still change; after that it passes whenever it would pass, and it fails at once if a changed vote makes passing impossible.",
			durationText(d.Deadline.CoolOff)))
	}
	if t := d.Tell; t != nil {
		if t.Open != "" {
			s = append(s, endSentence("When the vote opens, the voters are sent: "+quoted(t.Open)))
		}
		if t.RemindBefore != "" {
			text := t.Remind
			if text == "" {
				text = defaultReminder(t.RemindBefore)
			}
			s = append(s, endSentence(fmt.Sprintf("%s before the deadline, voters who have not voted yet are reminded once: %s",
				capitalize(durationText(t.RemindBefore)), quoted(text))))
		}
	}
	return s
}

func capitalize(s string) string {
	if s == "" {
		return s
	}
	return strings.ToUpper(s[:1]) + s[1:]
}

func decidersText(d Decision, names Names) string {
	var who string
	switch d.Deciders.Who {
	case Everyone:
		who = "All members vote"
	case ByRole:
		who = "The members with the role " + quoted(d.Deciders.Role) + " vote"
	case ByJury:
		pool := "all members"
		if d.Deciders.Role != "" {
			pool = "the members with the role " + quoted(d.Deciders.Role)
		}
		k := d.Deciders.Size
		who = fmt.Sprintf("A jury of %s, drawn at random from %s when the proposal opens (all of them if there are fewer than %d), votes",
			plural(k, "member", "members"), pool, k)
	case ByMember:
		who = memberName(d.Deciders.Member, names) + " alone votes"
	}
	switch ballotKind(d.How.Method) {
	case "consensus":
		who += " agree, abstain, disagree or block"
	case "ranking":
		who += ", ranking the candidates in order of preference"
	case "approval":
		who += ", approving any number of candidates"
	default:
		who += " yes, no or abstain"
	}
	if d.Tell != nil && d.Tell.Private {
		who += ", each asked privately"
	}
	return who + "."
}

// yesNoText states a engine/votes YesNoRule: the rule, when it is settled early, and the deadline.
func yesNoText(d Decision) []string {
	h := d.How
	eligible := h.Of == OfEligible
	var rule string
	switch h.Method {
	case Majority:
		if eligible {
			rule = "It passes when more than half of all the voters vote yes (abstaining or not voting weighs like a no)"
		} else {
			rule = "It passes when yes votes are more than half of the yes and no votes (abstentions are not counted; a tie is not enough)"
		}
	case Supermajority:
		f := string(h.Fraction)
		if eligible {
			rule = fmt.Sprintf("It passes when at least %s of all the voters vote yes (abstaining or not voting weighs like a no; exactly %s is enough)", f, f)
		} else {
			rule = fmt.Sprintf("It passes when yes votes are at least %s of the yes and no votes (abstentions are not counted; exactly %s is enough; at least one yes is needed)", f, f)
		}
	case Unanimity:
		if eligible {
			rule = "It passes when every voter votes yes"
		} else {
			rule = "It passes when at least one voter votes yes and nobody votes no (abstentions are not counted)"
		}
	case Threshold:
		rule = fmt.Sprintf("It passes when at least %s yes", plural(h.Yes, "voter votes", "voters vote"))
	}
	if q := d.Quorum; q != nil {
		if q.Share != "" {
			rule += fmt.Sprintf(", provided at least %s of the voters (rounded up) cast a ballot (abstentions count)", q.Share)
		} else {
			rule += fmt.Sprintf(", provided at least %s cast (yes, no and abstain all count)", plural(q.Votes, "ballot is", "ballots are"))
		}
	}
	var s []string
	if h.Method == Threshold && d.Quorum == nil {
		capped, below := "", itoa(h.Yes)
		if d.Deciders.Who == ByJury && h.Yes > 1 {
			capped, below = fmt.Sprintf(" (every juror, if fewer than %d were drawn)", h.Yes), "that number"
		}
		s = append(s, fmt.Sprintf("It passes as soon as at least %s yes%s, and fails as soon as that can no longer happen (yes votes plus voters yet to vote fall below %s).",
			plural(h.Yes, "voter votes", "voters vote"), capped, below))
	} else {
		s = append(s, rule+".", "It is settled as soon as the result is certain, taking the votes cast as final: it passes once the rule is met and would stay met even if everyone yet to vote voted no, and fails once the rule could not be met even if everyone yet to vote voted yes.")
	}
	if h.FailAtNo > 0 {
		s = append(s, fmt.Sprintf("It also fails as soon as %s no.", plural(h.FailAtNo, "voter votes", "voters vote")))
	}
	dl := d.Deadline
	if dl == nil || dl.After == "" {
		return append(s, "There is no deadline: the vote stays open until it is settled.")
	}
	after := durationText(dl.After)
	switch {
	case dl.Then == ThenPass:
		s = append(s, fmt.Sprintf("If it is still open after %s, it passes.", after))
	case dl.Then == ThenFail || h.Method == Threshold:
		// A met threshold is always certain (more votes cannot undo it), so deciding with the
		// votes cast at the deadline can only fail.
		s = append(s, fmt.Sprintf("If it is still open after %s, it fails.", after))
	default:
		s = append(s, fmt.Sprintf("If it is still open after %s, the votes cast decide: it passes if the rule is met, otherwise it fails.", after))
	}
	return s
}

// consensusText states engine/votes ConsensusRule.
func consensusText(d Decision) []string {
	k := d.How.MinAgree
	after := durationText(d.Deadline.After)
	tail := "Disagree and abstain never stop it; a block before the deadline keeps the vote open, since a block can be withdrawn."
	if k == 0 {
		return []string{
			fmt.Sprintf("It passes when nobody blocks: as soon as every voter has answered, or else at the deadline after %s, where any block fails it.", after),
			tail}
	}
	return []string{
		fmt.Sprintf("It passes when nobody blocks and at least %s: as soon as every voter has answered, or else at the deadline after %s.", plural(k, "voter agrees", "voters agree"), after),
		fmt.Sprintf("It fails as soon as %s can no longer be reached, and at the deadline if anyone blocks or fewer than %d agree.", plural(k, "agreement", "agreements"), k),
		tail}
}

// electionText states engine/votes RankedChoice or Approval and when the vote closes.
func electionText(d Decision) []string {
	s := []string{fmt.Sprintf("The vote closes when every voter has voted, or after %s.", durationText(d.Deadline.After))}
	if d.How.Method == RankedChoice {
		s = append(s, "The winner is found by instant runoff: each round counts every ballot for its highest-ranked candidate still in the race; a candidate with more than half of these ballots wins; otherwise the candidate with the fewest is eliminated (a tie for fewest is broken by fewer votes in the previous round, then earlier rounds, then by eliminating the one listed later) and the count repeats.",
			"If two candidates are left exactly tied, or no ballot is valid, there is no winner and it fails.")
	} else {
		s = append(s, "The candidate with the most approvals wins; a tie for first place, or no approval at all, means no winner and it fails.")
	}
	if q := d.Quorum; q != nil {
		if q.Share != "" {
			s = append(s, fmt.Sprintf("It also fails when fewer than %s of the voters (rounded up) have voted.", q.Share))
		} else {
			s = append(s, fmt.Sprintf("It also fails when fewer than %s have voted.", plural(q.Votes, "voter", "voters")))
		}
	}
	return s
}

func stepTexts(steps []Step, names Names) []string {
	var out []string
	for _, st := range steps {
		who := "the member who initiated it"
		if st.Member != 0 {
			who = memberName(st.Member, names)
		}
		switch st.Do {
		case DoPost:
			out = append(out, quoted(st.Text)+" is posted where the action happened")
		case DoGrantRole:
			out = append(out, who+" gets the role "+quoted(st.Role))
		case DoRevokeRole:
			out = append(out, who+" loses the role "+quoted(st.Role))
		}
	}
	return out
}

func passText(p *Program, names Names, last Decision, noun string) string {
	when := "If it passes"
	if len(p.Stages) > 0 {
		when = "If the last stage passes"
	}
	return when + ", " + strings.Join(passParts(p, names, last, noun), "; ") + "."
}

// passParts lists what happens on pass, starting with whether the action is carried out.
func passParts(p *Program, names Names, last Decision, noun string) []string {
	steps := p.onPass()
	var parts []string
	executes := false
	for _, st := range steps {
		if st.Do == DoExecute {
			executes = true
		}
	}
	switch {
	case !executes:
		parts = append(parts, "the "+noun+" is not carried out")
	case last.How != nil && isElection(last.How.Method):
		parts = append(parts, "the winning candidate is carried out")
	default:
		parts = append(parts, "the "+noun+" is carried out")
	}
	return append(parts, stepTexts(steps, names)...)
}

func failText(p *Program, names Names, noun string) string {
	if p.How == nil {
		return ""
	}
	parts := append([]string{"the " + noun + " is not carried out"}, stepTexts(p.OnFail, names)...)
	when := "If it fails"
	if len(p.Stages) > 0 {
		when = "If any stage fails"
	}
	return when + ", " + strings.Join(parts, "; ") + "."
}
