package engine

import (
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"

	"policykit/engine/votes"
	"policykit/models"
)

// The yes/no methods policies call, each a votes.YesNoRule.
const (
	yesNoMajority = iota
	yesNoSuper
	yesNoUnanimity
	yesNoThreshold
)

// yesNo applies a yes/no method to the ballots of the electorate named in opts.
func (ev *evaluation) yesNo(method, a, b int, opts []map[string]any) string {
	o := optMap(opts)
	rule := votes.YesNoRule{Of: votes.OfCast, Quorum: optInt(o, "quorum"), AtDeadline: votes.AtDeadline(optString(o, "at_deadline"))}
	if of := optString(o, "of"); of != "" {
		rule.Of = votes.Denominator(of)
	}
	switch method {
	case yesNoMajority:
		rule.Need, rule.Strict = votes.Fraction{Num: 1, Den: 2}, true
	case yesNoSuper:
		rule.Need = votes.Fraction{Num: a, Den: b}
	case yesNoUnanimity:
		rule.Need = votes.Fraction{Num: 1, Den: 1}
		rule.MinYes = 1
	case yesNoThreshold:
		rule.MinYes = a
	}
	return outcome(rule.Decide(ev.yesNoTally(o), ev.closed(o)))
}

func (ev *evaluation) yesNoTally(o map[string]any) votes.YesNoTally {
	set := ev.electorate([]any{o["among"]})
	t := votes.YesNoTally{Eligible: len(set)}
	for _, v := range ev.votes {
		if !set[v.member] {
			continue
		}
		switch v.value {
		case "yes":
			t.Yes++
		case "no":
			t.No++
		case "abstain":
			t.Abstain++
		}
	}
	return t
}

func (ev *evaluation) consensus(minAgree int, opts []map[string]any) string {
	o := optMap(opts)
	set := ev.electorate([]any{o["among"]})
	t := votes.ConsensusTally{Eligible: len(set)}
	for _, v := range ev.votes {
		if !set[v.member] {
			continue
		}
		switch v.value {
		case "agree":
			t.Agree++
		case "abstain":
			t.Abstain++
		case "disagree":
			t.Disagree++
		case "block":
			t.Block++
		}
	}
	return outcome(votes.ConsensusRule{MinAgree: minAgree}.Decide(t, ev.closed(o)))
}

func (ev *evaluation) lazyConsensus(maxObjections int, opts []map[string]any) string {
	o := optMap(opts)
	if _, ok := o["deadline"]; !ok {
		fail("lazy_consensus needs a deadline: it passes when the deadline comes without enough objections")
	}
	return outcome(votes.LazyConsensusRule{Objections: maxObjections}.Decide(ev.yesNoTally(o), ev.closed(o)))
}

// outcome turns a vote method's result into what check returns; a rule error (a quorum
// below zero, a fraction over 1) stops the program with the method's message.
func outcome(o votes.Outcome, err error) string {
	if err != nil {
		fail("%v", err)
	}
	return string(o)
}

// winner returns an election's winner, or stops the program on a malformed election.
func winner(w string, err error) string {
	if err != nil {
		fail("%v", err)
	}
	return w
}

// election returns the winning option of the open ballot under a method ("" for none).
func (ev *evaluation) election(method string, opts []map[string]any) string {
	if ev.ballot == nil || len(ev.ballot.Options) == 0 {
		fail("%s_winner: no ballot with options is open (call start_vote first)", method)
	}
	o := optMap(opts)
	set := ev.electorate([]any{o["among"]})
	opt := ev.ballot.Options
	work := len(ev.votes) * len(opt) // a count per option per ballot; instant runoff has a round per option
	if method == "ranking" {
		work *= len(opt)
	}
	ev.meter.charge(int64(work), 0)
	switch method {
	case "plurality":
		var ballots []string
		for _, v := range ev.votes {
			if s, ok := v.value.(string); ok && set[v.member] {
				ballots = append(ballots, s)
			}
		}
		r, err := votes.Plurality(opt, ballots)
		return winner(r.Winner, err)
	case "approval", "ranking":
		var ballots [][]string
		for _, v := range ev.votes {
			if l, ok := v.value.([]any); ok && set[v.member] {
				ballots = append(ballots, anyStrings(l))
			}
		}
		if method == "approval" {
			r, err := votes.Approval(opt, ballots)
			return winner(r.Winner, err)
		}
		r, err := votes.RankedChoice(opt, ballots)
		return winner(r.Winner, err)
	case "score":
		var ballots []map[string]int
		for _, v := range ev.votes {
			if m, ok := v.value.(map[string]any); ok && set[v.member] {
				b := make(map[string]int, len(m))
				for k, x := range m {
					if f, ok := x.(float64); ok {
						b[k] = int(f)
					}
				}
				ballots = append(ballots, b)
			}
		}
		r, err := votes.Score(opt, ballots, ev.ballot.Max)
		return winner(r.Winner, err)
	}
	fail("unknown election method %q", method)
	return ""
}

