package engine

import (
	"errors"
	"fmt"
	"maps"
	"reflect"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/expr-lang/expr"
	"github.com/expr-lang/expr/ast"
	"github.com/expr-lang/expr/file"

	"policykit/models"
)

// Budgets of one stage run, whatever its code (README, "Limits of policy code"). expr's VM
// cannot be interrupted and counts little of what a program allocates, so the compiler
// inserts a call to the meter (meterFunc) wherever a program does work proportional to the
// size of its values: each turn of a loop (map, filter, all, reduce, …), each builtin or
// environment function over a list or text, each string concatenation and range. The meter
// counts steps and bytes for the run and stops it past a budget or past its deadline; a
// few functions that can build much more than they are given (repeat, join, replace,
// split) are replaced by ones that charge before they build.
const (
	// maxSteps bounds the work of a stage: one step per loop turn and per function call, plus
	// one per element of every list a function or operator walks (one per KiB of text).
	maxSteps = 400_000
	// maxBuilt bounds what a stage builds: the size of every list, map and text it makes
	// or hands to a function, counted as they are made.
	maxBuilt = 16 << 20
	// maxStageTime is a stage's wall-clock budget, checked by the meter as it counts.
	maxStageTime = 50 * time.Millisecond
	// vmMemoryBudget is expr's own budget (elements of ranges, array and map literals,
	// sorts), checked before a range is made: 1..1e12 is refused before it allocates.
	vmMemoryBudget = 1_000_000
	// maxRequestEval bounds the CPU time the policies of one request (an action governed, a
	// vote counted, a batch of re-checks) may evaluate inside a transaction that others may
	// wait on; past it the running stage stops over budget.
	maxRequestEval = 50 * time.Millisecond
	// slowRequest: a request whose policies counted this many steps (a quarter of a stage's
	// budget, some 6 ms here) marks its community slow for slowFor: its requests then run
	// alone (groupcommit.go). A jury draw among 1,000 members counts about 3,000.
	slowRequest = maxSteps / 4
	slowFor     = 10 * time.Minute
	// passBudget bounds the steps one community's proposals may count in one check pass
	// (four stages' budgets, some 100 ms); its other proposals wait for the next pass, which
	// starts where this one stopped. Steps, not time: a community of thousands of proposals
	// under a cheap rule (a majority: tens of steps each) is checked whole every pass.
	passBudget = 4 * maxSteps
	// maxLoopNesting bounds how deeply loops nest in a program (refused at compile time).
	maxLoopNesting = 3
	// maxDataSize bounds what a proposal keeps in its memory (set()), in total, and
	// maxValueSize one value of it.
	maxDataSize  = 256 << 10
	maxValueSize = 64 << 10
	// maxRecorded bounds the messages and effects one evaluation records (notify, post, a
	// ballot's options): they are stored and written into one audit event.
	maxRecorded = 256 << 10
	// maxOptions bounds the options of a ballot.
	maxOptions = 1000
)

// LimitsSentence states the budgets for policy authors (the builder's code view, README).
var LimitsSentence = fmt.Sprintf("Each stage of a policy may take at most %d steps (a step is one turn of a loop, "+
	"one function call, or one element of a list a function goes through) and build at most %d MB of lists and text, "+
	"within %d ms; loops may nest at most %d deep, and a proposal's memory (set) holds at most %d KiB. "+
	"A stage that goes over is stopped and its proposal shows the error.",
	maxSteps, maxBuilt>>20, maxStageTime.Milliseconds(), maxLoopNesting, maxDataSize>>10)

// ErrOverBudget is the error kind of a policy run stopped by a budget (errors.Is).
var ErrOverBudget = errors.New("policy over budget")

// Kinds of policy errors. A proposal keeps the kind of its error beside the text, and the
// check loop compares kinds: an error whose words change from pass to pass (a time, a
// count) is the same error and is not written again.
const (
	ErrorKindBudget  = "over_budget" // stopped by a budget (ErrOverBudget)
	ErrorKindCompile = "compile"     // the stored code does not compile
	ErrorKindRuntime = "runtime"     // the program failed while it ran
	ErrorKindStorage = "storage"     // the database failed while deciding
)

