package engine

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"math/rand/v2"
	"runtime"
	"sort"
	"strings"
	"time"

	"github.com/expr-lang/expr/file"
	"github.com/expr-lang/expr/vm"

	"policykit/models"
)

// Intent is an effect a policy program recorded; the engine turns intents into stored
// effects and constitution changes when it saves the decision.
type Intent struct {
	Kind    string         `json:"kind"` // execute, revert, notify, post, start_vote, grant_role, revoke_role
	Payload map[string]any `json:"payload,omitempty"`
	Stage   string         `json:"stage"`
}

// Intent kinds.
const (
	IntentExecute    = "execute"
	IntentRevert     = "revert"
	IntentNotify     = "notify"
	IntentPost       = "post"
	IntentStartVote  = "start_vote"
	IntentGrantRole  = "grant_role"
	IntentRevokeRole = "revoke_role"
)

// evaluation is the state of evaluating one proposal: its inputs (fixed for the run) and the
// intents and data changes the stages produce.
type evaluation struct {
	now       time.Time
	action    *models.Action
	proposal  *models.Proposal
	version   *models.PolicyVersion
	community *communityView
	initiator MemberInfo
	votes     []castVote
	data      map[string]any
	ballot    *models.Ballot
	intents   []Intent
	stage     string
	samples   int
	dataDirty bool
	ballotNew bool
	reads     communityReads
	meter     *meter         // the running stage's budget
	spent     meter          // what the last stage run used
	inTx      *time.Duration // the request's evaluation (CPU) time, in a shared transaction
	inTxSteps *int64         // and the steps it counted
	byMember  map[int]any    // votes by member, made when first needed
	dataSizes map[string]int // stored size of each key of data, once set() is called
	dataTotal int
	recorded  int // bytes of intents recorded
}

// communityReads are the member and role lists an evaluation read. They are recorded with a
// decision, so that the audit re-tally sees the community as the check saw it, not as it is
// after later role changes and departures.
type communityReads struct {
	Members []int            `json:"members,omitempty"`
	Roles   map[string][]int `json:"roles,omitempty"`
	Left    []int            `json:"left,omitempty"` // ballot electors who had left
	// InitiatorRoles are the roles the initiator had (action.initiator, has_role).
	InitiatorRoles []string `json:"initiator_roles,omitempty"`
}

func (r communityReads) empty() bool {
	return r.Members == nil && len(r.Roles) == 0 && len(r.Left) == 0 && len(r.InitiatorRoles) == 0
}

// recordedView is a community view that answers from what a decision recorded (falling
// back to the current community for anything it did not record).
func recordedView(ctx context.Context, store *models.Store, c *models.Community, r *communityReads) *communityView {
	v := newCommunityView(ctx, store, c, nil)
	v.members = r.Members
	maps.Copy(v.roles, r.Roles)
	v.left = make(map[int]bool, len(r.Left))
	for _, id := range r.Left {
		v.left[id] = true
	}
	return v
}

func (ev *evaluation) memberIDs() []int {
	ids := ev.community.memberIDs()
	ev.reads.Members = ids
	return ids
}

func (ev *evaluation) withRole(role string) []int {
	ids := ev.community.withRole(role)
	if ev.reads.Roles == nil {
		ev.reads.Roles = map[string][]int{}
	}
	ev.reads.Roles[role] = ids
	return ids
}

// newEvaluation prepares the evaluation of a proposal at a fixed time. The proposal's data
// is copied: the stored proposal changes only when the engine saves the evaluation.
func newEvaluation(now time.Time, a *models.Action, p *models.Proposal, v *models.PolicyVersion, view *communityView, initiator MemberInfo, vs []castVote) *evaluation {
	data := maps.Clone(p.Data)
	if data == nil {
		data = map[string]any{}
	}
	return &evaluation{now: now, action: a, proposal: p, version: v, community: view, initiator: initiator,
		votes: vs, data: data, ballot: p.Ballot, reads: communityReads{InitiatorRoles: initiator.Roles}}
}

// castVote is a vote with its value decoded.
type castVote struct {
	member int
	value  any // string, []any or map[string]any, as decoded from JSON
}

