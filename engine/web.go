package engine

import (
	"time"

	"github.com/expr-lang/expr/ast"
	"github.com/expr-lang/expr/parser"

	"policykit/models"
)

// This file holds the small read-only helpers the web pages need from the engine.

// Describe summarises an action for people ("Add the document “Guidelines”"). An action
// whose type is no longer registered (its platform was removed) shows its type name.
func (e *Engine) Describe(a *models.Action) string {
	t, err := e.types.lookup(a.Type)
	if err != nil {
		return a.Type
	}
	p, err := t.normalize(a.Params)
	if err != nil {
		p = a.Params
	}
	return t.Describe(p)
}

// Normalize checks parameters against an action type and returns their canonical values,
// so a form can be re-filled with what would be submitted.
func (t ActionType) Normalize(params map[string]any) (map[string]any, error) {
	return t.normalize(params)
}

// Deadline returns when a proposal's vote closes, if the governing policy's check stage
// names a deadline option (`majority({deadline: "7d"})`); deadlines count from the
// proposal's creation, as the vote methods do. Policies that compute their own deadline
// (`proposal.age > duration("48h")`) have none this can read, and ok is false.
func Deadline(v *models.PolicyVersion, p *models.Proposal) (at time.Time, ok bool) {
	tree, err := parser.Parse(v.CheckSrc)
	if err != nil || v.CheckSrc == "" {
		return time.Time{}, false
	}
	f := &deadlineFinder{}
	ast.Walk(&tree.Node, f)
	if f.found == 0 {
		return time.Time{}, false
	}
	return p.CreatedAt.Add(f.found), true
}

type deadlineFinder struct{ found time.Duration }

func (f *deadlineFinder) Visit(n *ast.Node) {
	pair, ok := (*n).(*ast.PairNode)
	if !ok {
		return
	}
	key, ok := pair.Key.(*ast.StringNode)
	if !ok || key.Value != "deadline" {
		return
	}
	val, ok := pair.Value.(*ast.StringNode)
	if !ok {
		return
	}
	if d, err := parseDeadline(val.Value); err == nil && (f.found == 0 || d < f.found) {
		f.found = d
	}
}
