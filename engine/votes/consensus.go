package votes

import "fmt"

// ConsensusTally counts a consensus ballot with the options agree / abstain / disagree /
// block. Eligible is the size of the electorate snapshotted when the ballot opened.
type ConsensusTally struct{ Agree, Abstain, Disagree, Block, Eligible int }

// Cast returns the number of ballots cast: Agree+Abstain+Disagree+Block.
func (t ConsensusTally) Cast() int { return t.Agree + t.Abstain + t.Disagree + t.Block }

// Remaining returns how many eligible members have not voted: Eligible−Cast, never negative.
func (t ConsensusTally) Remaining() int { return max(0, t.Eligible-t.Cast()) }

// Validate reports a negative count or more ballots than eligible members.
func (t ConsensusTally) Validate() error {
	return checkCounts(t.Eligible, []string{"agree", "abstain", "disagree", "block"},
		t.Agree, t.Abstain, t.Disagree, t.Block)
}

// ConsensusRule is consensus with blocks: it passes when nobody blocks and at least MinAgree
// members agree. Disagree and abstain are recorded but never stop a proposal; only a block
// does. MinAgree 0 is consent: it passes at the deadline unless someone blocks.
type ConsensusRule struct {
	// MinAgree is the number of agree votes required (≥ 0).
	MinAgree int
}

// Validate reports a negative MinAgree.
func (r ConsensusRule) Validate() error {
	if r.MinAgree < 0 {
		return fmt.Errorf("%w: MinAgree %d is negative", ErrInvalidRule, r.MinAgree)
	}
	return nil
}

// Decide returns the outcome of tally t; closed says whether the deadline has passed.
//
//   - Failed at any time once Agree+Remaining < MinAgree (MinAgree is out of reach).
//   - Before the deadline: Passed only when every eligible member has voted, Block = 0 and
//     Agree ≥ MinAgree; otherwise Pending. A block keeps the proposal Pending rather than
//     failing it, because a block asks for the proposal to be amended and may be withdrawn.
//   - At the deadline: Failed if Block > 0, else Passed if Agree ≥ MinAgree, else Failed.
//
// It returns an error wrapping ErrInvalidRule or ErrInvalidTally (and Pending) when r or t
// is invalid.
func (r ConsensusRule) Decide(t ConsensusTally, closed bool) (Outcome, error) {
	if err := r.Validate(); err != nil {
		return Pending, err
	}
	if err := t.Validate(); err != nil {
		return Pending, err
	}
	rem := t.Remaining()
	met := t.Block == 0 && t.Agree >= r.MinAgree
	switch {
	case t.Agree+rem < r.MinAgree:
		return Failed, nil
	case met && (closed || rem == 0):
		return Passed, nil
	case closed:
		return Failed, nil
	}
	return Pending, nil
}

// LazyConsensusRule passes unless Objections members object. An objection is a no vote;
// yes and abstain only count as having responded.
type LazyConsensusRule struct {
	// Objections is the number of no votes that fails the proposal (≥ 1).
	Objections int
}

// Validate reports Objections < 1 (0 would fail every proposal before anyone votes).
func (r LazyConsensusRule) Validate() error {
	if r.Objections < 1 {
		return fmt.Errorf("%w: Objections %d must be at least 1", ErrInvalidRule, r.Objections)
	}
	return nil
}

// Decide returns the outcome of tally t; closed says whether the deadline has passed.
//
//   - Failed at any time as soon as No ≥ Objections.
//   - Passed before the deadline once No+Remaining < Objections (too few members left to
//     object), and at the deadline whenever No < Objections.
//   - Otherwise Pending.
//
// It returns an error wrapping ErrInvalidRule or ErrInvalidTally (and Pending) when r or t
// is invalid.
func (r LazyConsensusRule) Decide(t YesNoTally, closed bool) (Outcome, error) {
	if err := r.Validate(); err != nil {
		return Pending, err
	}
	if err := t.Validate(); err != nil {
		return Pending, err
	}
	switch {
	case t.No >= r.Objections:
		return Failed, nil
	case closed || t.No+t.Remaining() < r.Objections:
		return Passed, nil
	}
	return Pending, nil
}
