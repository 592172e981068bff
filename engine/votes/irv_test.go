package votes

import (
	"reflect"
	"testing"
)

// repeat returns n copies of ballot.
func repeat(n int, ballot ...string) [][]string {
	out := make([][]string, n)
	for i := range out {
		out[i] = ballot
	}
	return out
}

func concat(groups ...[][]string) [][]string {
	var out [][]string
	for _, g := range groups {
		out = append(out, g...)
	}
	return out
}

func TestRankedChoice(t *testing.T) {
	tests := []struct {
		name    string
		options []string
		ballots [][]string
		want    IRVResult
	}{
		{
			name:    "majority in round 1",
			options: abc,
			ballots: [][]string{{"a", "b"}, {"a"}, {"a", "c"}, {"b"}, {"c"}},
			want: IRVResult{Winner: "a", Counted: 5, Rounds: []Round{
				{Totals: totals(3, 1, 1)},
			}},
		},
		{
			name:    "elimination transfers votes",
			options: abc,
			ballots: concat(repeat(4, "a"), repeat(2, "b", "a"), repeat(3, "c", "b")),
			want: IRVResult{Winner: "a", Counted: 9, Rounds: []Round{
				{Totals: totals(4, 2, 3), Eliminated: "b"},
				{Totals: map[string]int{"a": 6, "c": 3}},
			}},
		},
		{
			name:    "exhausted ballots leave the count",
			options: abc,
			ballots: concat(repeat(4, "a"), repeat(2, "b"), repeat(3, "c")),
			// a wins with 4 of the 7 continuing ballots, not of all 9.
			want: IRVResult{Winner: "a", Counted: 9, Rounds: []Round{
				{Totals: totals(4, 2, 3), Eliminated: "b"},
				{Totals: map[string]int{"a": 4, "c": 3}, Exhausted: 2},
			}},
		},
		{
			name: "elimination tie broken by the previous round",
			// Round 2 ties b and c at 3; c had fewer in round 1 (2 < 3), so c goes, although
			// option order alone would eliminate b (listed later).
			options: []string{"a", "c", "b", "d"},
			ballots: concat(repeat(5, "a"), repeat(3, "b"), repeat(2, "c", "b"), repeat(1, "d", "c", "b")),
			want: IRVResult{Winner: "b", Counted: 11, Rounds: []Round{
				{Totals: map[string]int{"a": 5, "b": 3, "c": 2, "d": 1}, Eliminated: "d"},
				{Totals: map[string]int{"a": 5, "b": 3, "c": 3}, Eliminated: "c"},
				{Totals: map[string]int{"a": 5, "b": 6}},
			}},
		},
		{
			name:    "elimination tie broken by option order: later listed goes",
			options: abc,
			ballots: concat(repeat(3, "a"), repeat(2, "b"), repeat(2, "c", "b")),
			want: IRVResult{Winner: "b", Counted: 7, Rounds: []Round{
				{Totals: totals(3, 2, 2), Eliminated: "c"},
				{Totals: map[string]int{"a": 3, "b": 4}},
			}},
		},
		{
			name:    "same ballots, other option order: b goes and a wins",
			options: []string{"a", "c", "b"},
			ballots: concat(repeat(3, "a"), repeat(2, "b"), repeat(2, "c", "b")),
			want: IRVResult{Winner: "a", Counted: 7, Rounds: []Round{
				{Totals: totals(3, 2, 2), Eliminated: "b"},
				{Totals: map[string]int{"a": 3, "c": 2}, Exhausted: 2},
			}},
		},
		{
			name:    "final two-way tie: no winner",
			options: abc,
			ballots: concat(repeat(2, "a"), repeat(2, "b"), repeat(1, "c", "a"), repeat(1, "c", "b")),
			want: IRVResult{Tied: []string{"a", "b"}, Counted: 6, Rounds: []Round{
				{Totals: totals(2, 2, 2), Eliminated: "c"},
				{Totals: map[string]int{"a": 3, "b": 3}},
			}},
		},
		{
			name:    "unknown options skipped, repeats count at first place, empty ballots ignored",
			options: abc,
			ballots: [][]string{{"x", "b", "b", "a"}, {"c", "c"}, {"x"}, {}, {"a"}},
			// Ballot 1 is b>a. Round 1: a1 b1 c1 → c goes (tie, listed last); round 2: a1 b1, tied.
			want: IRVResult{Tied: []string{"a", "b"}, Counted: 3, Ignored: 2, Rounds: []Round{
				{Totals: totals(1, 1, 1), Eliminated: "c"},
				{Totals: map[string]int{"a": 1, "b": 1}, Exhausted: 1},
			}},
		},
		{
			name:    "no ballots",
			options: abc,
			want:    IRVResult{Rounds: []Round{{Totals: totals(0, 0, 0)}}},
		},
		{
			name:    "single option",
			options: []string{"a"},
			ballots: [][]string{{"a"}, {"z"}},
			want:    IRVResult{Winner: "a", Counted: 1, Ignored: 1, Rounds: []Round{{Totals: map[string]int{"a": 1}}}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := RankedChoice(tt.options, tt.ballots)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("got  %+v\nwant %+v", got, tt.want)
			}
		})
	}
}
