// Package votes counts votes with exact, documented rules. The policy engine calls these pure
// functions from policy programs, and the policy builder quotes the rules below in plain
// language, so every rule states its denominator, its comparison, and what abstentions, ties,
// zero votes and the deadline do.
//
// Everything is pure (no I/O, no globals) and exact: shares are compared in integers, so
// "yes is at least 2/3 of D" means yes·3 ≥ 2·D, never a float.
//
// Words used below: eligible = the members allowed to vote, snapshotted when the ballot opens;
// cast = ballots submitted (yes + no + abstain); remaining = eligible members who have not voted.
//
// # Yes/no methods (YesNoRule)
//
// A rule is met when: yes+no+abstain ≥ Quorum, yes ≥ MinYes, and (if Need is set)
// yes > Need·D (Strict) or yes ≥ Need·D, with D = yes+no (Of cast) or D = eligible
// (Of eligible); a share is never met with zero yes.
//
//	Method                    Rule                                     Met when                          Edges
//	majority                  {Need: 1/2, Strict}                      yes > ½·(yes+no)                  2–2 fails; all abstain fails
//	absolute majority         {Need: 1/2, Strict, Of: eligible}        yes > ½·eligible                  non-voters weigh like no
//	supermajority p/q         {Need: p/q}                              yes ≥ p/q·(yes+no)                2 yes, 1 no passes 2/3
//	unanimity                 {Need: 1/1}                              yes ≥ 1 and no = 0                one no fails at once
//	threshold k               {MinYes: k}                              yes ≥ k                           fails once k is out of reach
//	quorum q (any of above)   Quorum: q                                yes+no+abstain ≥ q                abstentions count
//
// Early decision: the ballot closes before the deadline as soon as the outcome is certain,
// assuming ballots cast stand: Passed if the rule is met and would stay met if every remaining
// member voted no; Failed if it would not be met even if every remaining member voted yes.
// Otherwise it stays pending until the deadline, where AtDeadline decides: "decide" (default)
// applies the rule to the ballots cast, "pass" passes, "fail" fails. A decision is never
// changed by the deadline: an early result is the one the deadline would give.
//
// # Consensus methods
//
//	Method                    Rule                           Passes                                  Fails
//	consensus with blocks     ConsensusRule{MinAgree: k}     no block and agree ≥ k: early once      agree+remaining < k (any time);
//	                                                         everyone voted, else at the deadline    a block at the deadline (a block
//	                                                                                                 before it only keeps it pending)
//	lazy consensus            LazyConsensusRule{             at the deadline if no < n; early once   as soon as no ≥ n
//	                            Objections: n}               no+remaining < n
//
// Disagree and abstain never stop a consensus; only a block does.
//
// # Elections (single winner)
//
//	Method        Ballot                        Invalid entries                              Winner
//	Plurality     one option                    not an option: ballot ignored                most votes
//	Approval      any set of options            unknown skipped; duplicates count once       most approvals
//	Score         option → 0..scale             unknown or out of range skipped (= 0)        highest total
//	RankedChoice  options in preference order   unknown skipped; repeats count at first      > half of continuing ballots (IRV)
//
// Plurality, Approval, Score: no winner when several options share the highest total (Tied
// lists them) or no option has a total above 0. RankedChoice: each round counts every ballot
// for its highest-ranked option still in the race (ballots with none left are exhausted); an
// option with more than half of the continuing ballots wins; else the option with the fewest
// votes is eliminated, a tie broken by fewer votes in the previous round, then earlier rounds,
// then by eliminating the option listed later; two options left exactly tied, or no valid
// ballot, give no winner.
package votes