// ErrorKind classifies an error raised while evaluating a policy.
func ErrorKind(err error) string {
	var ce *CompileError
	var ve *models.ValidationError
	var se *storageError
	switch {
	case err == nil:
		return ""
	case errors.Is(err, ErrOverBudget):
		return ErrorKindBudget
	case errors.As(err, &ce), errors.As(err, &ve):
		return ErrorKindCompile
	case errors.As(err, &se):
		return ErrorKindStorage
	}
	return ErrorKindRuntime
}

// storageError is a database error met while a policy ran (loading members or roles): not
// the policy's fault, and never hidden behind a policy error.
type storageError struct{ err error }

func (e *storageError) Error() string { return e.err.Error() }
func (e *storageError) Unwrap() error { return e.err }

// budgetError says which budget a run exceeded, in words for the policy's author.
type budgetError struct{ msg string }

func (e *budgetError) Error() string        { return e.msg }
func (e *budgetError) Is(target error) bool { return target == ErrOverBudget }

// meter counts the work and allocation of one stage run.
type meter struct {
	steps, built int64
	started      bool          // the clock has been read once
	deadline     time.Duration // on the thread's CPU clock
	requestCut   bool          // the deadline is the request's (maxRequestEval), not the stage's
	nextClock    int64         // steps at which the clock is read next
}

func newMeter() *meter { return &meter{nextClock: clockEvery} }

// clockEvery is how many steps pass between two readings of the clock. The first reading
// starts the time budget: a run of fewer steps cannot take long, and never reads it.
const clockEvery = 4096

// charge adds work and allocation, and stops the run (a panic that expr's VM returns as
// the run's error) past a budget.
func (m *meter) charge(steps, bytes int64) {
	if m == nil {
		return
	}
	m.steps += steps
	m.built += bytes
	switch {
	case m.steps > maxSteps:
		panic(&budgetError{fmt.Sprintf("the program does too much work: more than %d steps (loops over lists, nested loops, long texts)", maxSteps)})
	case m.built > maxBuilt:
		panic(&budgetError{fmt.Sprintf("the program builds too much: more than %d MB of lists and text", maxBuilt>>20)})
	case m.steps >= m.nextClock:
		m.nextClock = m.steps + clockEvery
		now := threadCPU()
		switch {
		case !m.started:
			m.started, m.deadline = true, now+maxStageTime
		case now > m.deadline && m.requestCut:
			panic(requestOverBudget())
		case now > m.deadline:
			panic(&budgetError{fmt.Sprintf("the program took longer than the %s allowed", maxStageTime)})
		}
	}
}

func requestOverBudget() error {
	return &budgetError{fmt.Sprintf("the policies deciding this action took longer than the %s they may take together", maxRequestEval)}
}

// value charges one step and the full size of a value: every element of a list, map or
// text, nested ones included (a list holding the same big list twice counts it twice,
// as anything that walks it will). The walk stops as soon as the budget is exceeded.
func (m *meter) value(v any) {
	m.charge(1, 0)
	m.walk(v, 0)
}

