package votes

import (
	"reflect"
	"slices"
	"testing"
)

// fuzzNames are the names fuzzed ballots draw from; the last two are not options.
var fuzzNames = []string{"a", "b", "c", "d", "e", "x", ""}

// FuzzRankedChoice checks IRV invariants on arbitrary ballots. data[0] picks 1–5 options;
// the rest is ballots, one byte per entry, 0xff between ballots.
func FuzzRankedChoice(f *testing.F) {
	f.Add([]byte{3, 0, 1, 0xff, 1, 2, 0xff, 2})
	f.Add([]byte{2, 0, 0xff, 1})
	f.Add([]byte{4, 5, 6, 0, 0, 0xff, 0xff, 3, 2, 1, 0})
	f.Fuzz(func(t *testing.T, data []byte) {
		if len(data) == 0 {
			return
		}
		options := fuzzNames[:1+int(data[0])%5]
		ballots := [][]string{{}}
		for _, b := range data[1:] {
			if b == 0xff {
				ballots = append(ballots, []string{})
				continue
			}
			last := len(ballots) - 1
			ballots[last] = append(ballots[last], fuzzNames[int(b)%len(fuzzNames)])
		}
		res, err := RankedChoice(options, ballots)
		if err != nil {
			t.Fatal(err)
		}
		if again, _ := RankedChoice(options, ballots); !reflect.DeepEqual(res, again) {
			t.Fatalf("not deterministic: %+v vs %+v", res, again)
		}
		if res.Winner != "" && !slices.Contains(options, res.Winner) {
			t.Fatalf("winner %q is not an option", res.Winner)
		}
		if res.Counted+res.Ignored != len(ballots) {
			t.Fatalf("counted %d + ignored %d != %d ballots", res.Counted, res.Ignored, len(ballots))
		}
		if len(res.Rounds) == 0 || len(res.Rounds) > len(options) {
			t.Fatalf("%d rounds for %d options", len(res.Rounds), len(options))
		}
		eliminated := map[string]bool{}
		for i, r := range res.Rounds {
			sum := r.Exhausted
			for o, v := range r.Totals {
				if eliminated[o] {
					t.Fatalf("round %d counts eliminated option %q", i+1, o)
				}
				sum += v
			}
			if sum != res.Counted {
				t.Fatalf("round %d: totals + exhausted = %d, want %d", i+1, sum, res.Counted)
			}
			if len(r.Totals)+len(eliminated) != len(options) {
				t.Fatalf("round %d has %d options, %d eliminated, of %d", i+1, len(r.Totals), len(eliminated), len(options))
			}
			last := i == len(res.Rounds)-1
			if (r.Eliminated == "") != last {
				t.Fatalf("round %d eliminated %q (last round: %v)", i+1, r.Eliminated, last)
			}
			if r.Eliminated != "" {
				if _, ok := r.Totals[r.Eliminated]; !ok {
					t.Fatalf("round %d eliminates %q, not in the race", i+1, r.Eliminated)
				}
				for _, v := range r.Totals {
					if v < r.Totals[r.Eliminated] {
						t.Fatalf("round %d eliminates %q but another option has fewer votes", i+1, r.Eliminated)
					}
				}
				eliminated[r.Eliminated] = true
			}
		}
		final := res.Rounds[len(res.Rounds)-1]
		continuing := res.Counted - final.Exhausted
		switch {
		case res.Winner != "":
			if 2*final.Totals[res.Winner] <= continuing || res.Tied != nil {
				t.Fatalf("winner %q has %d of %d continuing ballots (tied %q)", res.Winner, final.Totals[res.Winner], continuing, res.Tied)
			}
		case res.Tied != nil:
			if len(res.Tied) != 2 || final.Totals[res.Tied[0]] != final.Totals[res.Tied[1]] || len(final.Totals) != 2 {
				t.Fatalf("tie %q in final round %+v", res.Tied, final.Totals)
			}
		default:
			if continuing != 0 {
				t.Fatalf("no winner and no tie with %d continuing ballots", continuing)
			}
		}
	})
}

// FuzzYesNoDecide checks that Decide never panics, never stays pending at the deadline, and
// that an early decision holds: it is what the deadline gives with the same ballots, and one more
// ballot of any kind does not change it. Small inputs are also compared with the brute-force oracle.
func FuzzYesNoDecide(f *testing.F) {
	f.Add(1, 2, true, false, 0, 0, uint8(0), 2, 2, 0, 4)
	f.Add(2, 3, false, true, 1, 3, uint8(1), 3, 1, 1, 10)
	f.Add(0, 0, false, false, 3, 0, uint8(2), 1, 3, 0, 5)
	f.Fuzz(func(t *testing.T, num, den int, strict, eligible bool, minYes, quorum int, at uint8, yes, no, abstain, electorate int) {
		r := YesNoRule{Need: Fraction{num, den}, Strict: strict, MinYes: minYes, Quorum: quorum,
			AtDeadline: []AtDeadline{"", DeadlineDecide, DeadlinePass, DeadlineFail, "bogus"}[at%5]}
		if eligible {
			r.Of = OfEligible
		}
		tally := YesNoTally{Yes: yes, No: no, Abstain: abstain, Eligible: electorate}
		early, err1 := r.Decide(tally, false)
		final, err2 := r.Decide(tally, true)
		if (err1 != nil) != (r.Validate() != nil || tally.Validate() != nil) || (err1 == nil) != (err2 == nil) {
			t.Fatalf("errors %v / %v do not match validation", err1, err2)
		}
		if err1 != nil {
			return
		}
		if final == Pending {
			t.Fatalf("%+v %+v: pending at the deadline", r, tally)
		}
		if early != Pending && early != final {
			t.Fatalf("%+v %+v: early %s but %s at the deadline", r, tally, early, final)
		}
		if early != Pending && tally.Remaining() > 0 {
			for _, next := range []YesNoTally{
				{Yes: yes + 1, No: no, Abstain: abstain, Eligible: electorate},
				{Yes: yes, No: no + 1, Abstain: abstain, Eligible: electorate},
				{Yes: yes, No: no, Abstain: abstain + 1, Eligible: electorate},
			} {
				if got, err := r.Decide(next, false); err != nil || got != early {
					t.Fatalf("%+v: early %s on %+v but %s (%v) after one more ballot %+v", r, early, tally, got, err, next)
				}
			}
		}
		if electorate <= 6 && r.Need.Den <= 12 && r.MinYes <= 8 && r.Quorum <= 8 {
			for _, closed := range []bool{false, true} {
				got, _ := r.Decide(tally, closed)
				if want := oracleDecide(r, tally, closed); got != want {
					t.Fatalf("%+v Decide(%+v, closed=%v) = %s, oracle %s", r, tally, closed, got, want)
				}
			}
		}
	})
}