func decodeVotes(vs []models.Vote) []castVote {
	out := make([]castVote, 0, len(vs))
	for _, v := range vs {
		var val any
		if err := json.Unmarshal([]byte(v.Value), &val); err != nil {
			continue
		}
		out = append(out, castVote{member: int(v.MemberID), value: val})
	}
	return out
}

// policyError is an error raised while running a stage, kept with the stage name.
type policyError struct {
	Stage string
	Err   error
}

func (e *policyError) Error() string { return fmt.Sprintf("%s stage: %v", e.Stage, e.Err) }
func (e *policyError) Unwrap() error { return e.Err }

// fail aborts the running program with a message the policy author will read. expr's VM
// recovers panics raised by functions and returns them as errors with the position.
func fail(format string, args ...any) { panic(fmt.Errorf(format, args...)) }

// run executes one stage's program (nil: the stage's default) and returns its value.
func (ev *evaluation) run(stage string, prog *vm.Program) (out any, err error) {
	ev.stage = stage
	if prog == nil {
		switch stage {
		case StageFilter:
			return true, nil
		case StageCheck:
			return Passed, nil
		case StagePass:
			ev.record(IntentExecute, nil)
			return true, nil
		}
		return nil, nil
	}
	m := newMeter()
	if ev.inTx != nil && *ev.inTx >= maxRequestEval {
		return nil, &policyError{Stage: stage, Err: requestOverBudget()}
	}
	ev.meter = m
	if cpuClock {
		runtime.LockOSThread() // the time budgets read this thread's CPU clock
	}
	if ev.inTx != nil {
		// In a transaction others may wait on: the clock starts now, and the stage may also
		// use only what is left of the request's budget.
		start := threadCPU()
		m.started, m.deadline, m.requestCut = true, start+min(maxStageTime, maxRequestEval-*ev.inTx), maxRequestEval-*ev.inTx < maxStageTime
		defer func() { *ev.inTx += threadCPU() - start }()
	}
	defer func() {
		if cpuClock {
			runtime.UnlockOSThread()
		}
		ev.spent, ev.meter = *m, nil
		if ev.inTxSteps != nil {
			*ev.inTxSteps += m.steps
		}
	}()
	env := ev.env()
	machine := vm.VM{MemoryBudget: vmMemoryBudget}
	out, err = machine.Run(prog, env)
	if err != nil {
		var fe *file.Error
		if errors.As(err, &fe) && fe.Message == "memory budget exceeded" { // expr's own budget
			fe.Message = fmt.Sprintf("the program builds too much: more than %d list elements", vmMemoryBudget)
			fe.Prev = &budgetError{fe.Message}
		}
		return nil, &policyError{Stage: stage, Err: err}
	}
	if stage == StageCheck {
		if s, _ := out.(string); s != Passed && s != Failed && s != Pending {
			return nil, &policyError{Stage: stage, Err: fmt.Errorf("check must return PASSED, FAILED or PENDING, not %s", describe(out))}
		}
	}
	return out, nil
}

// describe names a value a stage returned without printing all of it (it may be huge).
func describe(v any) string {
	if s, ok := v.(string); ok {
		if len(s) > 40 {
			s = s[:40] + "…"
		}
		return fmt.Sprintf("the text %q", s)
	}
	if v == nil {
		return "nil"
	}
	return fmt.Sprintf("a value of type %T", v)
}

func (ev *evaluation) record(kind string, payload map[string]any) bool {
	size := len(kind)
	for k, v := range payload {
		size += len(k)
		switch x := v.(type) {
		case string:
			size += len(x)
		case []int:
			size += 8 * len(x)
		}
	}
	if ev.recorded += size; ev.recorded > maxRecorded {
		fail("%s: the policy recorded more than %d KiB of messages and effects for this proposal at once (the limit)", kind, maxRecorded>>10)
	}
	ev.intents = append(ev.intents, Intent{Kind: kind, Payload: payload, Stage: ev.stage})
	return true
}

// dataFits refuses a set() that would make the proposal's memory larger than maxDataSize
// (what it holds is stored with the proposal and written into its audit events).
func (ev *evaluation) dataFits(key string, size int) {
	if ev.dataSizes == nil {
		ev.dataSizes = make(map[string]int, len(ev.data))
		for k, v := range ev.data {
			b, _ := json.Marshal(v)
			ev.dataSizes[k] = len(k) + len(b)
			ev.dataTotal += len(k) + len(b)
		}
	}
	total := ev.dataTotal - ev.dataSizes[key] + len(key) + size
	if total > maxDataSize {
		fail("set(%q): the proposal's memory would hold %d KiB, more than the %d KiB allowed", key, total>>10, maxDataSize>>10)
	}
	ev.dataSizes[key], ev.dataTotal = len(key)+size, total
}