func (m *meter) walk(v any, depth int) {
	if depth > 100 {
		panic(&budgetError{"the program builds values nested more than 100 deep"})
	}
	switch x := v.(type) {
	case nil, bool, int, int64, float64, time.Time, time.Duration, MemberInfo:
	case string:
		m.charge(int64(len(x)>>10), int64(len(x)))
	case []any:
		m.charge(int64(len(x)), int64(16*len(x)))
		for _, e := range x {
			switch e.(type) {
			case nil, bool, int, int64, float64:
			default:
				m.walk(e, depth+1)
			}
		}
	case []int:
		m.charge(int64(len(x)), int64(8*len(x)))
	case []string:
		n := 0
		for _, s := range x {
			n += len(s)
		}
		m.charge(int64(len(x)+n>>10), int64(16*len(x)+n))
	case map[string]any:
		m.charge(int64(len(x)), int64(48*len(x)))
		for k, e := range x {
			m.charge(0, int64(len(k)))
			m.walk(e, depth+1)
		}
	default:
		rv := reflect.ValueOf(v)
		switch rv.Kind() {
		case reflect.Slice, reflect.Array:
			m.charge(int64(rv.Len()), int64(16*rv.Len()))
			for i := 0; i < rv.Len(); i++ {
				m.walk(rv.Index(i).Interface(), depth+1)
			}
		case reflect.Map:
			m.charge(int64(rv.Len()), int64(48*rv.Len()))
			for it := rv.MapRange(); it.Next(); {
				m.walk(it.Key().Interface(), depth+1)
				m.walk(it.Value().Interface(), depth+1)
			}
		case reflect.String:
			m.walk(rv.String(), depth)
		}
	}
}

// meterName is the function the compiler inserts; policy code cannot name it (it does not
// exist when a program is checked), and calling it could only use up its own budget.
const meterName = "__meter"

// meterFunc is the inserted call: __meter($env, value) charges the value and returns it.
var meterFunc = expr.Function(meterName, func(params ...any) (any, error) {
	if env, ok := params[0].(*Env); ok {
		env.meter.value(params[1])
	}
	return params[1], nil
}, new(func(any, any) any))

// meterPatch inserts the meter calls into a checked program (an expr.Patch visitor; it
// runs after type checking, so it leaves numbers and booleans unmetered).
type meterPatch struct{}

func (meterPatch) Visit(node *ast.Node) {
	switch n := (*node).(type) {
	case *ast.PredicateNode:
		n.Node = metered(n.Node, true)
	case *ast.BuiltinNode:
		if n.Name == "len" || n.Name == "type" {
			return // constant time whatever the size
		}
		for i, a := range n.Arguments {
			if _, ok := a.(*ast.PredicateNode); !ok {
				n.Arguments[i] = metered(a, false)
			}
		}
		ast.Patch(node, metered(n, false))
	case *ast.CallNode:
		if id, ok := n.Callee.(*ast.IdentifierNode); ok && id.Value == meterName {
			return
		}
		for i, a := range n.Arguments {
			n.Arguments[i] = metered(a, false)
		}
		ast.Patch(node, metered(n, false))
	case *ast.BinaryNode:
		switch n.Operator {
		case "and", "&&", "or", "||", "??":
			return
		}
		n.Left, n.Right = metered(n.Left, false), metered(n.Right, false)
		if n.Operator == "+" || n.Operator == ".." {
			ast.Patch(node, metered(n, false))
		}
	}
}

// metered wraps a node in a meter call, unless it is a constant or a number, boolean or
// time (always small); a loop body is always wrapped, so every turn counts a step.
func metered(n ast.Node, always bool) ast.Node {
	if c, ok := n.(*ast.CallNode); ok {
		if id, ok := c.Callee.(*ast.IdentifierNode); ok && id.Value == meterName {
			return n // already metered
		}
	}
	if !always {
		switch n.(type) {
		case *ast.IntegerNode, *ast.FloatNode, *ast.BoolNode, *ast.StringNode, *ast.NilNode, *ast.ConstantNode, *ast.PointerNode:
			return n
		}
		switch n.Type().Kind() {
		case reflect.Bool, reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64, reflect.Uint,
			reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Float32, reflect.Float64:
			return n
		case reflect.Struct:
			if n.Type() == reflect.TypeOf(time.Time{}) {
				return n
			}
		}
	}
	call := &ast.CallNode{Callee: &ast.IdentifierNode{Value: meterName}, Arguments: []ast.Node{&ast.IdentifierNode{Value: "$env"}, n}}
	call.SetLocation(n.Location())
	return call
}

// loopNesting finds the deepest nesting of loops (predicates) in a program: ast.Walk
// visits children first, so every loop inside a predicate has its depth when it is seen.
type loopNesting struct {
	depth map[*ast.PredicateNode]int
	max   int
	at    ast.Node
}

