package votes

import "fmt"

// MaxScale is the largest scale Score accepts (scores 0..MaxScale); it keeps totals far from
// overflow.
const MaxScale = 1000

// Result is the outcome of a single-winner election among options.
type Result struct {
	// Winner is the option with the highest total, or "" when there is none: no option has a
	// total above 0, or several share the highest total (see Tied).
	Winner string
	// Totals has every option, including those with 0.
	Totals map[string]int
	// Tied lists, in options order, the options sharing the highest total when that tie is why
	// there is no winner; nil otherwise.
	Tied []string
	// Counted is the number of ballots that contributed at least one valid choice.
	Counted int
	// Ignored is the number of ballots that contributed nothing (empty or only invalid entries).
	Ignored int
}

// Plurality counts single-choice ballots: each ballot is one option, worth one vote. A ballot
// that is not one of options (including "") is ignored. The option with the most votes wins; a
// tie for first, or no valid ballot, gives no winner. It returns an error wrapping
// ErrInvalidRule when options is empty, has "" or has a duplicate.
func Plurality(options []string, ballots []string) (Result, error) {
	idx, err := indexOptions(options)
	if err != nil {
		return Result{}, err
	}
	totals := make([]int, len(options))
	res := Result{}
	for _, b := range ballots {
		i, ok := idx[b]
		if !ok {
			res.Ignored++
			continue
		}
		totals[i]++
		res.Counted++
	}
	res.finish(options, totals)
	return res, nil
}

// Approval counts approval ballots: each ballot lists the options the voter approves, and each
// approved option gets one vote. An option listed twice on a ballot counts once; entries that are
// not options are skipped, the rest of the ballot still counts. A ballot with no valid entry is
// ignored. The option with the most approvals wins; a tie for first, or no approval at all, gives
// no winner. It returns an error wrapping ErrInvalidRule when options is empty, has "" or has a
// duplicate.
func Approval(options []string, ballots [][]string) (Result, error) {
	idx, err := indexOptions(options)
	if err != nil {
		return Result{}, err
	}
	totals := make([]int, len(options))
	res := Result{}
	seen := make([]bool, len(options))
	for _, b := range ballots {
		clear(seen)
		valid := false
		for _, o := range b {
			if i, ok := idx[o]; ok && !seen[i] {
				seen[i] = true
				totals[i]++
				valid = true
			}
		}
		if valid {
			res.Counted++
		} else {
			res.Ignored++
		}
	}
	res.finish(options, totals)
	return res, nil
}

// Score counts score (range) ballots: each ballot maps options to a whole score from 0 to scale;
// an option the ballot does not score gets 0. An entry whose key is not an option, or whose
// score is below 0 or above scale, is skipped as if unscored (0); the rest of the ballot still
// counts. A ballot with no valid entry is ignored. The option with the highest total score wins;
// a tie for first, or every total 0, gives no winner. It returns an error wrapping
// ErrInvalidRule when options is empty, has "" or has a duplicate, or scale is not in 1..MaxScale.
func Score(options []string, ballots []map[string]int, scale int) (Result, error) {
	idx, err := indexOptions(options)
	if err != nil {
		return Result{}, err
	}
	if scale < 1 || scale > MaxScale {
		return Result{}, fmt.Errorf("%w: score scale 0..%d must have a maximum from 1 to %d", ErrInvalidRule, scale, MaxScale)
	}
	totals := make([]int, len(options))
	res := Result{}
	for _, b := range ballots {
		valid := false
		for o, s := range b {
			if i, ok := idx[o]; ok && s >= 0 && s <= scale {
				totals[i] += s
				valid = true
			}
		}
		if valid {
			res.Counted++
		} else {
			res.Ignored++
		}
	}
	res.finish(options, totals)
	return res, nil
}

// finish fills Totals, Winner and Tied from per-option totals (indexed like options).
func (r *Result) finish(options []string, totals []int) {
	r.Totals = make(map[string]int, len(options))
	for i, o := range options {
		r.Totals[o] = totals[i]
	}
	r.Winner, r.Tied = top(options, totals)
}

// top returns the unique option with the highest total above 0, or else the options tied
// for that highest total (nil when every total is 0).
func top(options []string, totals []int) (string, []string) {
	best := 0
	var tied []string
	for i, t := range totals {
		switch {
		case t > best:
			best, tied = t, []string{options[i]}
		case t == best && best > 0:
			tied = append(tied, options[i])
		}
	}
	if len(tied) == 1 {
		return tied[0], nil
	}
	return "", tied
}

// indexOptions maps each option to its position; "" is refused because it means "no winner".
func indexOptions(options []string) (map[string]int, error) {
	if len(options) == 0 {
		return nil, fmt.Errorf("%w: no options", ErrInvalidRule)
	}
	idx := make(map[string]int, len(options))
	for i, o := range options {
		if o == "" {
			return nil, fmt.Errorf("%w: option %d is empty", ErrInvalidRule, i+1)
		}
		if _, dup := idx[o]; dup {
			return nil, fmt.Errorf("%w: option %q is listed twice", ErrInvalidRule, o)
		}
		idx[o] = i
	}
	return idx, nil
}
