package votes

import (
	"errors"
	"math/big"
	"testing"
)

var (
	majority      = YesNoRule{Need: Fraction{1, 2}, Strict: true}
	supermajority = YesNoRule{Need: Fraction{2, 3}}
	unanimity     = YesNoRule{Need: Fraction{1, 1}}
	absMajority   = YesNoRule{Need: Fraction{1, 2}, Strict: true, Of: OfEligible}
)

// with returns r changed by f, so table rows can vary one field of a named rule.
func with(r YesNoRule, f func(*YesNoRule)) YesNoRule {
	f(&r)
	return r
}

func decideYesNo(t *testing.T, r YesNoRule, tally YesNoTally, closed bool) Outcome {
	t.Helper()
	got, err := r.Decide(tally, closed)
	if err != nil {
		t.Fatalf("Decide(%+v, %+v, %v): %v", r, tally, closed, err)
	}
	return got
}

func TestYesNoDecide(t *testing.T) {
	const open, closed = false, true
	tests := []struct {
		name   string
		rule   YesNoRule
		tally  YesNoTally
		closed bool
		want   Outcome
	}{
		// Majority: strict, of votes cast.
		{"majority zero votes, no electorate", majority, YesNoTally{Eligible: 0}, open, Failed},
		{"majority zero votes before deadline", majority, YesNoTally{Eligible: 3}, open, Pending},
		{"majority zero votes at deadline", majority, YesNoTally{Eligible: 3}, closed, Failed},
		{"majority all abstain", majority, YesNoTally{Abstain: 3, Eligible: 3}, open, Failed},
		{"majority all abstain at deadline", majority, YesNoTally{Abstain: 3, Eligible: 3}, closed, Failed},
		{"majority 2-2 tie fails (strict)", majority, YesNoTally{Yes: 2, No: 2, Eligible: 4}, closed, Failed},
		{"majority 2-2 tie with remaining voter stays open", majority, YesNoTally{Yes: 2, No: 2, Eligible: 5}, open, Pending},
		{"majority 3-2 passes", majority, YesNoTally{Yes: 3, No: 2, Eligible: 5}, closed, Passed},
		{"majority early pass: 3 yes of 5", majority, YesNoTally{Yes: 3, Eligible: 5}, open, Passed},
		{"majority pending: 2 yes, 3 left", majority, YesNoTally{Yes: 2, Eligible: 5}, open, Pending},
		{"majority early fail: 3 no of 5", majority, YesNoTally{No: 3, Eligible: 5}, open, Failed},
		{"majority early fail: best case is a tie", majority, YesNoTally{No: 2, Eligible: 4}, open, Failed},
		{"majority abstentions excluded", majority, YesNoTally{Yes: 1, Abstain: 4, Eligible: 5}, closed, Passed},
		{"majority at deadline decides with votes cast", majority, YesNoTally{Yes: 3, No: 1, Eligible: 10}, closed, Passed},

		// Supermajority: at least 2/3 of votes cast.
		{"supermajority exactly 2/3 passes", supermajority, YesNoTally{Yes: 2, No: 1, Eligible: 3}, closed, Passed},
		{"supermajority exactly 2/3 passes early", supermajority, YesNoTally{Yes: 2, No: 1, Eligible: 3}, open, Passed},
		{"supermajority 4/6 passes", supermajority, YesNoTally{Yes: 4, No: 2, Eligible: 6}, closed, Passed},
		{"supermajority 3/5 fails", supermajority, YesNoTally{Yes: 3, No: 2, Eligible: 5}, closed, Failed},
		{"supermajority 4 yes of 6, 2 left: 4/6 still possible", supermajority, YesNoTally{Yes: 4, Eligible: 6}, open, Passed},
		{"supermajority 3 yes of 6, 3 left", supermajority, YesNoTally{Yes: 3, Eligible: 6}, open, Pending},
		{"supermajority strict 2/3 exactly fails", with(supermajority, func(r *YesNoRule) { r.Strict = true }), YesNoTally{Yes: 2, No: 1, Eligible: 3}, closed, Failed},

		// Denominator: eligible members instead of votes cast.
		{"eligible: 4 yes 1 no of 10 fails at deadline", absMajority, YesNoTally{Yes: 4, No: 1, Eligible: 10}, closed, Failed},
		{"cast: 4 yes 1 no of 10 passes at deadline", majority, YesNoTally{Yes: 4, No: 1, Eligible: 10}, closed, Passed},
		{"eligible: 6 of 10 passes early", absMajority, YesNoTally{Yes: 6, Eligible: 10}, open, Passed},
		{"eligible: 5 of 10 is not more than half", absMajority, YesNoTally{Yes: 5, Abstain: 5, Eligible: 10}, open, Failed},
		{"eligible: 5 of 10, 1 left", absMajority, YesNoTally{Yes: 5, Abstain: 4, Eligible: 10}, open, Pending},
		{"eligible: no electorate fails", absMajority, YesNoTally{}, closed, Failed},

		// Quorum: ballots including abstentions.
		{"quorum unmet at deadline fails", with(majority, func(r *YesNoRule) { r.Quorum = 4 }), YesNoTally{Yes: 2, Abstain: 1, Eligible: 10}, closed, Failed},
		{"quorum unmet at deadline, AtDeadline pass", with(majority, func(r *YesNoRule) { r.Quorum = 4; r.AtDeadline = DeadlinePass }), YesNoTally{Yes: 2, Abstain: 1, Eligible: 10}, closed, Passed},
		{"quorum met with an abstention", with(majority, func(r *YesNoRule) { r.Quorum = 4 }), YesNoTally{Yes: 2, No: 1, Abstain: 1, Eligible: 10}, closed, Passed},
		{"quorum unmet before deadline stays pending", with(majority, func(r *YesNoRule) { r.Quorum = 4 }), YesNoTally{Yes: 3, Eligible: 10}, open, Pending},
		{"quorum met and outcome certain passes early", with(majority, func(r *YesNoRule) { r.Quorum = 4 }), YesNoTally{Yes: 6, Eligible: 10}, open, Passed},
		{"quorum larger than electorate fails at once", with(majority, func(r *YesNoRule) { r.Quorum = 4 }), YesNoTally{Eligible: 3}, open, Failed},
		{"quorum unreachable fails even with AtDeadline pass", with(majority, func(r *YesNoRule) { r.Quorum = 4; r.AtDeadline = DeadlinePass }), YesNoTally{Yes: 3, Eligible: 3}, closed, Failed},

		// AtDeadline on an outcome still open.
		{"open at deadline, decide: 3-1 passes", majority, YesNoTally{Yes: 3, No: 1, Eligible: 10}, closed, Passed},
		{"open at deadline, fail: 3-1 fails", with(majority, func(r *YesNoRule) { r.AtDeadline = DeadlineFail }), YesNoTally{Yes: 3, No: 1, Eligible: 10}, closed, Failed},
		{"open at deadline, pass: 1-3 passes", with(majority, func(r *YesNoRule) { r.AtDeadline = DeadlinePass }), YesNoTally{Yes: 1, No: 3, Eligible: 10}, closed, Passed},
		{"certain failure is not overridden by pass", with(majority, func(r *YesNoRule) { r.AtDeadline = DeadlinePass }), YesNoTally{No: 6, Eligible: 10}, closed, Failed},
		{"certain pass is not overridden by fail", with(majority, func(r *YesNoRule) { r.AtDeadline = DeadlineFail }), YesNoTally{Yes: 6, Eligible: 10}, closed, Passed},

		// Threshold: k yes votes.
		{"threshold reached passes early", YesNoRule{MinYes: 3}, YesNoTally{Yes: 3, No: 2, Eligible: 5}, open, Passed},
		{"threshold still reachable", YesNoRule{MinYes: 3}, YesNoTally{Yes: 1, No: 2, Eligible: 5}, open, Pending},
		{"threshold unreachable fails early", YesNoRule{MinYes: 3}, YesNoTally{Yes: 1, No: 3, Eligible: 5}, open, Failed},
		{"threshold above electorate fails at once", YesNoRule{MinYes: 3}, YesNoTally{Eligible: 2}, open, Failed},
		{"threshold not reached at deadline", YesNoRule{MinYes: 3}, YesNoTally{Yes: 2, Eligible: 5}, closed, Failed},
		{"threshold and majority: 3 yes but outvoted", YesNoRule{MinYes: 3, Need: Fraction{1, 2}, Strict: true}, YesNoTally{Yes: 3, No: 4, Eligible: 7}, closed, Failed},

		// Unanimity: at least one yes and no no.
		{"unanimity with one no fails at once", unanimity, YesNoTally{Yes: 2, No: 1, Eligible: 5}, open, Failed},
		{"unanimity all yes passes", unanimity, YesNoTally{Yes: 3, Eligible: 3}, open, Passed},
		{"unanimity waits for the last voter", unanimity, YesNoTally{Yes: 2, Eligible: 3}, open, Pending},
		{"unanimity of votes cast at deadline", unanimity, YesNoTally{Yes: 2, Abstain: 1, Eligible: 4}, closed, Passed},
		{"unanimity all abstain fails", unanimity, YesNoTally{Abstain: 3, Eligible: 3}, closed, Failed},
		{"unanimity of eligible: an abstention fails it", with(unanimity, func(r *YesNoRule) { r.Of = OfEligible }), YesNoTally{Yes: 2, Abstain: 1, Eligible: 3}, open, Failed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := decideYesNo(t, tt.rule, tt.tally, tt.closed); got != tt.want {
				t.Errorf("Decide(%+v, closed=%v) = %s, want %s", tt.tally, tt.closed, got, tt.want)
			}
		})
	}
}

