package votes

import (
	"errors"
	"reflect"
	"testing"
)

var abc = []string{"a", "b", "c"}

func checkResult(t *testing.T, got Result, err error, want Result) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got  %+v\nwant %+v", got, want)
	}
}

func totals(a, b, c int) map[string]int { return map[string]int{"a": a, "b": b, "c": c} }

func TestPlurality(t *testing.T) {
	tests := []struct {
		name    string
		ballots []string
		want    Result
	}{
		{"no ballots", nil, Result{Totals: totals(0, 0, 0)}},
		{"clear winner", []string{"a", "b", "a"}, Result{Winner: "a", Totals: totals(2, 1, 0), Counted: 3}},
		{"tie for first", []string{"a", "b", "c", "b", "a"}, Result{Totals: totals(2, 2, 1), Tied: []string{"a", "b"}, Counted: 5}},
		{"invalid choices ignored", []string{"a", "x", "", "A"}, Result{Winner: "a", Totals: totals(1, 0, 0), Counted: 1, Ignored: 3}},
		{"only invalid choices", []string{"x"}, Result{Totals: totals(0, 0, 0), Ignored: 1}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Plurality(abc, tt.ballots)
			checkResult(t, got, err, tt.want)
		})
	}
}

func TestApproval(t *testing.T) {
	tests := []struct {
		name    string
		ballots [][]string
		want    Result
	}{
		{"no ballots", nil, Result{Totals: totals(0, 0, 0)}},
		{"approve several", [][]string{{"a", "b"}, {"b"}, {"b", "c"}}, Result{Winner: "b", Totals: totals(1, 3, 1), Counted: 3}},
		{"duplicates count once", [][]string{{"a", "a", "a"}, {"b"}, {"b"}}, Result{Winner: "b", Totals: totals(1, 2, 0), Counted: 3}},
		{"unknown entries skipped, empty ballots ignored", [][]string{{"x", "c"}, {}, {"x"}}, Result{Winner: "c", Totals: totals(0, 0, 1), Counted: 1, Ignored: 2}},
		{"tie for first", [][]string{{"a", "c"}, {"c", "a"}}, Result{Totals: totals(2, 0, 2), Tied: []string{"a", "c"}, Counted: 2}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Approval(abc, tt.ballots)
			checkResult(t, got, err, tt.want)
		})
	}
}

func TestScore(t *testing.T) {
	tests := []struct {
		name    string
		ballots []map[string]int
		want    Result
	}{
		{"no ballots", nil, Result{Totals: totals(0, 0, 0)}},
		{"highest total wins, unscored is 0", []map[string]int{{"a": 5, "b": 3}, {"b": 4}}, Result{Winner: "b", Totals: totals(5, 7, 0), Counted: 2}},
		{"out of range entries skipped", []map[string]int{{"a": 6, "b": 2}, {"a": -1, "c": 1}}, Result{Winner: "b", Totals: totals(0, 2, 1), Counted: 2}},
		{"ballot with only invalid entries ignored", []map[string]int{{"a": 99}, {"x": 3}, {}}, Result{Totals: totals(0, 0, 0), Ignored: 3}},
		{"all zero: no winner", []map[string]int{{"a": 0, "b": 0}}, Result{Totals: totals(0, 0, 0), Counted: 1}},
		{"tie for first", []map[string]int{{"a": 5, "c": 2}, {"c": 3}}, Result{Totals: totals(5, 0, 5), Tied: []string{"a", "c"}, Counted: 2}},
		{"max score is in range", []map[string]int{{"c": 5}}, Result{Winner: "c", Totals: totals(0, 0, 5), Counted: 1}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Score(abc, tt.ballots, 5)
			checkResult(t, got, err, tt.want)
		})
	}
}

func TestElectionInvalidSetup(t *testing.T) {
	for _, options := range [][]string{nil, {"a", ""}, {"a", "b", "a"}} {
		if _, err := Plurality(options, nil); !errors.Is(err, ErrInvalidRule) {
			t.Errorf("Plurality(%q): err = %v, want ErrInvalidRule", options, err)
		}
		if _, err := Approval(options, nil); !errors.Is(err, ErrInvalidRule) {
			t.Errorf("Approval(%q): err = %v, want ErrInvalidRule", options, err)
		}
		if _, err := Score(options, nil, 5); !errors.Is(err, ErrInvalidRule) {
			t.Errorf("Score(%q): err = %v, want ErrInvalidRule", options, err)
		}
		if _, err := RankedChoice(options, nil); !errors.Is(err, ErrInvalidRule) {
			t.Errorf("RankedChoice(%q): err = %v, want ErrInvalidRule", options, err)
		}
	}
	for _, scale := range []int{0, -1, MaxScale + 1} {
		if _, err := Score(abc, nil, scale); !errors.Is(err, ErrInvalidRule) {
			t.Errorf("Score scale %d: err = %v, want ErrInvalidRule", scale, err)
		}
	}
}