// effectsAllowed refuses effects in the filter stage: choosing a policy must not act.
func (ev *evaluation) effectsAllowed(name string) {
	if ev.stage == StageFilter {
		fail("%s() cannot be used in filter: filter only chooses whether the policy governs", name)
	}
}

// env builds the policy-visible environment for the current stage.
func (ev *evaluation) env() *Env {
	p := ev.proposal
	ballotKind := ""
	if ev.ballot != nil && ev.ballot.ClosedAt == nil {
		ballotKind = ev.ballot.Kind
	}
	e := &Env{
		Action: ActionInfo{
			ID: ev.action.ID, Type: ev.action.Type, Kind: ev.action.Kind, Platform: ev.action.Platform,
			Origin: ev.action.Origin, Initiator: ev.initiator, Params: ev.action.Params,
			Channel: str(ev.action.Params, "channel"), Text: str(ev.action.Params, "text"),
			Candidates: candidateLabels(ev.action),
		},
		Proposal: ProposalInfo{ID: p.ID, Age: ev.now.Sub(p.CreatedAt), CreatedAt: p.CreatedAt, Data: ev.data,
			Votes: len(ev.votes), Stage: p.Stage, Ballot: ballotKind},
		Policy:    PolicyInfo{ID: ev.version.PolicyID, Name: ev.version.Name, Kind: ev.version.Kind, Version: ev.version.Version},
		Community: CommunityInfo{Name: ev.community.community.Name, Slug: ev.community.community.Slug},
		Now:       ev.now,
		PASSED:    Passed, FAILED: Failed, PENDING: Pending,
	}
	e.Members = ev.memberIDs
	e.WithRole = ev.withRole
	e.HasRole = func(who any, role string) bool {
		if m, ok := who.(MemberInfo); ok {
			return contains(m.Roles, role)
		}
		id := oneID(who)
		for _, x := range ev.withRole(role) {
			if x == id {
				return true
			}
		}
		return false
	}
	e.Sample = ev.sample
	e.Eligible = ev.eligible
	e.Yes = func(among ...any) int { return ev.count("yes", among) }
	e.No = func(among ...any) int { return ev.count("no", among) }
	e.Abstain = func(among ...any) int { return ev.count("abstain", among) }
	e.Votes = func(args ...any) int {
		var value any
		var among []any
		for _, a := range args {
			if s, ok := a.(string); ok && value == nil {
				value = s
			} else {
				among = append(among, a)
			}
		}
		if value == nil {
			return ev.voters(among)
		}
		return ev.count(value.(string), among)
	}
	e.Voters = func(among ...any) int { return ev.voters(among) }
	e.Turnout = func(among ...any) float64 {
		set := ev.electorate(among)
		if len(set) == 0 {
			return 0
		}
		return float64(ev.voters(among)) / float64(len(set))
	}
	e.Majority = func(opts ...map[string]any) string { return ev.yesNo(yesNoMajority, 0, 0, opts) }
	e.Supermajority = func(n, d int, opts ...map[string]any) string { return ev.yesNo(yesNoSuper, n, d, opts) }
	e.Unanimity = func(opts ...map[string]any) string { return ev.yesNo(yesNoUnanimity, 0, 0, opts) }
	e.Threshold = func(k int, opts ...map[string]any) string { return ev.yesNo(yesNoThreshold, k, 0, opts) }
	e.Consensus = func(k int, opts ...map[string]any) string { return ev.consensus(k, opts) }
	e.LazyConsensus = func(k int, opts ...map[string]any) string { return ev.lazyConsensus(k, opts) }
	e.PluralityWinner = func(opts ...map[string]any) string { return ev.election("plurality", opts) }
	e.ApprovalWinner = func(opts ...map[string]any) string { return ev.election("approval", opts) }
	e.RankedChoiceWinner = func(opts ...map[string]any) string { return ev.election("ranking", opts) }
	e.ScoreWinner = func(opts ...map[string]any) string { return ev.election("score", opts) }
	e.Get = func(key string) any { return ev.data[key] }
	e.Set = func(key string, value any) bool {
		ev.effectsAllowed("set")
		b, err := json.Marshal(value)
		if err != nil {
			fail("set(%q): the value cannot be stored: %v", key, err)
		}
		if len(b) > maxValueSize {
			fail("set(%q): the value is larger than the %d KiB one value may take", key, maxValueSize>>10)
		}
		ev.dataFits(key, len(b))
		var clean any
		if err := json.Unmarshal(b, &clean); err != nil {
			fail("set(%q): the value cannot be stored: %v", key, err)
		}
		ev.data[key] = clean
		ev.dataDirty = true
		return true
	}
	e.Execute = func(candidate ...any) bool {
		ev.effectsAllowed("execute")
		var payload map[string]any
		if len(candidate) > 0 {
			payload = map[string]any{"candidate": fmt.Sprint(candidate[0])}
		}
		return ev.record(IntentExecute, payload)
	}
	e.Revert = func() bool {
		ev.effectsAllowed("revert")
		return ev.record(IntentRevert, nil)
	}
	e.Notify = func(who any, text string) bool {
		ev.effectsAllowed("notify")
		ids := toIDs(who)
		if len(ids) == 0 || strings.TrimSpace(text) == "" {
			return false
		}
		return ev.record(IntentNotify, map[string]any{"members": ids, "text": text})
	}
	e.Post = func(text string) bool {
		ev.effectsAllowed("post")
		if strings.TrimSpace(text) == "" {
			return false
		}
		return ev.record(IntentPost, map[string]any{"text": text})
	}
	e.StartVote = func(kind string, opts ...map[string]any) bool {
		ev.effectsAllowed("start_vote")
		return ev.startVote(kind, opts)
	}
	e.GrantRole = func(who any, role string) bool { return ev.roleIntent(IntentGrantRole, who, role) }
	m := ev.meter
	e.meter = m
	e.Repeat = m.repeatText
	e.Join = m.joinText
	e.Replace = m.replaceText
	e.Split = func(s, sep string, n ...int) []string { return m.splitText(false, s, sep, n...) }
	e.SplitAfter = func(s, sep string, n ...int) []string { return m.splitText(true, s, sep, n...) }
	e.RevokeRole = func(who any, role string) bool { return ev.roleIntent(IntentRevokeRole, who, role) }
	return e
}