func TestYesNoValidate(t *testing.T) {
	tests := []struct {
		name    string
		rule    YesNoRule
		wantErr bool
	}{
		{"majority", majority, false},
		{"supermajority of eligible with quorum", YesNoRule{Need: Fraction{2, 3}, Of: OfEligible, Quorum: 3, AtDeadline: DeadlineFail}, false},
		{"threshold", YesNoRule{MinYes: 1}, false},
		{"share above 1", YesNoRule{Need: Fraction{3, 2}}, true},
		{"zero denominator", YesNoRule{Need: Fraction{1, 0}}, true},
		{"negative share", YesNoRule{Need: Fraction{-1, 2}}, true},
		{"negative denominator", YesNoRule{Need: Fraction{1, -2}}, true},
		{"strict unanimity never passes", YesNoRule{Need: Fraction{1, 1}, Strict: true}, true},
		{"strict without share", YesNoRule{MinYes: 1, Strict: true}, true},
		{"requires nothing", YesNoRule{Quorum: 3}, true},
		{"negative MinYes", YesNoRule{Need: Fraction{1, 2}, MinYes: -1}, true},
		{"negative quorum", YesNoRule{Need: Fraction{1, 2}, Quorum: -1}, true},
		{"unknown denominator", YesNoRule{Need: Fraction{1, 2}, Of: "members"}, true},
		{"unknown deadline", YesNoRule{Need: Fraction{1, 2}, AtDeadline: "extend"}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.rule.Validate()
			if (err != nil) != tt.wantErr {
				t.Fatalf("Validate() = %v, want error %v", err, tt.wantErr)
			}
			if err != nil && !errors.Is(err, ErrInvalidRule) {
				t.Errorf("Validate() = %v, want it to wrap ErrInvalidRule", err)
			}
			if _, derr := tt.rule.Decide(YesNoTally{Eligible: 1}, true); (derr != nil) != tt.wantErr {
				t.Errorf("Decide error = %v, want error %v", derr, tt.wantErr)
			}
		})
	}
}

