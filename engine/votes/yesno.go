package votes

import (
	"errors"
	"fmt"
	"math/bits"
)

// Outcome is the state of a decision: still open, passed or failed.
type Outcome string

// The three outcomes. They match the PENDING / PASSED / FAILED constants of policy programs.
const (
	Pending Outcome = "pending"
	Passed  Outcome = "passed"
	Failed  Outcome = "failed"
)

// Error kinds. Every error returned by this package wraps exactly one of them, so the
// engine can tell a broken policy (rule) from broken input (tally).
var (
	// ErrInvalidRule: the rule or election setup can never be applied as written
	// (negative numbers, a share above 1, duplicate options…). Report it to the policy author.
	ErrInvalidRule = errors.New("invalid voting rule")
	// ErrInvalidTally: the counts are impossible (negative, or more ballots than eligible members).
	ErrInvalidTally = errors.New("invalid tally")
)

// Fraction is the share Num/Den, e.g. {1, 2}, {2, 3}, {1, 1}. Num 0 (as in the zero value)
// means "no share required". Shares are always compared with exact integer arithmetic.
type Fraction struct{ Num, Den int }

// Denominator says what a yes share is measured against.
type Denominator string

// The two denominators. The empty value means OfCast.
const (
	// OfCast measures yes against yes+no: abstentions and non-voters are not counted.
	OfCast Denominator = "cast"
	// OfEligible measures yes against every eligible member, voted or not: abstaining
	// and not voting weigh like a no.
	OfEligible Denominator = "eligible"
)

// AtDeadline says what happens at the deadline when the outcome is still open, that is
// when the members who have not voted could still have changed it. It never overrides an
// outcome that was already certain. The empty value means DeadlineDecide. With OfEligible,
// DeadlineDecide and DeadlineFail agree: more ballots can never undo a met eligible-based rule,
// so a rule still open is not met.
type AtDeadline string

// The three deadline behaviours.
const (
	// DeadlineDecide applies the rule to the ballots cast as they stand: Passed if it is met,
	// else Failed.
	DeadlineDecide AtDeadline = "decide"
	// DeadlinePass passes an open proposal (silence is consent).
	DeadlinePass AtDeadline = "pass"
	// DeadlineFail fails an open proposal: it passes only if the result was certain before the deadline.
	DeadlineFail AtDeadline = "fail"
)

// YesNoTally counts the ballots of eligible voters on a yes/no/abstain ballot. Eligible is the
// size of the electorate snapshotted when the ballot opened, voted or not.
type YesNoTally struct{ Yes, No, Abstain, Eligible int }

// Cast returns the number of ballots cast: Yes+No+Abstain.
func (t YesNoTally) Cast() int { return t.Yes + t.No + t.Abstain }

// Remaining returns how many eligible members have not voted: Eligible−Cast, never negative.
func (t YesNoTally) Remaining() int { return max(0, t.Eligible-t.Cast()) }

// Validate reports a tally that cannot happen: a negative count, or more ballots than
// eligible members (every ballot comes from an eligible member).
func (t YesNoTally) Validate() error {
	return checkCounts(t.Eligible, []string{"yes", "no", "abstain"}, t.Yes, t.No, t.Abstain)
}

// YesNoRule is every yes/no voting method. A rule is met by the ballots (yes, no, abstain)
// when all three hold:
//
//   - quorum: yes+no+abstain ≥ Quorum (abstentions count towards the quorum);
//   - threshold: yes ≥ MinYes;
//   - share (only when Need.Num > 0): yes·Need.Den > Need.Num·D when Strict, else
//     yes·Need.Den ≥ Need.Num·D, where D = yes+no (Of cast) or D = Eligible (Of eligible);
//     and yes ≥ 1, so zero votes or all abstentions never meet a share.
//
// Examples: majority = {Need: {1,2}, Strict: true} (a 2–2 tie fails); supermajority =
// {Need: {2,3}} (exactly 2/3 passes); unanimity = {Need: {1,1}} (one no fails);
// absolute majority = {Need: {1,2}, Strict: true, Of: OfEligible}; threshold k = {MinYes: k}.
// See Decide for when the rule is applied.
type YesNoRule struct {
	// Need is the share of the denominator that must vote yes; the zero value requires no share.
	Need Fraction
	// Strict makes the share comparison ">" (more than Need) instead of "≥" (at least Need).
	Strict bool
	// Of is the denominator of the share: OfCast (default) or OfEligible.
	Of Denominator
	// MinYes is an absolute number of yes votes required, in addition to Need.
	MinYes int
	// Quorum is the number of ballots (yes+no+abstain) required for the rule to be met.
	Quorum int
	// AtDeadline decides an outcome still open at the deadline: DeadlineDecide (default),
	// DeadlinePass or DeadlineFail.
	AtDeadline AtDeadline
}