func (ev *evaluation) roleIntent(kind string, who any, role string) bool {
	ev.effectsAllowed(kind)
	if ev.stage != StagePass && ev.stage != StageFail {
		fail("%s() can only be used in the pass and fail stages", kind)
	}
	return ev.record(kind, map[string]any{"members": toIDs(who), "role": role})
}

// sample draws k ids from a list with a generator seeded by the proposal's seed and the
// number of draws made so far in this evaluation, so every draw is reproducible.
func (ev *evaluation) sample(list any, k int) []int {
	ids := toIDs(list)
	ev.meter.charge(int64(len(ids)), int64(8*len(ids)))
	sort.Ints(ids)
	ids = dedupe(ids)
	if k < 0 || k > len(ids) {
		fail("sample: cannot draw %d from a list of %d", k, len(ids))
	}
	ev.samples++
	rng := rand.New(rand.NewPCG(uint64(ev.proposal.Seed), uint64(ev.samples)))
	rng.Shuffle(len(ids), func(i, j int) { ids[i], ids[j] = ids[j], ids[i] })
	out := append([]int(nil), ids[:k]...)
	sort.Ints(out)
	return out
}

// eligible is the frozen electorate of the open ballot, without members who have left; all
// current members when no ballot was opened.
func (ev *evaluation) eligible() []int {
	if ev.ballot == nil {
		return ev.memberIDs()
	}
	left := ev.community.leftMembers()
	ev.meter.charge(int64(len(ev.ballot.Eligible)), int64(8*len(ev.ballot.Eligible)))
	out := make([]int, 0, len(ev.ballot.Eligible))
	ev.reads.Left = ev.reads.Left[:0]
	for _, id := range ev.ballot.Eligible {
		if left[int(id)] {
			ev.reads.Left = append(ev.reads.Left, int(id))
		} else {
			out = append(out, int(id))
		}
	}
	return out
}

