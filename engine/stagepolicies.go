package engine

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"

	"policykit/models"
)

// A policy bundle runs its later stages as policies of their own (nextStage), which must
// exist before the first policy lists them in "stages". So that one governed action can
// propose a whole bundle, add_policy and change_policy accept "stage_policies": the later
// stages' code, each created as an inactive policy (it then never governs an action alone)
// in the transaction that applies the action, its id listed in "stages" in order.
//
// A change creates new stage policies rather than editing the old ones: a bundle already
// under way keeps the later stages it started with (nextStage reads a stage policy's
// current version), and so matches the rule frozen into its proposals.

// ParamStagePolicies is the parameter holding a bundle's later stages.
const ParamStagePolicies = "stage_policies"

// maxStagePolicies bounds the later stages one action may create.
const maxStagePolicies = 10

// StagePolicy is one later stage of a policy bundle, as given in stage_policies.
type StagePolicy struct {
	Filter     string `json:"filter,omitempty"`
	Initialize string `json:"initialize,omitempty"`
	Notify     string `json:"notify,omitempty"`
	Check      string `json:"check,omitempty"`
	Pass       string `json:"pass,omitempty"`
	Fail       string `json:"fail,omitempty"`
	Rule       string `json:"rule,omitempty"` // the rule from this stage on
}

// Sources returns the stage's six programs.
func (s StagePolicy) Sources() Sources {
	return Sources{s.Filter, s.Initialize, s.Notify, s.Check, s.Pass, s.Fail}
}

// EncodeStagePolicies writes the stage_policies parameter.
func EncodeStagePolicies(stages []StagePolicy) (string, error) {
	b, err := json.Marshal(stages)
	if err != nil {
		return "", fmt.Errorf("encode stage policies: %w", err)
	}
	return string(b), nil
}

func stagePoliciesParam() Param {
	return Param{Name: ParamStagePolicies, Label: "Later stages to create (JSON)", Type: ParamText,
		Max:  maxStagePolicies * (6*maxSource + 4000),
		Help: `a list of {"initialize", "notify", "check", "pass", "fail", "rule"}; each becomes an inactive policy listed in stages, in order`}
}

// stagePolicies reads the parameter; an absent or empty one is no stages.
func stagePolicies(p map[string]any) ([]StagePolicy, error) {
	raw := strings.TrimSpace(str(p, ParamStagePolicies))
	if raw == "" {
		return nil, nil
	}
	dec := json.NewDecoder(strings.NewReader(raw))
	dec.DisallowUnknownFields()
	var out []StagePolicy
	if err := dec.Decode(&out); err != nil || dec.More() {
		return nil, models.Invalid(ParamStagePolicies, `must be a JSON list of {"initialize", "notify", "check", "pass", "fail", "rule"}`)
	}
	if len(out) > maxStagePolicies {
		return nil, models.Invalid(ParamStagePolicies, fmt.Sprintf("at most %d later stages", maxStagePolicies))
	}
	return out, nil
}

// checkStagePolicies adds what is wrong with the stage_policies parameter to v: malformed,
// given together with explicit stages, or code that does not compile.
func checkStagePolicies(p map[string]any, v *models.ValidationError) {
	stages, err := stagePolicies(p)
	if err != nil {
		for field, msg := range models.FieldErrors(err) {
			v.Add(field, msg)
		}
		return
	}
	if len(stages) > 0 && len(listIDs(p, "stages")) > 0 {
		v.Add(ParamStagePolicies, "give either existing stage policies (stages) or new ones (stage_policies), not both")
	}
	for i, s := range stages {
		if err := CheckPolicy(s.Sources()); err != nil {
			for stage, msg := range models.FieldErrors(err) {
				v.Add(ParamStagePolicies, fmt.Sprintf("stage %d, %s: %s", i+2, stage, msg))
			}
		}
	}
}

func listIDs(p map[string]any, k string) []int64 {
	ids, _ := p[k].([]int64)
	return ids
}

// createStagePolicies creates the later stages of a bundle being added or changed, inactive,
// and lists them in f.Stages. Without stage_policies f is left as it is.
func (e *Engine) createStagePolicies(ctx context.Context, tx *models.Store, communityID int64, f *models.PolicyFields, p map[string]any) error {
	stages, err := stagePolicies(p)
	if err != nil || len(stages) == 0 {
		return err
	}
	version := 1
	if id := num(p, "policy"); id != 0 {
		cur, err := tx.PolicyByID(ctx, communityID, id)
		if err != nil {
			return err
		}
		version = cur.Version + 1
	}
	f.Stages = make([]int64, 0, len(stages))
	for i, s := range stages {
		pol := &models.Policy{CommunityID: communityID, PolicyFields: models.PolicyFields{
			Kind: f.Kind, Name: fmt.Sprintf("%s · stage %d · v%d", f.Name, i+2, version),
			Description: fmt.Sprintf("Stage %d of the policy bundle “%s”: it decides only after the stage before it passed.", i+2, f.Name),
			Priority:    f.Priority, ActionTypes: f.ActionTypes, Mode: f.Mode, Active: false, Stages: []int64{},
			FilterSrc: s.Filter, InitSrc: s.Initialize, NotifySrc: s.Notify, CheckSrc: s.Check, PassSrc: s.Pass, FailSrc: s.Fail,
			Rule: s.Rule}}
		if err := tx.SavePolicy(ctx, pol, nil); err != nil {
			return fmt.Errorf("stage %d: %w", i+2, err)
		}
		f.Stages = append(f.Stages, pol.ID)
	}
	return nil
}