func TestYesNoTallyValidate(t *testing.T) {
	tests := []struct {
		tally   YesNoTally
		wantErr bool
	}{
		{YesNoTally{}, false},
		{YesNoTally{Yes: 1, No: 1, Abstain: 1, Eligible: 3}, false},
		{YesNoTally{Yes: 2, No: 2, Eligible: 3}, true},
		{YesNoTally{Yes: -1, Eligible: 3}, true},
		{YesNoTally{Eligible: -1}, true},
		{YesNoTally{Yes: maxInt, No: maxInt, Abstain: maxInt, Eligible: maxInt}, true},
	}
	for _, tt := range tests {
		err := tt.tally.Validate()
		if (err != nil) != tt.wantErr {
			t.Errorf("%+v.Validate() = %v, want error %v", tt.tally, err, tt.wantErr)
		}
		if err != nil && !errors.Is(err, ErrInvalidTally) {
			t.Errorf("%+v.Validate() = %v, want it to wrap ErrInvalidTally", tt.tally, err)
		}
		if _, derr := majority.Decide(tt.tally, true); (derr != nil) != tt.wantErr {
			t.Errorf("Decide(%+v) error = %v, want error %v", tt.tally, derr, tt.wantErr)
		}
	}
}

const maxInt = int(^uint(0) >> 1)

