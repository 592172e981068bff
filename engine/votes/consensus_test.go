package votes

import (
	"errors"
	"testing"
)

func TestConsensusDecide(t *testing.T) {
	const open, closed = false, true
	rule := ConsensusRule{MinAgree: 3}
	tests := []struct {
		name   string
		rule   ConsensusRule
		tally  ConsensusTally
		closed bool
		want   Outcome
	}{
		{"zero votes before deadline", rule, ConsensusTally{Eligible: 5}, open, Pending},
		{"zero votes at deadline", rule, ConsensusTally{Eligible: 5}, closed, Failed},
		{"no electorate", rule, ConsensusTally{}, open, Failed},
		{"enough agree but members left: wait", rule, ConsensusTally{Agree: 3, Eligible: 5}, open, Pending},
		{"enough agree at deadline", rule, ConsensusTally{Agree: 3, Disagree: 1, Eligible: 5}, closed, Passed},
		{"everyone voted, no block: early pass", rule, ConsensusTally{Agree: 3, Abstain: 1, Disagree: 1, Eligible: 5}, open, Passed},
		{"disagree does not stop it", rule, ConsensusTally{Agree: 3, Disagree: 4, Eligible: 7}, closed, Passed},
		{"block before deadline stays pending", rule, ConsensusTally{Agree: 4, Block: 1, Eligible: 5}, open, Pending},
		{"block at deadline fails", rule, ConsensusTally{Agree: 4, Block: 1, Eligible: 5}, closed, Failed},
		{"MinAgree out of reach fails early", rule, ConsensusTally{Agree: 1, Disagree: 2, Abstain: 1, Eligible: 5}, open, Failed},
		{"MinAgree reachable at deadline but not reached", rule, ConsensusTally{Agree: 2, Eligible: 5}, closed, Failed},
		{"all abstain fails", rule, ConsensusTally{Abstain: 5, Eligible: 5}, open, Failed},
		{"consent (MinAgree 0): silence passes at deadline", ConsensusRule{}, ConsensusTally{Eligible: 5}, closed, Passed},
		{"consent (MinAgree 0): waits before deadline", ConsensusRule{}, ConsensusTally{Agree: 1, Eligible: 5}, open, Pending},
		{"consent (MinAgree 0): block fails at deadline", ConsensusRule{}, ConsensusTally{Block: 1, Eligible: 5}, closed, Failed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := tt.rule.Decide(tt.tally, tt.closed)
			if err != nil {
				t.Fatal(err)
			}
			if got != tt.want {
				t.Errorf("Decide(%+v, closed=%v) = %s, want %s", tt.tally, tt.closed, got, tt.want)
			}
		})
	}
}

func TestLazyConsensusDecide(t *testing.T) {
	const open, closed = false, true
	rule := LazyConsensusRule{Objections: 2}
	tests := []struct {
		name   string
		tally  YesNoTally
		closed bool
		want   Outcome
	}{
		{"silence before deadline", YesNoTally{Eligible: 5}, open, Pending},
		{"silence passes at deadline", YesNoTally{Eligible: 5}, closed, Passed},
		{"one objection passes at deadline", YesNoTally{No: 1, Eligible: 5}, closed, Passed},
		{"objections reach the limit: fails early", YesNoTally{No: 2, Eligible: 5}, open, Failed},
		{"objections reach the limit at deadline", YesNoTally{Yes: 3, No: 2, Eligible: 5}, closed, Failed},
		{"too few members left to object: passes early", YesNoTally{Yes: 3, No: 1, Eligible: 4}, open, Passed},
		{"one member left could make it fail", YesNoTally{Yes: 2, No: 1, Eligible: 4}, open, Pending},
		{"no electorate passes", YesNoTally{}, open, Passed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := rule.Decide(tt.tally, tt.closed)
			if err != nil {
				t.Fatal(err)
			}
			if got != tt.want {
				t.Errorf("Decide(%+v, closed=%v) = %s, want %s", tt.tally, tt.closed, got, tt.want)
			}
		})
	}
}

