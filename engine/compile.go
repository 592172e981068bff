package engine

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"sync"

	"github.com/expr-lang/expr"
	"github.com/expr-lang/expr/file"
	"github.com/expr-lang/expr/vm"

	"policykit/models"
)

// The six stages of a policy, in the order the seed paper names them.
const (
	StageFilter     = "filter"
	StageInitialize = "initialize"
	StageNotify     = "notify"
	StageCheck      = "check"
	StagePass       = "pass"
	StageFail       = "fail"
)

// Stages lists the stage names in order.
func Stages() []string {
	return []string{StageFilter, StageInitialize, StageNotify, StageCheck, StagePass, StageFail}
}

// Limits on the size of policy programs, checked at compile time (what a run may do is
// bounded by the budgets in budget.go).
const (
	maxNodes  = 2000
	maxSource = 20_000 // bytes of source per stage
)

// CompileError is a policy program that does not compile, with its position when expr gives
// one (most errors have it; a few type errors do not).
type CompileError struct {
	Stage   string
	Line    int
	Column  int
	Message string
}

func (e *CompileError) Error() string {
	if e.Line > 0 {
		return fmt.Sprintf("%s: line %d, column %d: %s", e.Stage, e.Line, e.Column, e.Message)
	}
	return fmt.Sprintf("%s: %s", e.Stage, e.Message)
}

// Sources are the six stage programs of a policy.
type Sources struct {
	Filter, Initialize, Notify, Check, Pass, Fail string
}

// SourcesOf reads the stage sources of stored policy fields.
func SourcesOf(f *models.PolicyFields) Sources {
	return Sources{f.FilterSrc, f.InitSrc, f.NotifySrc, f.CheckSrc, f.PassSrc, f.FailSrc}
}

func (s Sources) byStage() map[string]string {
	return map[string]string{StageFilter: s.Filter, StageInitialize: s.Initialize, StageNotify: s.Notify,
		StageCheck: s.Check, StagePass: s.Pass, StageFail: s.Fail}
}

// compiled is a policy version's six programs; nil means the stage is empty and its default
// applies (filter: true; check: PASSED; pass: execute(); others: nothing).
type compiled struct {
	programs map[string]*vm.Program
}

// Compile type-checks the six sources against Env. The error is a models.ValidationError
// with one message per broken stage ("line 2, column 5: unknown name jurry").
func Compile(src Sources) (*compiled, error) {
	c := &compiled{programs: make(map[string]*vm.Program, 6)}
	v := &models.ValidationError{}
	for stage, code := range src.byStage() {
		prog, err := compileStage(stage, code)
		if err != nil {
			var ce *CompileError
			if errors.As(err, &ce) {
				v.Add(stage, strings.TrimPrefix(ce.Error(), stage+": "))
			} else {
				v.Add(stage, err.Error())
			}
			continue
		}
		c.programs[stage] = prog
	}
	if err := v.OrNil(); err != nil {
		return nil, err
	}
	return c, nil
}

// CheckStage compiles one stage's source as a policy would, for the code view to mark its
// errors as the member types: nil when it compiles, else the error with line and column
// (1-based) where expr gives them.
func CheckStage(stage, code string) *CompileError {
	if !slices.Contains(Stages(), stage) {
		return &CompileError{Stage: stage, Message: fmt.Sprintf("unknown stage %q", stage)}
	}
	var ce *CompileError
	if _, err := compileStage(stage, code); errors.As(err, &ce) {
		return ce
	} else if err != nil {
		return &CompileError{Stage: stage, Message: err.Error()}
	}
	return nil
}

func compileStage(stage, code string) (prog *vm.Program, err error) {
	if strings.TrimSpace(code) == "" {
		return nil, nil
	}
	if len(code) > maxSource {
		return nil, &CompileError{Stage: stage, Message: fmt.Sprintf("program is longer than %d bytes", maxSource)}
	}
	opts := []expr.Option{expr.Env(Env{}), expr.DisableBuiltin("now"), expr.MaxNodes(maxNodes)}
	for _, name := range budgetedBuiltins {
		opts = append(opts, expr.DisableBuiltin(name)) // Env's charged versions answer instead
	}
	// expr's parser can panic on some pathological inputs; a policy must get an error instead.
	defer func() {
		if r := recover(); r != nil {
			prog, err = nil, &CompileError{Stage: stage, Message: fmt.Sprintf("cannot compile: %v", r)}
		}
	}()
	// First the program as written: its type errors, its result type and the static checks
	// speak of the author's code. Then the program that runs: the same, with the meter
	// inserted (meter calls return any, so the second compile checks types less).
	static := &staticChecks{}
	checkOpts := append(slices.Clip(opts), expr.Patch(static))
	switch stage {
	case StageFilter:
		checkOpts = append(checkOpts, expr.AsBool())
	case StageCheck:
		checkOpts = append(checkOpts, expr.AsKind(reflect.String))
	}
	if _, err = expr.Compile(code, checkOpts...); err != nil {
		var fe *file.Error
		if errors.As(err, &fe) {
			return nil, &CompileError{Stage: stage, Line: fe.Line, Column: fe.Column + 1, Message: fe.Message}
		}
		return nil, &CompileError{Stage: stage, Message: err.Error()}
	}
	if ce := static.result(stage, code); ce != nil {
		return nil, ce
	}
	prog, err = expr.Compile(code, append(opts, meterFunc, expr.Patch(meterPatch{}))...)
	if err != nil {
		return nil, &CompileError{Stage: stage, Message: fmt.Sprintf("cannot be bounded: %v", err)}
	}
	return prog, nil
}

