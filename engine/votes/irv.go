package votes

// Round is one counting round of an instant-runoff election.
type Round struct {
	// Totals has the votes of every option still in the race this round (eliminated options
	// are absent).
	Totals map[string]int
	// Exhausted is the number of counted ballots that rank no option still in the race.
	Exhausted int
	// Eliminated is the option eliminated after this round; "" in the last round.
	Eliminated string
}

// IRVResult is the outcome of an instant-runoff election.
type IRVResult struct {
	// Winner is the option with more than half of the continuing ballots, or "" (see RankedChoice).
	Winner string
	// Tied lists, in options order, the two options left exactly tied when that is why there is
	// no winner; nil otherwise.
	Tied []string
	// Rounds has every counting round in order; the last one decided the result.
	Rounds []Round
	// Counted is the number of ballots that rank at least one valid option.
	Counted int
	// Ignored is the number of ballots that rank no valid option.
	Ignored int
}

// RankedChoice runs an instant-runoff (IRV) election. Each ballot ranks options from most to
// least preferred; it may rank as few as it likes. An entry that is not an option is skipped,
// and an option ranked again later on the same ballot counts only at its first (highest) place;
// the rest of the ballot keeps its order. A ballot left with no valid entry is ignored.
//
// Each round counts every counted ballot for its highest-ranked option still in the race;
// a ballot whose ranked options are all eliminated is exhausted and no longer counts.
//
//   - An option with more than half of the continuing (non-exhausted) ballots wins.
//   - No valid ballot: no winner.
//   - Two options left exactly tied: no winner (Tied lists them).
//   - Otherwise the option with the fewest votes is eliminated. A tie for fewest is broken by
//     eliminating the tied option with fewer votes in the previous round, then the round
//     before, back to round 1; if still tied, the one listed later in options is eliminated.
//
// It returns an error wrapping ErrInvalidRule when options is empty, has "" or has a duplicate.
func RankedChoice(options []string, ballots [][]string) (IRVResult, error) {
	idx, err := indexOptions(options)
	if err != nil {
		return IRVResult{}, err
	}
	res := IRVResult{}
	// Clean the ballots once: option indexes in preference order, first occurrence only.
	clean := make([][]int, 0, len(ballots))
	seen := make([]bool, len(options))
	for _, b := range ballots {
		clear(seen)
		var prefs []int
		for _, o := range b {
			if i, ok := idx[o]; ok && !seen[i] {
				seen[i] = true
				prefs = append(prefs, i)
			}
		}
		if len(prefs) == 0 {
			res.Ignored++
			continue
		}
		clean = append(clean, prefs)
	}
	res.Counted = len(clean)

	in := make([]bool, len(options)) // still in the race
	for i := range in {
		in[i] = true
	}
	left := len(options)
	var history [][]int // per round, votes per option index
	for {
		counts := make([]int, len(options))
		exhausted := 0
		for _, prefs := range clean {
			counted := false
			for _, i := range prefs {
				if in[i] {
					counts[i]++
					counted = true
					break
				}
			}
			if !counted {
				exhausted++
			}
		}
		history = append(history, counts)
		round := Round{Totals: make(map[string]int, left), Exhausted: exhausted}
		for i, o := range options {
			if in[i] {
				round.Totals[o] = counts[i]
			}
		}
		continuing := res.Counted - exhausted
		if continuing == 0 {
			res.Rounds = append(res.Rounds, round)
			return res, nil
		}
		for i, c := range counts {
			if in[i] && 2*c > continuing {
				res.Winner = options[i]
				res.Rounds = append(res.Rounds, round)
				return res, nil
			}
		}
		if left == 2 {
			// Two options and no majority means they are exactly tied.
			for i, o := range options {
				if in[i] {
					res.Tied = append(res.Tied, o)
				}
			}
			res.Rounds = append(res.Rounds, round)
			return res, nil
		}
		loser := eliminate(in, history)
		round.Eliminated = options[loser]
		res.Rounds = append(res.Rounds, round)
		in[loser] = false
		left--
	}
}

// eliminate picks the option to eliminate after the last round of history: the fewest votes,
// ties broken by fewer votes in earlier rounds (latest first), then by the later position.
func eliminate(in []bool, history [][]int) int {
	var cands []int
	for i := range in {
		if in[i] {
			cands = append(cands, i)
		}
	}
	for r := len(history) - 1; r >= 0 && len(cands) > 1; r-- {
		low := -1
		for _, i := range cands {
			if low < 0 || history[r][i] < low {
				low = history[r][i]
			}
		}
		keep := cands[:0]
		for _, i := range cands {
			if history[r][i] == low {
				keep = append(keep, i)
			}
		}
		cands = keep
	}
	return cands[len(cands)-1]
}