func TestConsensusInvalid(t *testing.T) {
	if _, err := (ConsensusRule{MinAgree: -1}).Decide(ConsensusTally{Eligible: 1}, true); !errors.Is(err, ErrInvalidRule) {
		t.Errorf("negative MinAgree: err = %v, want ErrInvalidRule", err)
	}
	if _, err := (ConsensusRule{}).Decide(ConsensusTally{Agree: 2, Eligible: 1}, true); !errors.Is(err, ErrInvalidTally) {
		t.Errorf("more ballots than eligible: err = %v, want ErrInvalidTally", err)
	}
	if _, err := (LazyConsensusRule{}).Decide(YesNoTally{Eligible: 1}, true); !errors.Is(err, ErrInvalidRule) {
		t.Errorf("Objections 0: err = %v, want ErrInvalidRule", err)
	}
	if _, err := (LazyConsensusRule{Objections: 1}).Decide(YesNoTally{No: -1, Eligible: 1}, true); !errors.Is(err, ErrInvalidTally) {
		t.Errorf("negative no: err = %v, want ErrInvalidTally", err)
	}
}

// TestConsensusEarlyDecisionsHold checks, on every small tally, that an early decision is the
// one the deadline gives with the same ballots and with any further ballots.
func TestConsensusEarlyDecisionsHold(t *testing.T) {
	for minAgree := 0; minAgree <= 3; minAgree++ {
		r := ConsensusRule{MinAgree: minAgree}
		for e := 0; e <= 4; e++ {
			forEachSplit(e, 4, func(c []int) {
				tally := ConsensusTally{Agree: c[0], Abstain: c[1], Disagree: c[2], Block: c[3], Eligible: e}
				early := mustConsensus(t, r, tally, false)
				if early == Pending {
					return
				}
				forEachSplit(tally.Remaining(), 4, func(d []int) {
					later := ConsensusTally{Agree: c[0] + d[0], Abstain: c[1] + d[1], Disagree: c[2] + d[2], Block: c[3] + d[3], Eligible: e}
					if got := mustConsensus(t, r, later, true); got != early {
						t.Fatalf("%+v: early %s on %+v but %s at deadline on %+v", r, early, tally, got, later)
					}
				})
			})
		}
	}
	for objections := 1; objections <= 3; objections++ {
		r := LazyConsensusRule{Objections: objections}
		for e := 0; e <= 4; e++ {
			forEachSplit(e, 3, func(c []int) {
				tally := YesNoTally{Yes: c[0], No: c[1], Abstain: c[2], Eligible: e}
				early, err := r.Decide(tally, false)
				if err != nil {
					t.Fatal(err)
				}
				if early == Pending {
					return
				}
				forEachSplit(tally.Remaining(), 3, func(d []int) {
					later := YesNoTally{Yes: c[0] + d[0], No: c[1] + d[1], Abstain: c[2] + d[2], Eligible: e}
					if got, _ := r.Decide(later, true); got != early {
						t.Fatalf("%+v: early %s on %+v but %s at deadline on %+v", r, early, tally, got, later)
					}
				})
			})
		}
	}
}

func mustConsensus(t *testing.T, r ConsensusRule, tally ConsensusTally, closed bool) Outcome {
	t.Helper()
	got, err := r.Decide(tally, closed)
	if err != nil {
		t.Fatalf("Decide(%+v): %v", tally, err)
	}
	return got
}

// forEachSplit calls f with every k non-negative counts whose sum is at most total.
func forEachSplit(total, k int, f func([]int)) {
	c := make([]int, k)
	var rec func(i, left int)
	rec = func(i, left int) {
		if i == k {
			f(c)
			return
		}
		for v := 0; v <= left; v++ {
			c[i] = v
			rec(i+1, left-v)
		}
	}
	rec(0, total)
}