// programCache keeps compiled policy versions. Versions are immutable, so entries never go
// stale; the cache is per Engine.
type programCache struct {
	mu       sync.RWMutex
	versions map[int64]*compiled
}

func newProgramCache() *programCache { return &programCache{versions: map[int64]*compiled{}} }

// get returns the compiled programs of a policy version, compiling them on first use.
func (c *programCache) get(v *models.PolicyVersion) (*compiled, error) {
	c.mu.RLock()
	p, ok := c.versions[v.ID]
	c.mu.RUnlock()
	if ok {
		return p, nil
	}
	p, err := Compile(SourcesOf(&v.PolicyFields))
	if err != nil {
		return nil, fmt.Errorf("policy %q version %d: %w", v.Name, v.Version, err)
	}
	c.mu.Lock()
	c.versions[v.ID] = p
	c.mu.Unlock()
	return p, nil
}

// versionCache keeps each community's active policy versions per kind, valid while the
// community's policy epoch is unchanged (read from the community row every transaction
// locks first, so a replica's change is seen at once).
type versionCache struct {
	mu      sync.RWMutex
	entries map[versionKey]versionEntry
}

type versionKey struct {
	community int64
	kind      string
}

type versionEntry struct {
	epoch    int64
	versions []models.PolicyVersion // shared and read-only
}

func newVersionCache() *versionCache { return &versionCache{entries: map[versionKey]versionEntry{}} }

func (c *versionCache) get(ctx context.Context, tx *models.Store, comm *models.Community, kind string) ([]models.PolicyVersion, error) {
	k := versionKey{comm.ID, kind}
	c.mu.RLock()
	e, ok := c.entries[k]
	c.mu.RUnlock()
	if ok && e.epoch == comm.PolicyEpoch {
		return e.versions, nil
	}
	vs, err := tx.ActivePolicyVersions(ctx, comm.ID, kind)
	if err != nil {
		return nil, err
	}
	c.mu.Lock()
	c.entries[k] = versionEntry{epoch: comm.PolicyEpoch, versions: vs}
	c.mu.Unlock()
	return vs, nil
}

// accessCache keeps members' roles and permissions, valid while their community's policy
// epoch (bumped by every change to roles, permissions or who holds them) is unchanged.
type accessCache struct {
	mu      sync.RWMutex
	entries map[[2]int64]accessEntry
}

type accessEntry struct {
	epoch  int64
	access *models.MemberWithPermissions // shared and read-only
}

func newAccessCache() *accessCache { return &accessCache{entries: map[[2]int64]accessEntry{}} }

func (c *accessCache) get(ctx context.Context, tx *models.Store, comm *models.Community, memberID int64) (*models.MemberWithPermissions, error) {
	k := [2]int64{comm.ID, memberID}
	c.mu.RLock()
	e, ok := c.entries[k]
	c.mu.RUnlock()
	if ok && e.epoch == comm.PolicyEpoch {
		return e.access, nil
	}
	m, err := tx.MemberAccess(ctx, comm.ID, memberID)
	if err != nil {
		return nil, err
	}
	c.mu.Lock()
	c.entries[k] = accessEntry{epoch: comm.PolicyEpoch, access: m}
	c.mu.Unlock()
	return m, nil
}

// memberCache keeps each community's current member ids, valid while its epoch (bumped when
// someone joins or leaves) is unchanged: a jury draw reads them for every governed action.
type memberCache struct {
	mu      sync.RWMutex
	entries map[int64]memberEntry
}

type memberEntry struct {
	epoch int64
	ids   []int // shared and read-only
}

func newMemberCache() *memberCache { return &memberCache{entries: map[int64]memberEntry{}} }

func (c *memberCache) memberIDs(ctx context.Context, tx *models.Store, comm *models.Community) ([]int, error) {
	if c == nil {
		ids, err := tx.MemberIDs(ctx, comm.ID)
		return int64sToInts(ids), err
	}
	c.mu.RLock()
	e, ok := c.entries[comm.ID]
	c.mu.RUnlock()
	if ok && e.epoch == comm.PolicyEpoch {
		return e.ids, nil
	}
	raw, err := tx.MemberIDs(ctx, comm.ID)
	if err != nil {
		return nil, err
	}
	ids := int64sToInts(raw)
	c.mu.Lock()
	c.entries[comm.ID] = memberEntry{epoch: comm.PolicyEpoch, ids: ids}
	c.mu.Unlock()
	return ids, nil
}