// closed tells whether the deadline in opts has passed (never, without one).
func (ev *evaluation) closed(o map[string]any) bool {
	raw, ok := o["deadline"]
	if !ok || raw == nil {
		return false
	}
	d, err := parseDeadline(raw)
	if err != nil {
		fail("deadline: %v", err)
	}
	return ev.now.Sub(ev.proposal.CreatedAt) >= d
}

// parseDeadline accepts a duration (expr's duration("48h")), or text like "48h", "90m", "2d".
func parseDeadline(raw any) (time.Duration, error) {
	var d time.Duration
	switch x := raw.(type) {
	case time.Duration:
		d = x
	case string:
		if days, ok := strings.CutSuffix(x, "d"); ok {
			n, err := strconv.Atoi(days)
			if err != nil {
				return 0, fmt.Errorf("%q is not a duration", x)
			}
			d = time.Duration(n) * 24 * time.Hour
		} else {
			var err error
			if d, err = time.ParseDuration(x); err != nil {
				return 0, fmt.Errorf("%q is not a duration (use 30m, 48h or 2d)", x)
			}
		}
	default:
		return 0, fmt.Errorf("%v is not a duration", raw)
	}
	if d <= 0 {
		return 0, fmt.Errorf("must be longer than zero")
	}
	return d, nil
}

func optInt(o map[string]any, k string) int {
	if v, ok := o[k]; ok && v != nil {
		return oneID(v)
	}
	return 0
}

func optString(o map[string]any, k string) string {
	s, _ := o[k].(string)
	return s
}

func anyStrings(l []any) []string {
	out := make([]string, 0, len(l))
	for _, x := range l {
		if s, ok := x.(string); ok {
			out = append(out, s)
		}
	}
	return out
}

// Tally is a proposal's current count, for pages and platform ballots.
type Tally struct {
	Kind     string         `json:"kind"`
	Options  []string       `json:"options,omitempty"`
	Eligible int            `json:"eligible"`
	Voters   int            `json:"voters"`
	Counts   map[string]int `json:"counts"` // yes/no/abstain, per option, approvals, first preferences or score totals
	Winner   string         `json:"winner,omitempty"`
}

// TallyOf counts a proposal's votes on its ballot, leaving out members who have left.
func TallyOf(b *models.Ballot, vs []models.Vote, left map[int64]bool) *Tally {
	if b == nil {
		return nil
	}
	t := &Tally{Kind: b.Kind, Options: b.Options, Counts: map[string]int{}}
	eligible := make(map[int64]bool, len(b.Eligible))
	for _, id := range b.Eligible {
		if !left[id] {
			eligible[id] = true
		}
	}
	t.Eligible = len(eligible)
	for _, v := range vs {
		if !eligible[v.MemberID] {
			continue
		}
		t.Voters++
		var val any
		_ = json.Unmarshal([]byte(v.Value), &val)
		switch x := val.(type) {
		case string:
			t.Counts[x]++
		case []any:
			for i, o := range anyStrings(x) {
				if b.Kind == BallotRanking && i > 0 {
					break // first preferences
				}
				t.Counts[o]++
			}
		case map[string]any:
			for k, s := range x {
				if f, ok := s.(float64); ok {
					t.Counts[k] += int(f)
				}
			}
		}
	}
	return t
}

// ValidateVote checks a vote value against a ballot and returns its canonical JSON.
func ValidateVote(b *models.Ballot, value any) (string, error) {
	bad := func(msg string) (string, error) { return "", models.Invalid("value", msg) }
	has := func(o string) bool { return contains(b.Options, o) }
	switch b.Kind {
	case BallotYesNo:
		if s, ok := value.(string); !ok || (s != "yes" && s != "no" && s != "abstain") {
			return bad("vote yes, no or abstain")
		}
	case BallotConsensus:
		if s, ok := value.(string); !ok || (s != "agree" && s != "abstain" && s != "disagree" && s != "block") {
			return bad("vote agree, abstain, disagree or block")
		}
	case BallotChoice:
		if s, ok := value.(string); !ok || !has(s) {
			return bad("choose one of: " + strings.Join(b.Options, ", "))
		}
	case BallotApproval, BallotRanking:
		list, err := toStrings(value)
		if err != nil || len(list) == 0 {
			return bad("list one or more of: " + strings.Join(b.Options, ", "))
		}
		seen := map[string]bool{}
		for _, o := range list {
			if !has(o) {
				return bad(fmt.Sprintf("%q is not an option", o))
			}
			if seen[o] {
				return bad(fmt.Sprintf("%q is listed twice", o))
			}
			seen[o] = true
		}
		value = list
	case BallotScore:
		m, ok := value.(map[string]any)
		if !ok || len(m) == 0 {
			return bad(fmt.Sprintf("score the options from 0 to %d", b.Max))
		}
		clean := make(map[string]int, len(m))
		for k, x := range m {
			n, err := toInt64(x)
			if !has(k) || err != nil || n < 0 || int(n) > b.Max {
				return bad(fmt.Sprintf("score the options from 0 to %d", b.Max))
			}
			clean[k] = int(n)
		}
		value = clean
	default:
		return bad("this ballot cannot take votes")
	}
	out, err := json.Marshal(value)
	if err != nil {
		return bad("cannot encode the vote")
	}
	return string(out), nil
}
