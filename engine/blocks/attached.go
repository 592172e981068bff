package blocks

import (
	"policykit/engine"
	"policykit/models"
)

// Attached returns the block program a stored policy is attached to, for the builder to
// open: its stored blocks while its code is still exactly what they compile to; otherwise
// (the code was edited elsewhere, say in the generic code view) whatever Detect reads from
// the code, so a hand edit is never overwritten by stale blocks. ok is false for code that
// has no block program's shape.
func Attached(f models.PolicyFields, stages ...engine.Sources) (*Program, bool) {
	if f.Blocks != "" {
		if p, err := Decode([]byte(f.Blocks)); err == nil && compilesTo(p, f, stages) {
			return p, true
		}
	}
	return Detect(f, stages...)
}

// compilesTo tells whether p compiles to exactly the given code of a policy and its later stages.
func compilesTo(p *Program, f models.PolicyFields, stages []engine.Sources) bool {
	out, err := CompilePolicy(p, Names{})
	if err != nil || len(out.Stages) != len(stages) || !sameSources(out.Sources, engine.SourcesOf(&f)) {
		return false
	}
	for i, s := range out.Stages {
		if !sameSources(s.Sources, stages[i]) {
			return false
		}
	}
	return true
}