// electorate resolves an optional "among" argument to a set of ids (default: eligible).
// Its callers then read the votes: both are charged to the run's budget.
func (ev *evaluation) electorate(among []any) map[int]bool {
	var ids []int
	if len(among) == 0 || among[0] == nil {
		ids = ev.eligible()
	} else {
		for _, a := range among {
			ids = append(ids, toIDs(a)...)
		}
	}
	ev.meter.charge(int64(len(ids)+min(len(ids), len(ev.votes))), int64(16*len(ids)))
	set := make(map[int]bool, len(ids))
	for _, id := range ids {
		set[id] = true
	}
	return set
}

// votesAmong returns the votes cast by members of a set: from the set's side when it is the
// smaller (voters(#) in a loop over members costs one look-up, not a pass over every vote).
func (ev *evaluation) votesAmong(set map[int]bool, each func(value any)) {
	if len(set) >= len(ev.votes) {
		for _, v := range ev.votes {
			if set[v.member] {
				each(v.value)
			}
		}
		return
	}
	if ev.byMember == nil {
		ev.meter.charge(int64(len(ev.votes)), int64(16*len(ev.votes)))
		ev.byMember = make(map[int]any, len(ev.votes))
		for _, v := range ev.votes {
			ev.byMember[v.member] = v.value
		}
	}
	for id := range set {
		if v, ok := ev.byMember[id]; ok {
			each(v)
		}
	}
}

// count counts the votes whose value is value, cast by members of the electorate.
func (ev *evaluation) count(value string, among []any) int {
	n := 0
	ev.votesAmong(ev.electorate(among), func(v any) {
		if s, ok := v.(string); ok && s == value {
			n++
		}
	})
	return n
}

func (ev *evaluation) voters(among []any) int {
	n := 0
	ev.votesAmong(ev.electorate(among), func(any) { n++ })
	return n
}

func (ev *evaluation) startVote(kind string, opts []map[string]any) bool {
	o := optMap(opts)
	b := &models.Ballot{Kind: kind, OpenedAt: ev.now}
	switch kind {
	case BallotYesNo, BallotConsensus:
	case BallotChoice, BallotApproval, BallotRanking, BallotScore:
		b.Options = toStringsOrFail(o["options"], "start_vote options")
		if len(b.Options) == 0 {
			b.Options = candidateLabels(ev.action) // an election votes on its candidates
		}
		if len(b.Options) < 2 {
			fail("start_vote(%q) needs at least two options", kind)
		}
		if len(b.Options) > maxOptions {
			fail("start_vote(%q) offers %d options; at most %d are allowed", kind, len(b.Options), maxOptions)
		}
		size := 0
		for _, o := range b.Options {
			size += len(o)
		}
		ev.recorded += size
		if kind == BallotScore {
			b.Max = 5
			if m, ok := o["max"]; ok {
				b.Max = oneID(m)
			}
			if b.Max < 1 || b.Max > 100 {
				fail("start_vote: max must be between 1 and 100")
			}
		}
	default:
		fail("start_vote: unknown ballot kind %q (yes_no, choice, approval, ranking, score, consensus)", kind)
	}
	among := ev.memberIDs()
	if a, ok := o["among"]; ok && a != nil {
		among = toIDs(a)
	}
	if len(among) == 0 {
		fail("start_vote: nobody is eligible to vote")
	}
	for _, id := range dedupe(sortedCopy(among)) {
		b.Eligible = append(b.Eligible, int64(id))
	}
	b.DM, _ = o["dm"].(bool)
	ev.ballot = b
	ev.ballotNew = true
	return ev.record(IntentStartVote, map[string]any{"kind": kind})
}

// Ballot kinds.
const (
	BallotYesNo     = "yes_no"
	BallotChoice    = "choice"
	BallotApproval  = "approval"
	BallotRanking   = "ranking"
	BallotScore     = "score"
	BallotConsensus = "consensus"
)

// candidateLabels lists the labels of an election's candidates ("" for other actions).
func candidateLabels(a *models.Action) []string {
	list := candidateList(a.Params)
	out := make([]string, 0, len(list))
	for i, c := range list {
		label, _ := c["label"].(string)
		if label == "" {
			label = fmt.Sprintf("option %d", i+1)
		}
		out = append(out, label)
	}
	return out
}

