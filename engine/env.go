package engine

import (
	"time"
)

// Outcomes a check stage returns.
const (
	Passed  = "passed"
	Failed  = "failed"
	Pending = "pending"
)

// Env is the whole world of a policy program: the values and functions below, nothing else.
// It is the contract the policy editor documents (expr tags are the names policy code uses).
// Programs are pure: effect functions (execute, revert, notify, post, start_vote, set,
// grant_role, revoke_role) only record intents, which the engine stores with the decision.
type Env struct {
	Action    ActionInfo    `expr:"action"`
	Proposal  ProposalInfo  `expr:"proposal"`
	Policy    PolicyInfo    `expr:"policy"`
	Community CommunityInfo `expr:"community"`
	// Now is the time of this evaluation, fixed for the whole run (expr's now() is disabled).
	Now     time.Time `expr:"now"`
	PASSED  string    `expr:"PASSED"`
	FAILED  string    `expr:"FAILED"`
	PENDING string    `expr:"PENDING"`

	// Members: ids of the community's current members.
	Members func() []int `expr:"members"`
	// WithRole: ids of the members holding a role.
	WithRole func(role string) []int `expr:"with_role"`
	// HasRole: whether a member (an id, or action.initiator) holds a role.
	HasRole func(who any, role string) bool `expr:"has_role"`
	// Sample: k members drawn at random from a list, reproducibly: the draw is seeded by the
	// proposal, so re-evaluating it always gives the same jury. k larger than the list is an error.
	Sample func(list any, k int) []int `expr:"sample"`
	// Eligible: the electorate frozen when the ballot opened (all members if none is open).
	Eligible func() []int `expr:"eligible"`

	// Yes / No / Abstain: votes with that value, among a list of members (default: eligible).
	Yes     func(among ...any) int `expr:"yes"`
	No      func(among ...any) int `expr:"no"`
	Abstain func(among ...any) int `expr:"abstain"`
	// Votes: votes([value], [among]) counts ballots, optionally only those with a value.
	Votes func(args ...any) int `expr:"votes"`
	// Voters: how many members of a list (default: eligible) have voted.
	Voters func(among ...any) int `expr:"voters"`
	// Turnout: voters divided by the size of the list (default: eligible), 0 when empty.
	Turnout func(among ...any) float64 `expr:"turnout"`

	// Vote-counting methods. Each returns PASSED, FAILED or PENDING by an exact rule (see
	// engine/votes). opts is a map: among (list, default eligible), of ("cast" | "eligible"),
	// quorum (int), deadline (duration or "48h"), at_deadline ("decide" | "pass" | "fail").
	Majority      func(opts ...map[string]any) string                    `expr:"majority"`
	Supermajority func(num, den int, opts ...map[string]any) string      `expr:"supermajority"`
	Unanimity     func(opts ...map[string]any) string                    `expr:"unanimity"`
	Threshold     func(k int, opts ...map[string]any) string             `expr:"threshold"`
	Consensus     func(minAgree int, opts ...map[string]any) string      `expr:"consensus"`
	LazyConsensus func(maxObjections int, opts ...map[string]any) string `expr:"lazy_consensus"`
	// Election winners among the ballot's options ("" when there is none).
	PluralityWinner    func(opts ...map[string]any) string `expr:"plurality_winner"`
	ApprovalWinner     func(opts ...map[string]any) string `expr:"approval_winner"`
	RankedChoiceWinner func(opts ...map[string]any) string `expr:"ranked_choice_winner"`
	ScoreWinner        func(opts ...map[string]any) string `expr:"score_winner"`

	// Get reads the proposal's memory; Set writes it (visible to later stages).
	Get func(key string) any             `expr:"get"`
	Set func(key string, value any) bool `expr:"set"`

	// Effects (recorded, delivered after the decision is stored).
	// Execute carries out the action (for an election, the winning candidate: execute(winner)).
	Execute func(candidate ...any) bool `expr:"execute"`
	// Revert undoes an action that happened on the platform.
	Revert func() bool `expr:"revert"`
	// Notify messages members privately: notify(list or id, text).
	Notify func(who any, text string) bool `expr:"notify"`
	// Post writes a message where the action happened.
	Post func(text string) bool `expr:"post"`
	// StartVote opens the ballot: start_vote(kind, {among, options, max, dm}). Kinds: yes_no,
	// choice, approval, ranking, score, consensus.
	StartVote func(kind string, opts ...map[string]any) bool `expr:"start_vote"`
	// GrantRole / RevokeRole change a member's roles when the decision is stored.
	GrantRole  func(who any, role string) bool `expr:"grant_role"`
	RevokeRole func(who any, role string) bool `expr:"revoke_role"`

	// Text functions that can build much more than they are given, charged to the run's
	// budget before they build (they replace expr's builtins of the same names).
	Repeat     func(s string, n int) string           `expr:"repeat"`
	Join       func(list any, glue ...string) string  `expr:"join"`
	Replace    func(s, old, repl string) string       `expr:"replace"`
	Split      func(s, sep string, n ...int) []string `expr:"split"`
	SplitAfter func(s, sep string, n ...int) []string `expr:"splitAfter"`

	meter *meter // this run's budget, charged by the calls the compiler inserts
}

// budgetedBuiltins are expr's builtins that Env replaces with charged versions.
var budgetedBuiltins = []string{"repeat", "join", "replace", "split", "splitAfter"}

// ActionInfo is the action under governance.
type ActionInfo struct {
	ID        int64          `expr:"id"`
	Type      string         `expr:"type"`
	Kind      string         `expr:"kind"`
	Platform  string         `expr:"platform"`
	Origin    string         `expr:"origin"`
	Initiator MemberInfo     `expr:"initiator"`
	Channel   string         `expr:"channel"` // the platform channel, when there is one
	Text      string         `expr:"text"`    // the message text, when there is one
	Params    map[string]any `expr:"params"`
	// Candidates are the options of an election (action bundle): their labels.
	Candidates []string `expr:"candidates"`
}

// MemberInfo is a member as policies see it.
type MemberInfo struct {
	ID    int      `expr:"id"`
	Name  string   `expr:"name"`
	Roles []string `expr:"roles"`
}

// ProposalInfo is the proposal being evaluated.
type ProposalInfo struct {
	ID        int64          `expr:"id"`
	Age       time.Duration  `expr:"age"` // now minus creation
	CreatedAt time.Time      `expr:"created_at"`
	Data      map[string]any `expr:"data"`
	Votes     int            `expr:"votes"`  // ballots cast so far
	Stage     int            `expr:"stage"`  // 0 for the first policy of a bundle
	Ballot    string         `expr:"ballot"` // the open ballot's kind, "" if none
}

// PolicyInfo is the policy (version) deciding.
type PolicyInfo struct {
	ID      int64  `expr:"id"`
	Name    string `expr:"name"`
	Kind    string `expr:"kind"`
	Version int    `expr:"version"`
}

// CommunityInfo is the community (its members are members(); their number, len(members())).
type CommunityInfo struct {
	Name string `expr:"name"`
	Slug string `expr:"slug"`
}
