package blocks_test

import (
	"strings"
	"testing"

	"policykit/engine/blocks"
	"policykit/models"
)

func TestAttached(t *testing.T) {
	stored := examples()["everything"]
	out, err := blocks.CompilePolicy(stored, blocks.Names{})
	if err != nil {
		t.Fatal(err)
	}
	raw, err := stored.Encode()
	if err != nil {
		t.Fatal(err)
	}
	f := fields(out)
	f.Blocks = string(raw)
	tests := []struct {
		name     string
		edit     func(f *models.PolicyFields)
		attached bool
		fraction blocks.Fraction // of the program opened, when attached
	}{
		{"code as compiled", func(*models.PolicyFields) {}, true, "2/3"},
		{"code edited into another block program", func(f *models.PolicyFields) {
			f.CheckSrc = strings.Replace(f.CheckSrc, "supermajority(2, 3,", "supermajority(3, 4,", 1)
		}, true, "3/4"},
		{"code edited by hand", func(f *models.PolicyFields) { f.CheckSrc = "yes() > no() ? PASSED : PENDING" }, false, ""},
		{"blocks this version cannot read", func(f *models.PolicyFields) { f.Blocks = `{"version": 2}` }, true, "2/3"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			g := f
			tt.edit(&g)
			p, ok := blocks.Attached(g, stageSources(out)...)
			if ok != tt.attached {
				t.Fatalf("attached = %v, want %v", ok, tt.attached)
			}
			if ok && p.How.Fraction != tt.fraction {
				t.Fatalf("opened the program with fraction %s, want %s (the code, not stale blocks)", p.How.Fraction, tt.fraction)
			}
		})
	}
}