// candidateList reads an election's candidates, as normalised params or decoded JSON.
func candidateList(params map[string]any) []map[string]any {
	switch l := params["candidates"].(type) {
	case []map[string]any:
		return l
	case []any:
		out := make([]map[string]any, 0, len(l))
		for _, x := range l {
			if m, ok := x.(map[string]any); ok {
				out = append(out, m)
			}
		}
		return out
	}
	return nil
}

// --- small conversions used by the Env functions ---

// toIDs accepts an id, a list of ids (as expr, Go or JSON gives them), a MemberInfo or a
// list of them, and returns member ids.
func toIDs(v any) []int {
	switch x := v.(type) {
	case nil:
		return nil
	case []int:
		return append([]int(nil), x...)
	case []int64:
		out := make([]int, len(x))
		for i, n := range x {
			out[i] = int(n)
		}
		return out
	case []any:
		out := make([]int, 0, len(x))
		for _, e := range x {
			out = append(out, toIDs(e)...)
		}
		return out
	case MemberInfo:
		return []int{x.ID}
	default:
		return []int{oneID(v)}
	}
}

func oneID(v any) int {
	switch x := v.(type) {
	case int:
		return x
	case int64:
		return int(x)
	case float64:
		return int(x)
	case MemberInfo:
		return x.ID
	case map[string]any:
		return oneID(x["id"])
	}
	fail("expected a member id, got %v", v)
	return 0
}

func toStringsOrFail(v any, what string) []string {
	if v == nil {
		return nil
	}
	l, err := toStrings(v)
	if err != nil {
		fail("%s %v", what, err)
	}
	return l
}

func optMap(opts []map[string]any) map[string]any {
	if len(opts) == 0 || opts[0] == nil {
		return map[string]any{}
	}
	return opts[0]
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

func sortedCopy(ids []int) []int {
	out := append([]int(nil), ids...)
	sort.Ints(out)
	return out
}

func dedupe(sorted []int) []int {
	out := sorted[:0]
	for i, id := range sorted {
		if i == 0 || id != sorted[i-1] {
			out = append(out, id)
		}
	}
	return out
}

// communityView is what policies may read about a community, loaded lazily and memoised:
// a pass-everything policy never loads the member list, and a check pass shares one view per
// community across all its proposals.
type communityView struct {
	ctx       context.Context
	store     *models.Store
	cache     *memberCache // shared across transactions, keyed by the community's epoch
	community *models.Community
	members   []int
	roles     map[string][]int
	left      map[int]bool
	loadErr   error
}

func newCommunityView(ctx context.Context, store *models.Store, c *models.Community, cache *memberCache) *communityView {
	return &communityView{ctx: ctx, store: store, community: c, roles: map[string][]int{}, cache: cache}
}

func (cv *communityView) memberIDs() []int {
	if cv.members == nil {
		ids, err := cv.cache.memberIDs(cv.ctx, cv.store, cv.community)
		if err != nil {
			cv.loadErr = err
			panic(&storageError{fmt.Errorf("load members: %w", err)})
		}
		cv.members = ids
	}
	return cv.members
}

func (cv *communityView) withRole(role string) []int {
	ids, ok := cv.roles[role]
	if !ok {
		raw, err := cv.store.MemberIDsWithRole(cv.ctx, cv.community.ID, role)
		if err != nil {
			if errors.Is(err, models.ErrNotFound) {
				fail("there is no role named %q", role)
			}
			cv.loadErr = err
			panic(&storageError{fmt.Errorf("load role %q: %w", role, err)})
		}
		ids = int64sToInts(raw)
		cv.roles[role] = ids
	}
	return ids
}

func (cv *communityView) leftMembers() map[int]bool {
	if cv.left == nil {
		ids, err := cv.store.LeftMemberIDs(cv.ctx, cv.community.ID)
		if err != nil {
			cv.loadErr = err
			panic(&storageError{fmt.Errorf("load members who left: %w", err)})
		}
		cv.left = make(map[int]bool, len(ids))
		for _, id := range ids {
			cv.left[int(id)] = true
		}
	}
	return cv.left
}

func int64sToInts(in []int64) []int {
	out := make([]int, len(in))
	for i, n := range in {
		out[i] = int(n)
	}
	return out
}