// Validate reports a rule that cannot be applied: negative numbers, a share with Den ≤ 0 or
// above 1 (Num > Den), a strict share of 1/1 (never reachable), Strict without a share, an
// unknown Of or AtDeadline, or a rule that requires no yes vote at all (Need and MinYes both
// zero), which would pass with no votes.
func (r YesNoRule) Validate() error {
	n, d := r.Need.Num, r.Need.Den
	switch {
	case n < 0 || d < 0:
		return fmt.Errorf("%w: share %d/%d is negative", ErrInvalidRule, n, d)
	case n > 0 && d == 0:
		return fmt.Errorf("%w: share %d/0 has no denominator", ErrInvalidRule, n)
	case n > d:
		return fmt.Errorf("%w: share %d/%d is more than everyone", ErrInvalidRule, n, d)
	case n > 0 && n == d && r.Strict:
		return fmt.Errorf("%w: more than %d/%d can never be reached; use at least (Strict false)", ErrInvalidRule, n, d)
	case n == 0 && r.Strict:
		return fmt.Errorf("%w: Strict needs a share (Need)", ErrInvalidRule)
	case r.MinYes < 0:
		return fmt.Errorf("%w: MinYes %d is negative", ErrInvalidRule, r.MinYes)
	case r.Quorum < 0:
		return fmt.Errorf("%w: quorum %d is negative", ErrInvalidRule, r.Quorum)
	case n == 0 && r.MinYes == 0:
		return fmt.Errorf("%w: the rule requires no yes vote (set Need or MinYes)", ErrInvalidRule)
	}
	switch r.Of {
	case "", OfCast, OfEligible:
	default:
		return fmt.Errorf("%w: unknown denominator %q (want %q or %q)", ErrInvalidRule, r.Of, OfCast, OfEligible)
	}
	switch r.AtDeadline {
	case "", DeadlineDecide, DeadlinePass, DeadlineFail:
	default:
		return fmt.Errorf("%w: unknown deadline behaviour %q (want %q, %q or %q)",
			ErrInvalidRule, r.AtDeadline, DeadlineDecide, DeadlinePass, DeadlineFail)
	}
	return nil
}

// Decide returns the outcome of tally t; closed says whether the deadline has passed.
//
// The outcome is certain when every way the Remaining members could still vote (yes, no,
// abstain or not at all) gives the same answer, assuming the ballots already cast stand
// (the ballot closes as soon as the outcome is certain):
//
//   - Passed when the rule is met now and would still be met if every remaining member voted no;
//   - Failed when the rule would not be met even if every remaining member voted yes
//     (e.g. the quorum or MinYes is out of reach, or a unanimity already has a no).
//
// Before the deadline (closed false) Decide returns the certain outcome, else Pending.
// At the deadline (closed true) it returns the certain outcome, else applies AtDeadline.
// So an early decision is always the one the deadline would give with the same ballots,
// and closed true never returns Pending.
//
// It returns an error wrapping ErrInvalidRule or ErrInvalidTally (and Pending) when r or t
// is invalid.
func (r YesNoRule) Decide(t YesNoTally, closed bool) (Outcome, error) {
	if err := r.Validate(); err != nil {
		return Pending, err
	}
	if err := t.Validate(); err != nil {
		return Pending, err
	}
	rem := t.Remaining()
	metNow := r.met(t.Yes, t.No, t.Abstain, t.Eligible)
	switch {
	case metNow && r.met(t.Yes, t.No+rem, t.Abstain, t.Eligible):
		return Passed, nil
	case !r.met(t.Yes+rem, t.No, t.Abstain, t.Eligible):
		return Failed, nil
	case !closed:
		return Pending, nil
	}
	switch r.AtDeadline {
	case DeadlinePass:
		return Passed, nil
	case DeadlineFail:
		return Failed, nil
	}
	if metNow {
		return Passed, nil
	}
	return Failed, nil
}

// met reports whether the ballots meet the rule (see YesNoRule). Callers keep
// yes+no+abstain ≤ eligible, so no sum overflows.
func (r YesNoRule) met(yes, no, abstain, eligible int) bool {
	if yes+no+abstain < r.Quorum || yes < r.MinYes {
		return false
	}
	if r.Need.Num == 0 {
		return true
	}
	if yes == 0 {
		return false
	}
	den := yes + no
	if r.Of == OfEligible {
		den = eligible
	}
	c := mulCmp(yes, r.Need.Den, r.Need.Num, den)
	return c > 0 || (c == 0 && !r.Strict)
}

// mulCmp returns the sign of a·b − c·d for non-negative a, b, c, d, exactly: the products
// are computed in 128 bits, so no share comparison can overflow.
func mulCmp(a, b, c, d int) int {
	hi1, lo1 := bits.Mul64(uint64(a), uint64(b))
	hi2, lo2 := bits.Mul64(uint64(c), uint64(d))
	switch {
	case hi1 != hi2:
		if hi1 < hi2 {
			return -1
		}
		return 1
	case lo1 < lo2:
		return -1
	case lo1 > lo2:
		return 1
	}
	return 0
}

// checkCounts reports a negative count or counts that add up to more than eligible.
// It subtracts instead of adding so that huge counts cannot overflow.
func checkCounts(eligible int, names []string, counts ...int) error {
	if eligible < 0 {
		return fmt.Errorf("%w: eligible %d is negative", ErrInvalidTally, eligible)
	}
	left := eligible
	for i, c := range counts {
		if c < 0 {
			return fmt.Errorf("%w: %s count %d is negative", ErrInvalidTally, names[i], c)
		}
		if c > left {
			return fmt.Errorf("%w: more ballots than the %d eligible members", ErrInvalidTally, eligible)
		}
		left -= c
	}
	return nil
}
