package blocks_test

import (
	"slices"
	"testing"

	"policykit/engine"
	"policykit/engine/blocks"
	"policykit/engine/enginetest"
)

// TestEngineKitsComeFromBlocks: every policy of every starter kit is the compiled form of
// its block program (run `go generate ./engine` after changing blocks.Kits or the compiler),
// and the builder can re-attach it.
func TestEngineKitsComeFromBlocks(t *testing.T) {
	env := enginetest.New(t)
	programs := map[string]*blocks.Program{}
	for _, k := range blocks.Kits() {
		programs[k.Name] = k.Program
	}
	seen := 0
	for _, kit := range env.Engine.Kits() {
		for _, f := range kit.Policies {
			t.Run(kit.Name+"/"+f.Name, func(t *testing.T) {
				seen++
				want, ok := programs[f.Name]
				if !ok {
					t.Fatal("not a block program of blocks.Kits")
				}
				stored, err := blocks.Decode([]byte(f.Blocks))
				if err != nil {
					t.Fatalf("stored blocks: %v", err)
				}
				// The stored program is the kit's, with the action types the engine filled in.
				bare := *stored
				if bare.When != nil && (want.When == nil || len(want.When.ActionTypes) == 0) {
					bare.When = nil
				}
				a, _ := bare.Encode()
				b, _ := want.Encode()
				if string(a) != string(b) {
					t.Fatalf("stored blocks %s, kit's %s", a, b)
				}
				compiled, err := blocks.CompilePolicy(stored, blocks.Names{Types: env.Engine.ActionLabels()})
				if err != nil {
					t.Fatal(err)
				}
				if engine.SourcesOf(&f) != compiled.Sources || f.Rule != compiled.Rule || f.Description != compiled.Rule || f.Kind != compiled.Kind {
					t.Fatalf("engine/kits_blocks.go is stale: run go generate ./engine\n%+v\n%s\nvs\n%+v\n%s", engine.SourcesOf(&f), f.Rule, compiled.Sources, compiled.Rule)
				}
				var types []string
				if stored.When != nil {
					types = stored.When.ActionTypes
				}
				if !slices.Equal(types, f.ActionTypes) && !(len(types) == 0 && len(f.ActionTypes) == 0) {
					t.Fatalf("blocks cover %v, the policy %v", types, f.ActionTypes)
				}
				if _, ok := blocks.Detect(f); !ok {
					t.Fatal("the builder cannot re-attach the kit policy to its blocks")
				}
			})
		}
	}
	if seen < len(programs) {
		t.Fatalf("%d kit policies checked, blocks.Kits has %d", seen, len(programs))
	}
}
