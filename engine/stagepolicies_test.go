package engine_test

import (
	"errors"
	"strings"
	"testing"

	"policykit/engine"
	"policykit/engine/enginetest"
	"policykit/models"
)

// twoStages is a bundle for posts: stage 1 passes at once, stage 2 needs one yes.
func twoStages(t *testing.T) string {
	t.Helper()
	raw, err := engine.EncodeStagePolicies([]engine.StagePolicy{{Notify: `start_vote("yes_no")`, Check: `threshold(1)`, Rule: "One yes."}})
	if err != nil {
		t.Fatal(err)
	}
	return raw
}

func TestAddPolicyCreatesItsStagePolicies(t *testing.T) {
	env := enginetest.New(t)
	c, m := env.Community(t, "Bundles", engine.KitEverythingPasses, 2)
	addPolicy(t, env, c, m[0], map[string]any{"kind": "platform", "name": "Posts in two stages", "priority": 1,
		"action_types": []any{"test.post_message"}, "rule": "Then one yes.", engine.ParamStagePolicies: twoStages(t)})

	first, err := env.Store.PolicyByName(ctx, c.ID, "Posts in two stages")
	if err != nil {
		t.Fatal(err)
	}
	if len(first.Stages) != 1 {
		t.Fatalf("stages = %v, want the one created stage", first.Stages)
	}
	stage, err := env.Store.PolicyByID(ctx, c.ID, first.Stages[0])
	if err != nil {
		t.Fatal(err)
	}
	if stage.Active || stage.Name != "Posts in two stages · stage 2 · v1" || stage.CheckSrc != "threshold(1)" || stage.Rule != "One yes." ||
		stage.Kind != models.KindPlatform || strings.Join(stage.ActionTypes, ",") != "test.post_message" {
		t.Fatalf("stage policy = %+v", stage.PolicyFields)
	}

	// The bundle governs: stage 1 passes, stage 2 opens its own vote and decides.
	res := submit(t, env, engine.Submission{CommunityID: c.ID, Type: "test.post_message", InitiatorID: m[1], Origin: models.OriginPlatform,
		Params: map[string]any{"channel": "general", "text": "hi"}})
	ps, err := env.Store.ProposalsOfAction(ctx, res.Action.ID)
	if err != nil {
		t.Fatal(err)
	}
	last := &ps[len(ps)-1]
	if len(ps) != 2 || last.Stage != 1 || last.Status != models.StatusPending {
		t.Fatalf("proposals: %d, last stage %d %s; want stage 2 pending", len(ps), last.Stage, last.Status)
	}
	if vote(t, env, c, last, m[0], "yes").Proposal.Status != models.StatusPassed {
		t.Fatal("one yes must pass stage 2")
	}

	// A change creates new stage policies; the old ones stay for bundles under way.
	submit(t, env, engine.Submission{CommunityID: c.ID, Type: engine.TypeChangePolicy, InitiatorID: m[0], Origin: models.OriginWeb,
		Params: map[string]any{"policy": first.ID, engine.ParamStagePolicies: twoStages(t)}})
	changed, err := env.Store.PolicyByID(ctx, c.ID, first.ID)
	if err != nil {
		t.Fatal(err)
	}
	if len(changed.Stages) != 1 || changed.Stages[0] == first.Stages[0] {
		t.Fatalf("after the change stages = %v, want one new stage policy (not %d)", changed.Stages, first.Stages[0])
	}
	if again, _ := env.Store.PolicyByID(ctx, c.ID, first.Stages[0]); again.CheckSrc != "threshold(1)" || again.Version != 1 {
		t.Fatalf("the old stage policy changed: %+v", again)
	}
	if s2, _ := env.Store.PolicyByID(ctx, c.ID, changed.Stages[0]); s2.Name != "Posts in two stages · stage 2 · v2" {
		t.Fatalf("new stage policy named %q", s2.Name)
	}
}

func TestStagePoliciesRefused(t *testing.T) {
	env := enginetest.New(t)
	c, m := env.Community(t, "Refusals", engine.KitEverythingPasses, 1)
	base, err := env.Store.PolicyByName(ctx, c.ID, "Platform actions pass")
	if err != nil {
		t.Fatal(err)
	}
	broken, _ := engine.EncodeStagePolicies([]engine.StagePolicy{{Check: "threshold("}})
	tests := []struct {
		name, stages string
		ids          []any
		want         string
	}{
		{"not JSON", "[{", nil, "must be a JSON list"},
		{"unknown field", `[{"chek": "PASSED"}]`, nil, "must be a JSON list"},
		{"broken code", broken, nil, "stage 2, check:"},
		{"with stages too", twoStages(t), []any{float64(base.ID)}, "not both"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := count(t, env, "policies")
			params := map[string]any{"kind": "platform", "name": "Refused", engine.ParamStagePolicies: tt.stages}
			if tt.ids != nil {
				params["stages"] = tt.ids
			}
			_, err := env.Engine.Submit(ctx, engine.Submission{CommunityID: c.ID, Type: engine.TypeAddPolicy, InitiatorID: m[0],
				Origin: models.OriginWeb, Params: params})
			if !errors.Is(err, models.ErrInvalid) || !strings.Contains(models.FieldErrors(err)[engine.ParamStagePolicies], tt.want) {
				t.Fatalf("err = %v, want stage_policies: …%s…", err, tt.want)
			}
			if after := count(t, env, "policies"); after != before {
				t.Fatalf("a refused proposal wrote %d policies", after-before)
			}
		})
	}
}