func TestYesNoHugeCountsDoNotOverflow(t *testing.T) {
	// yes·Den would overflow int64; the 128-bit comparison must still be exact.
	r := YesNoRule{Need: Fraction{maxInt - 1, maxInt}}
	tally := YesNoTally{Yes: maxInt - 1, No: 1, Eligible: maxInt}
	// (maxInt−1)/maxInt ≥ (maxInt−1)/maxInt exactly.
	if got := decideYesNo(t, r, tally, true); got != Passed {
		t.Errorf("Decide = %s, want passed", got)
	}
	tally = YesNoTally{Yes: maxInt - 2, No: 2, Eligible: maxInt}
	if got := decideYesNo(t, r, tally, true); got != Failed {
		t.Errorf("Decide = %s, want failed", got)
	}
}

// oracleMet is an independent statement of when a rule is met, with big rationals.
func oracleMet(r YesNoRule, yes, no, abstain, eligible int) bool {
	if yes+no+abstain < r.Quorum || yes < r.MinYes {
		return false
	}
	if r.Need.Num == 0 {
		return true
	}
	d := yes + no
	if r.Of == OfEligible {
		d = eligible
	}
	if yes == 0 || d == 0 {
		return false
	}
	c := big.NewRat(int64(yes), int64(d)).Cmp(big.NewRat(int64(r.Need.Num), int64(r.Need.Den)))
	return c > 0 || (c == 0 && !r.Strict)
}

// oracleDecide enumerates every way the remaining members could vote (yes, no, abstain or
// not at all) and applies the documented rule: certain if every completion agrees.
func oracleDecide(r YesNoRule, t YesNoTally, closed bool) Outcome {
	rem := t.Remaining()
	anyMet, anyUnmet := false, false
	for dy := 0; dy <= rem; dy++ {
		for dn := 0; dy+dn <= rem; dn++ {
			for da := 0; dy+dn+da <= rem; da++ {
				if oracleMet(r, t.Yes+dy, t.No+dn, t.Abstain+da, t.Eligible) {
					anyMet = true
				} else {
					anyUnmet = true
				}
			}
		}
	}
	switch {
	case !anyUnmet:
		return Passed
	case !anyMet:
		return Failed
	case !closed:
		return Pending
	case r.AtDeadline == DeadlinePass:
		return Passed
	case r.AtDeadline == DeadlineFail:
		return Failed
	case oracleMet(r, t.Yes, t.No, t.Abstain, t.Eligible):
		return Passed
	}
	return Failed
}

// smallRules returns every valid rule built from small parameters.
func smallRules() []YesNoRule {
	var rules []YesNoRule
	for _, need := range []Fraction{{0, 0}, {1, 3}, {1, 2}, {3, 5}, {2, 3}, {1, 1}} {
		for _, strict := range []bool{false, true} {
			for _, of := range []Denominator{OfCast, OfEligible} {
				for minYes := 0; minYes <= 2; minYes++ {
					for quorum := 0; quorum <= 3; quorum++ {
						for _, at := range []AtDeadline{DeadlineDecide, DeadlinePass, DeadlineFail} {
							r := YesNoRule{Need: need, Strict: strict, Of: of, MinYes: minYes, Quorum: quorum, AtDeadline: at}
							if r.Validate() == nil {
								rules = append(rules, r)
							}
						}
					}
				}
			}
		}
	}
	return rules
}

// TestYesNoMatchesOracle checks Decide against brute force on every small rule and tally.
func TestYesNoMatchesOracle(t *testing.T) {
	rules := smallRules()
	for _, r := range rules {
		for e := 0; e <= 4; e++ {
			for y := 0; y <= e; y++ {
				for n := 0; y+n <= e; n++ {
					for a := 0; y+n+a <= e; a++ {
						tally := YesNoTally{Yes: y, No: n, Abstain: a, Eligible: e}
						for _, closed := range []bool{false, true} {
							got := decideYesNo(t, r, tally, closed)
							if want := oracleDecide(r, tally, closed); got != want {
								t.Fatalf("%+v Decide(%+v, closed=%v) = %s, oracle %s", r, tally, closed, got, want)
							}
						}
					}
				}
			}
		}
	}
}