func (l *loopNesting) Visit(node *ast.Node) {
	p, ok := (*node).(*ast.PredicateNode)
	if !ok {
		return
	}
	inner := &innerLoops{depth: l.depth}
	ast.Walk(&p.Node, inner)
	d := inner.max + 1
	l.depth[p] = d
	if d > l.max {
		l.max, l.at = d, p
	}
}

type innerLoops struct {
	depth map[*ast.PredicateNode]int
	max   int
}

func (i *innerLoops) Visit(node *ast.Node) {
	if p, ok := (*node).(*ast.PredicateNode); ok {
		i.max = max(i.max, i.depth[p])
	}
}

// staticChecks refuse, at compile time and with a position, what would certainly go over
// budget: loops nested too deep, a literal range a..b larger than expr's budget. It runs
// as a visitor of the checking compile (before the optimizer rewrites the tree).
type staticChecks struct {
	loops loopNesting
	err   *file.Error
}

func (s *staticChecks) Visit(node *ast.Node) {
	if s.loops.depth == nil {
		s.loops.depth = map[*ast.PredicateNode]int{}
	}
	s.loops.Visit(node)
	if b, ok := (*node).(*ast.BinaryNode); ok && b.Operator == ".." && s.err == nil {
		lo, ok1 := b.Left.(*ast.IntegerNode)
		hi, ok2 := b.Right.(*ast.IntegerNode)
		if ok1 && ok2 && hi.Value-lo.Value+1 > vmMemoryBudget {
			s.err = positioned(b, fmt.Sprintf("the range %d..%d has more than %d numbers", lo.Value, hi.Value, vmMemoryBudget))
		}
	}
}

// result returns the first static error found, placed in the source.
func (s *staticChecks) result(stage, src string) *CompileError {
	if s.err == nil && s.loops.max > maxLoopNesting {
		s.err = positioned(s.loops.at, fmt.Sprintf("loops are nested %d deep; at most %d are allowed", s.loops.max, maxLoopNesting))
	}
	if s.err == nil {
		return nil
	}
	s.err.Bind(file.NewSource(src))
	return &CompileError{Stage: stage, Line: s.err.Line, Column: s.err.Column + 1, Message: s.err.Message}
}

func positioned(n ast.Node, msg string) *file.Error {
	return &file.Error{Location: n.Location(), Message: msg}
}

// --- replacements for the builtins that can build far more than they are given ---

// repeatText is repeat(s, n), charged before it builds.
func (m *meter) repeatText(s string, n int) string {
	if n < 0 {
		fail("repeat: the count must not be negative (got %d)", n)
	}
	if len(s) > 0 && n > maxBuilt/len(s) {
		m.charge(0, maxBuilt+1)
	}
	m.charge(int64(n*len(s))>>10+1, int64(n*len(s)))
	return strings.Repeat(s, n)
}

// joinText is join(list, glue?), charged before it builds.
func (m *meter) joinText(list any, glue ...string) string {
	g := ""
	if len(glue) > 0 {
		g = glue[0]
	}
	parts, err := toStrings(list)
	if err != nil {
		fail("join: %v", err)
	}
	size := int64(len(g)) * int64(max(len(parts)-1, 0))
	for _, p := range parts {
		size += int64(len(p))
	}
	m.charge(int64(len(parts))+size>>10, size)
	return strings.Join(parts, g)
}

// replaceText is replace(s, old, new), charged before it builds.
func (m *meter) replaceText(s, old, repl string) string {
	n := int64(utf8.RuneCountInString(s) + 1)
	if old != "" {
		n = int64(strings.Count(s, old))
	}
	size := int64(len(s)) + n*int64(max(len(repl)-len(old), 0))
	m.charge(int64(len(s)>>10)+size>>10+1, size)
	return strings.ReplaceAll(s, old, repl)
}

// splitText is split(s, sep, n?) and splitAfter, charged before it builds.
func (m *meter) splitText(after bool, s, sep string, n ...int) []string {
	parts := int64(utf8.RuneCountInString(s))
	if sep != "" {
		parts = int64(strings.Count(s, sep)) + 1
	}
	m.charge(parts+int64(len(s)>>10), 16*parts)
	limit := -1
	if len(n) > 0 {
		limit = n[0]
	}
	if after {
		return strings.SplitAfterN(s, sep, limit)
	}
	return strings.SplitN(s, sep, limit)
}

// retryTimes spaces out the check loop's evaluations of proposals whose policy went over
// budget: their time-based rules still fire, but a policy that costs its whole budget on
// every pass is evaluated after 1 minute, then 2, 4… up to an hour, not every few seconds.
// A vote re-checks its proposal at once whatever the time. Kept in memory: a restart
// evaluates each once more.
type retryTimes struct {
	mu    sync.Mutex
	after map[int64]retry
}

type retry struct {
	at      time.Time
	backoff time.Duration
}

const (
	firstRetry = time.Minute
	maxRetry   = time.Hour
)

func newRetryTimes() *retryTimes { return &retryTimes{after: map[int64]retry{}} }

// waiting tells whether a proposal's next evaluation is still to come.
func (r *retryTimes) waiting(id int64, now time.Time) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	x, ok := r.after[id]
	return ok && now.Before(x.at)
}

// later puts a proposal's next evaluation off, twice as long as the last time.
func (r *retryTimes) later(id int64, now time.Time) {
	r.mu.Lock()
	defer r.mu.Unlock()
	b := firstRetry
	if x, ok := r.after[id]; ok {
		b = min(2*x.backoff, maxRetry)
	}
	r.after[id] = retry{at: now.Add(b), backoff: b}
}

// forget drops proposals that were evaluated within budget or decided.
func (r *retryTimes) forget(id int64) {
	r.mu.Lock()
	delete(r.after, id)
	r.mu.Unlock()
}

// slowCommunities are the communities whose requests evaluate too long to share a batch.
type slowCommunities struct {
	mu    sync.RWMutex
	until map[int64]time.Time
}

func newSlowCommunities() *slowCommunities { return &slowCommunities{until: map[int64]time.Time{}} }

func (s *slowCommunities) is(id int64, now time.Time) bool {
	s.mu.RLock()
	u, ok := s.until[id]
	s.mu.RUnlock()
	return ok && now.Before(u)
}

func (s *slowCommunities) mark(id int64, now time.Time) {
	s.mu.Lock()
	s.until[id] = now.Add(slowFor)
	s.mu.Unlock()
}

// passShares gives each community at most passBudget of evaluation per check pass. A
// community that used its share resumes, on the next pass, at the first proposal it did
// not reach; once a pass reaches its last proposal, the next starts from its first again.
type passShares struct {
	mu     sync.Mutex
	resume map[int64]int64 // community → the proposal id the next pass starts at
}

// passShare is one pass's accounting.
type passShare struct {
	mu      sync.Mutex
	resume  map[int64]int64 // read-only: where this pass starts for each community
	spent   map[int64]int64 // steps
	stopped map[int64]int64 // community → the first proposal left for the next pass
}

func newPassShares() *passShares { return &passShares{resume: map[int64]int64{}} }

func (s *passShares) begin() *passShare {
	s.mu.Lock()
	defer s.mu.Unlock()
	return &passShare{resume: maps.Clone(s.resume), spent: map[int64]int64{}, stopped: map[int64]int64{}}
}

// end keeps where each community stopped, for the next pass.
func (s *passShares) end(p *passShare) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.resume = p.stopped
}

// turn tells whether a proposal is evaluated in this pass.
func (p *passShare) turn(community, proposal int64) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if proposal < p.resume[community] {
		return false // evaluated by the last pass
	}
	if p.spent[community] < passBudget {
		return true
	}
	if first, ok := p.stopped[community]; !ok || proposal < first {
		p.stopped[community] = proposal
	}
	return false
}

func (p *passShare) spend(community int64, steps int64) {
	p.mu.Lock()
	p.spent[community] += steps
	p.mu.Unlock()
}
