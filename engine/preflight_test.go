package engine_test

import (
	"errors"
	"strings"
	"testing"

	"policykit/engine"
	"policykit/engine/enginetest"
	"policykit/models"
)

// preflightWorld is a community where every proposal waits for two yes votes (an election
// for a ranking), with something of everything an action can name.
type preflightWorld struct {
	env                  *enginetest.Env
	c, other             *models.Community
	m, om                []int64 // members (the founder first), and the other community's
	base, helper         *models.Role
	extra, removed, gone *models.Policy // a policy in force, a removed one, another community's
	charter, guide       *models.Document
	theirs               *models.Document // another community's
}

func newPreflightWorld(t *testing.T) *preflightWorld {
	t.Helper()
	env := enginetest.New(t)
	w := &preflightWorld{env: env}
	w.c, w.m = env.Community(t, "Checked", engine.KitEverythingPasses, 3)
	w.other, w.om = env.Community(t, "Elsewhere", engine.KitEverythingPasses, 1)
	st := env.Store
	var err error
	save := func(c *models.Community, f models.PolicyFields) *models.Policy {
		t.Helper()
		if f.Mode == "" {
			f.Mode, f.Active = models.ModeEnforce, true
		}
		if f.ActionTypes == nil {
			f.ActionTypes = []string{}
		}
		f.Stages = []int64{}
		p := &models.Policy{CommunityID: c.ID, PolicyFields: f}
		if err := st.SavePolicy(ctx, p, nil); err != nil {
			t.Fatal(err)
		}
		return p
	}
	for _, kind := range []string{models.KindConstitution, models.KindPlatform} {
		save(w.c, models.PolicyFields{Kind: kind, Name: "Two votes for " + kind, Priority: 1,
			NotifySrc: `start_vote("yes_no")`, CheckSrc: `yes() >= 2 ? PASSED : PENDING`})
	}
	save(w.c, models.PolicyFields{Kind: models.KindConstitution, Name: "Ranked election", Priority: 0, ActionTypes: []string{engine.TypeElection},
		NotifySrc: `start_vote("ranking")`, CheckSrc: `voters() >= 2 ? PASSED : PENDING`, PassSrc: `execute(ranked_choice_winner())`})
	w.extra = save(w.c, models.PolicyFields{Kind: models.KindConstitution, Name: "Extra", Priority: 50, ActionTypes: []string{engine.TypeAddDocument},
		FilterSrc: `false`})
	w.removed = save(w.c, models.PolicyFields{Kind: models.KindConstitution, Name: "Retired", Priority: 60, FilterSrc: `false`})
	w.removed.Active = false
	if err := st.SavePolicy(ctx, w.removed, nil); err != nil {
		t.Fatal(err)
	}
	w.gone = save(w.other, models.PolicyFields{Kind: models.KindConstitution, Name: "Theirs", Priority: 5})
	if w.base, err = st.BaseRole(ctx, w.c.ID); err != nil {
		t.Fatal(err)
	}
	w.helper = &models.Role{CommunityID: w.c.ID, Name: "Helper"}
	if err := st.CreateRole(ctx, w.helper, nil); err != nil {
		t.Fatal(err)
	}
	if err := st.GrantRole(ctx, w.c.ID, w.m[1], w.helper.ID); err != nil {
		t.Fatal(err)
	}
	doc := func(c *models.Community, title string) *models.Document {
		t.Helper()
		d, err := st.CreateDocument(ctx, c.ID, title, "The text of "+title, nil)
		if err != nil {
			t.Fatal(err)
		}
		return d
	}
	w.charter, w.guide, w.theirs = doc(w.c, "Charter"), doc(w.c, "Guide"), doc(w.other, "Their rules")
	other := &models.PlatformConnection{CommunityID: w.c.ID, Platform: "other", ExternalID: "other-1", Status: models.ConnectionAwaiting}
	if err := st.SaveConnection(ctx, other, map[string]string{}); err != nil {
		t.Fatal(err)
	}
	return w
}

func (w *preflightWorld) disconnect(t *testing.T, platform string) {
	t.Helper()
	conn, err := w.env.Store.ConnectionOf(ctx, w.c.ID, platform)
	if err != nil {
		t.Fatal(err)
	}
	if err := w.env.Store.DeleteConnection(ctx, w.c.ID, conn.ID); err != nil {
		t.Fatal(err)
	}
}

// preflightCase is one action type: parameters it accepts, kinds of parameters it refuses
// (each with the field the error names), and a change to the community, made after a
// proposal with the valid parameters opened, that keeps it from being carried out.
type preflightCase struct {
	valid   func(w *preflightWorld) map[string]any
	invalid []invalidParams
	spoil   func(t *testing.T, w *preflightWorld)
	ballot  any // the vote that passes it (default yes)
}

type invalidParams struct {
	name   string
	params func(w *preflightWorld) map[string]any
	field  string
}

func preflightCases() map[string]preflightCase {
	st := func(w *preflightWorld) *models.Store { return w.env.Store }
	docChange := func(title, body string) func(w *preflightWorld) map[string]any {
		return func(w *preflightWorld) map[string]any {
			return map[string]any{"document": w.charter.ID, "title": title, "body": body}
		}
	}
	return map[string]preflightCase{
		engine.TypeAddPolicy: {
			valid: func(w *preflightWorld) map[string]any {
				return map[string]any{"kind": "constitution", "name": "Calm", "check": "PASSED", "filter": "false"}
			},
			invalid: []invalidParams{
				{"a name in use (any capitals)", func(w *preflightWorld) map[string]any {
					return map[string]any{"kind": "constitution", "name": "extra", "check": "PASSED"}
				}, "name"},
				{"code that does not compile", func(w *preflightWorld) map[string]any {
					return map[string]any{"kind": "constitution", "name": "Broken", "check": "jurry >"}
				}, "check"},
				{"an unknown action type", func(w *preflightWorld) map[string]any {
					return map[string]any{"kind": "constitution", "name": "Odd", "action_types": []any{"constitution.nope"}}
				}, "action_types"},
				{"another community's policy as a stage", func(w *preflightWorld) map[string]any {
					return map[string]any{"kind": "constitution", "name": "Staged", "stages": []any{w.gone.ID}}
				}, "stages"},
			},
			spoil: func(t *testing.T, w *preflightWorld) {
				p := &models.Policy{CommunityID: w.c.ID, PolicyFields: models.PolicyFields{Kind: models.KindConstitution, Name: "CALM",
					Mode: models.ModeEnforce, Priority: 70, ActionTypes: []string{}, Stages: []int64{}}}
				must(t, st(w).SavePolicy(ctx, p, nil))
			},
		},
		engine.TypeChangePolicy: {
			valid: func(w *preflightWorld) map[string]any { return map[string]any{"policy": w.extra.ID, "filter": "true"} },
			invalid: []invalidParams{
				{"no change", func(w *preflightWorld) map[string]any {
					return map[string]any{"policy": w.extra.ID, "name": "Extra", "filter": "false"}
				}, "policy"},
				{"another community's policy", func(w *preflightWorld) map[string]any {
					return map[string]any{"policy": w.gone.ID, "filter": "true"}
				}, "policy"},
				{"a name in use", func(w *preflightWorld) map[string]any { return map[string]any{"policy": w.extra.ID, "name": "Retired"} }, "name"},
			},
			spoil: func(t *testing.T, w *preflightWorld) {
				p, err := st(w).PolicyByID(ctx, w.c.ID, w.extra.ID)
				must(t, err)
				p.FilterSrc = "true"
				must(t, st(w).SavePolicy(ctx, p, nil))
			},
		},
		engine.TypeRemovePolicy: {
			valid: func(w *preflightWorld) map[string]any { return map[string]any{"policy": w.extra.ID} },
			invalid: []invalidParams{
				{"already removed", func(w *preflightWorld) map[string]any { return map[string]any{"policy": w.removed.ID} }, "policy"},
				{"the last policy governing every change", func(w *preflightWorld) map[string]any {
					p, _ := w.env.Store.PolicyByName(ctx, w.c.ID, "Two votes for constitution")
					k, _ := w.env.Store.PolicyByName(ctx, w.c.ID, "Constitution changes pass")
					k.Active = false
					_ = w.env.Store.SavePolicy(ctx, k, nil)
					return map[string]any{"policy": p.ID}
				}, "policy"},
			},
			spoil: func(t *testing.T, w *preflightWorld) {
				p, err := st(w).PolicyByID(ctx, w.c.ID, w.extra.ID)
				must(t, err)
				p.Active = false
				must(t, st(w).SavePolicy(ctx, p, nil))
			},
		},
		engine.TypeRecoverPolicy: {
			valid: func(w *preflightWorld) map[string]any { return map[string]any{"policy": w.removed.ID} },
			invalid: []invalidParams{
				{"a policy in force", func(w *preflightWorld) map[string]any { return map[string]any{"policy": w.extra.ID} }, "policy"},
				{"an unknown policy", func(w *preflightWorld) map[string]any { return map[string]any{"policy": 999999} }, "policy"},
			},
			spoil: func(t *testing.T, w *preflightWorld) {
				p, err := st(w).PolicyByID(ctx, w.c.ID, w.removed.ID)
				must(t, err)
				p.Active = true
				must(t, st(w).SavePolicy(ctx, p, nil))
			},
		},
		engine.TypeReorderPolicy: {
			valid: func(w *preflightWorld) map[string]any { return map[string]any{"policy": w.extra.ID, "priority": 7} },
			invalid: []invalidParams{
				{"the priority it has", func(w *preflightWorld) map[string]any { return map[string]any{"policy": w.extra.ID, "priority": 50} }, "priority"},
			},
			spoil: func(t *testing.T, w *preflightWorld) {
				p, err := st(w).PolicyByID(ctx, w.c.ID, w.extra.ID)
				must(t, err)
				p.Priority = 7
				must(t, st(w).SavePolicy(ctx, p, nil))
			},
		},
		engine.TypeAddRole: {
			valid: func(w *preflightWorld) map[string]any { return map[string]any{"name": "Scribe"} },
			invalid: []invalidParams{
				{"the base role's name", func(w *preflightWorld) map[string]any { return map[string]any{"name": w.base.Name} }, "name"},
				{"a name in use (any capitals)", func(w *preflightWorld) map[string]any { return map[string]any{"name": "HELPER"} }, "name"},
				{"an unknown action type", func(w *preflightWorld) map[string]any {
					return map[string]any{"name": "Odd", "permissions": []any{map[string]any{"action_type": "constitution.nope", "propose": true}}}
				}, "permissions"},
			},
			spoil: func(t *testing.T, w *preflightWorld) {
				must(t, st(w).CreateRole(ctx, &models.Role{CommunityID: w.c.ID, Name: "Scribe"}, nil))
			},
		},
		engine.TypeEditRole: {
			valid: func(w *preflightWorld) map[string]any { return map[string]any{"role": w.helper.ID, "name": "Helpers"} },
			invalid: []invalidParams{
				{"no change", func(w *preflightWorld) map[string]any { return map[string]any{"role": w.helper.ID, "name": "Helper"} }, "name"},
				{"another role's name", func(w *preflightWorld) map[string]any {
					return map[string]any{"role": w.helper.ID, "name": w.base.Name}
				}, "name"},
			},
			spoil: func(t *testing.T, w *preflightWorld) {
				must(t, st(w).CreateRole(ctx, &models.Role{CommunityID: w.c.ID, Name: "Helpers"}, nil))
			},
		},
		engine.TypeDeleteRole: {
			valid: func(w *preflightWorld) map[string]any { return map[string]any{"role": w.helper.ID} },
			invalid: []invalidParams{
				{"the base role", func(w *preflightWorld) map[string]any { return map[string]any{"role": w.base.ID} }, "role"},
				{"an unknown role", func(w *preflightWorld) map[string]any { return map[string]any{"role": 999999} }, "role"},
			},
			spoil: func(t *testing.T, w *preflightWorld) { must(t, st(w).DeleteRole(ctx, w.c.ID, w.helper.ID)) },
		},
		engine.TypeGrantRole: {
			valid: func(w *preflightWorld) map[string]any { return map[string]any{"role": w.helper.ID, "member": w.m[2]} },
			invalid: []invalidParams{
				{"a member who has it", func(w *preflightWorld) map[string]any { return map[string]any{"role": w.helper.ID, "member": w.m[1]} }, "member"},
				{"the base role", func(w *preflightWorld) map[string]any { return map[string]any{"role": w.base.ID, "member": w.m[2]} }, "role"},
				{"another community's member", func(w *preflightWorld) map[string]any {
					return map[string]any{"role": w.helper.ID, "member": w.om[0]}
				}, "member"},
			},
			spoil: func(t *testing.T, w *preflightWorld) { must(t, st(w).GrantRole(ctx, w.c.ID, w.m[2], w.helper.ID)) },
		},
		engine.TypeRevokeRole: {
			valid: func(w *preflightWorld) map[string]any { return map[string]any{"role": w.helper.ID, "member": w.m[1]} },
			invalid: []invalidParams{
				{"a member without it", func(w *preflightWorld) map[string]any { return map[string]any{"role": w.helper.ID, "member": w.m[2]} }, "member"},
			},
			spoil: func(t *testing.T, w *preflightWorld) { must(t, st(w).RevokeRole(ctx, w.c.ID, w.m[1], w.helper.ID)) },
		},
		engine.TypeAddDocument: {
			valid: func(w *preflightWorld) map[string]any { return map[string]any{"title": "Rules", "body": "Be kind."} },
			invalid: []invalidParams{
				{"a title in use (any capitals)", func(w *preflightWorld) map[string]any { return map[string]any{"title": "charter", "body": "x"} }, "title"},
			},
			spoil: func(t *testing.T, w *preflightWorld) {
				_, err := st(w).CreateDocument(ctx, w.c.ID, "Rules", "Other rules.", nil)
				must(t, err)
			},
		},
		engine.TypeChangeDocument: {
			valid: docChange("Charter", "A new text."),
			invalid: []invalidParams{
				{"no change", docChange("Charter", "The text of Charter"), "body"},
				{"another document's title", docChange("Guide", "x"), "title"},
				{"another community's document", func(w *preflightWorld) map[string]any {
					return map[string]any{"document": w.theirs.ID, "title": "Mine", "body": "x"}
				}, "document"},
			},
			spoil: func(t *testing.T, w *preflightWorld) {
				must(t, st(w).SetDocumentDeleted(ctx, w.c.ID, w.charter.ID, true))
			},
		},
		engine.TypeRemoveDocument: {
			valid: func(w *preflightWorld) map[string]any { return map[string]any{"document": w.charter.ID} },
			invalid: []invalidParams{
				{"another community's document", func(w *preflightWorld) map[string]any { return map[string]any{"document": w.theirs.ID} }, "document"},
			},
			spoil: func(t *testing.T, w *preflightWorld) {
				must(t, st(w).SetDocumentDeleted(ctx, w.c.ID, w.charter.ID, true))
			},
		},
		engine.TypeChangeSettings: {
			valid: func(w *preflightWorld) map[string]any { return map[string]any{"name": "Checked twice"} },
			invalid: []invalidParams{
				{"no change", func(w *preflightWorld) map[string]any { return map[string]any{"name": "Checked"} }, "name"},
			},
			spoil: func(t *testing.T, w *preflightWorld) {
				must(t, st(w).UpdateCommunitySettings(ctx, w.c.ID, "Checked twice", models.CommunitySettings{}))
			},
		},
		engine.TypeConnect: {
			valid: func(w *preflightWorld) map[string]any { return map[string]any{"platform": "other"} },
			invalid: []invalidParams{
				{"nothing awaiting approval", func(w *preflightWorld) map[string]any { return map[string]any{"platform": "test"} }, "platform"},
			},
			spoil: func(t *testing.T, w *preflightWorld) { w.disconnect(t, "other") },
		},
		engine.TypeDisconnect: {
			valid: func(w *preflightWorld) map[string]any { return map[string]any{"platform": "test"} },
			invalid: []invalidParams{
				{"a platform never connected", func(w *preflightWorld) map[string]any { return map[string]any{"platform": "discord"} }, "platform"},
			},
			spoil: func(t *testing.T, w *preflightWorld) { w.disconnect(t, "test") },
		},
		engine.TypeMergeMembers: {
			valid: func(w *preflightWorld) map[string]any { return map[string]any{"member": w.m[1], "duplicate": w.m[0]} },
			invalid: []invalidParams{
				{"the same member twice", func(w *preflightWorld) map[string]any { return map[string]any{"member": w.m[1], "duplicate": w.m[1]} }, "duplicate"},
				{"another community's member", func(w *preflightWorld) map[string]any { return map[string]any{"member": w.m[1], "duplicate": w.om[0]} }, "duplicate"},
			},
			spoil: func(t *testing.T, w *preflightWorld) { must(t, st(w).LeaveCommunity(ctx, w.c.ID, w.m[0])) },
		},
		engine.TypeElection: {
			valid: func(w *preflightWorld) map[string]any {
				return map[string]any{"title": "Which rules?", "candidates": []any{
					map[string]any{"label": "Short", "type": engine.TypeAddDocument, "params": map[string]any{"title": "Rules", "body": "Be kind."}},
					map[string]any{"label": "Long", "type": engine.TypeAddDocument, "params": map[string]any{"title": "Rules", "body": "Be kind and brave."}},
				}}
			},
			invalid: []invalidParams{
				{"one candidate", func(w *preflightWorld) map[string]any {
					return map[string]any{"title": "Q", "candidates": []any{
						map[string]any{"label": "Only", "type": engine.TypeAddDocument, "params": map[string]any{"title": "Rules", "body": "x"}}}}
				}, "candidates"},
				{"a candidate that fails its own check", func(w *preflightWorld) map[string]any {
					return map[string]any{"title": "Q", "candidates": []any{
						map[string]any{"label": "A", "type": engine.TypeAddDocument, "params": map[string]any{"title": "Charter", "body": "x"}},
						map[string]any{"label": "B", "type": engine.TypeAddDocument, "params": map[string]any{"title": "Rules", "body": "x"}}}}
				}, "candidates"},
			},
			spoil: func(t *testing.T, w *preflightWorld) {
				_, err := st(w).CreateDocument(ctx, w.c.ID, "Rules", "Other rules.", nil)
				must(t, err)
			},
			ballot: []any{"Long", "Short"},
		},
		"test.post_message": {
			valid: func(w *preflightWorld) map[string]any { return map[string]any{"channel": "C1", "text": "Hello"} },
			invalid: []invalidParams{
				{"a channel the platform does not have", func(w *preflightWorld) map[string]any {
					return map[string]any{"channel": "C9", "text": "Hello"}
				}, "channel"},
			},
			spoil: func(t *testing.T, w *preflightWorld) { w.disconnect(t, "test") },
		},
		"test.rename_channel": {
			valid: func(w *preflightWorld) map[string]any { return map[string]any{"channel": "C1", "name": "town-square"} },
			invalid: []invalidParams{
				{"the name it has", func(w *preflightWorld) map[string]any { return map[string]any{"channel": "C1", "name": "channel-C1"} }, "name"},
				{"a channel the platform does not have", func(w *preflightWorld) map[string]any {
					return map[string]any{"channel": "C9", "name": "x"}
				}, "channel"},
			},
			spoil: func(t *testing.T, w *preflightWorld) {
				conn, err := st(w).ConnectionOf(ctx, w.c.ID, "test")
				must(t, err)
				must(t, st(w).SetChannelName(ctx, conn.ID, "C1", "town-square"))
			},
		},
	}
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// TestPreflightEveryActionType: for every action type, valid parameters open a proposal;
// each kind of invalid parameters is refused when proposed, with an error naming the field,
// and writes nothing; a platform action on a community without that platform is refused;
// and when the community changes between the proposal and its decision so that the action
// can no longer be carried out, it is approved but not carried out, with the reason.
func TestPreflightEveryActionType(t *testing.T) {
	cases := preflightCases()
	for _, typ := range enginetest.New(t).Engine.ActionTypes() {
		tc, ok := cases[typ.Name]
		if !ok {
			t.Errorf("%s has no pre-flight case: add one", typ.Name)
			continue
		}
		t.Run(typ.Name, func(t *testing.T) {
			w := newPreflightWorld(t)
			propose := func(c *models.Community, by int64, params map[string]any) (*engine.Result, error) {
				return w.env.Engine.Submit(ctx, engine.Submission{CommunityID: c.ID, Type: typ.Name, InitiatorID: by,
					Params: params, Origin: models.OriginWeb})
			}
			refused := func(name, field string, c *models.Community, by int64, params map[string]any) {
				t.Helper()
				actions, proposals := count(t, w.env, "actions"), count(t, w.env, "proposals")
				_, err := propose(c, by, params)
				if !errors.Is(err, models.ErrInvalid) || models.FieldErrors(err)[field] == "" {
					t.Errorf("%s: err = %v, want an error about %q", name, err, field)
				}
				if count(t, w.env, "actions") != actions || count(t, w.env, "proposals") != proposals {
					t.Errorf("%s: a refused proposal wrote rows", name)
				}
			}
			for _, bad := range tc.invalid {
				refused(bad.name, bad.field, w.c, w.m[0], bad.params(w))
			}
			if typ.Platform != engine.ConstitutionPlatform {
				web, wm := w.env.WebOnlyCommunity(t, "Web only", engine.KitEverythingPasses, 1)
				refused("platform not connected", "type", web, wm[0], tc.valid(w))
			}

			res, err := propose(w.c, w.m[0], tc.valid(w))
			if err != nil {
				t.Fatalf("valid parameters refused: %v", err)
			}
			if res.Proposal == nil || res.Proposal.Status != models.StatusPending {
				t.Fatalf("valid parameters: proposal %+v, action %s (%s)", res.Proposal, res.Action.Status, res.Action.Note)
			}
			tc.spoil(t, w)
			ballot := tc.ballot
			if ballot == nil {
				ballot = "yes"
			}
			vote(t, w.env, w.c, res.Proposal, w.m[1], ballot)
			r := vote(t, w.env, w.c, res.Proposal, w.m[2], ballot)
			p, a := reload(t, w.env, w.c, r.Proposal.ID)
			if p.Status != models.StatusPassed || a.Status != models.StatusNotCarriedOut || a.Note == "" {
				t.Fatalf("after the community changed: proposal %s, action %s (%q), want passed and not carried out", p.Status, a.Status, a.Note)
			}
			if models.Outcome(p.Status, a.Status) != models.StatusNotCarriedOut {
				t.Fatal("the outcome does not say not carried out")
			}
			if w.env.Engine.CanRetry(ctx, w.c, a) {
				t.Errorf("retry offered while the reason (%s) still holds", a.Note)
			}
			if hasActionEffect(t, w.env, a.ID, engine.IntentExecute) {
				t.Error("an action that cannot be carried out was sent to its platform")
			}
			t.Logf("not carried out: %s", a.Note)
		})
	}
}

// TestRetryCarriesOutOnceTheReasonIsGone: an approved role that could not be added because
// its name was taken meanwhile is added when the other role is renamed and someone retries.
func TestRetryCarriesOutOnceTheReasonIsGone(t *testing.T) {
	w := newPreflightWorld(t)
	res := submit(t, w.env, engine.Submission{CommunityID: w.c.ID, Type: engine.TypeAddRole, InitiatorID: w.m[0], Origin: models.OriginWeb,
		Params: map[string]any{"name": "Scribe"}})
	squatter := &models.Role{CommunityID: w.c.ID, Name: "Scribe"}
	must(t, w.env.Store.CreateRole(ctx, squatter, nil))
	vote(t, w.env, w.c, res.Proposal, w.m[1], "yes")
	vote(t, w.env, w.c, res.Proposal, w.m[2], "yes")
	_, a := reload(t, w.env, w.c, res.Proposal.ID)
	if a.Status != models.StatusNotCarriedOut || !strings.Contains(a.Note, "“Scribe” already exists") {
		t.Fatalf("action %s: %q", a.Status, a.Note)
	}
	err := w.env.Engine.RetryAction(ctx, w.c.ID, a.ID, w.m[2])
	if !errors.Is(err, models.ErrInvalid) {
		t.Fatalf("retry while the name is taken: %v", err)
	}
	squatter.Name = "Old scribe"
	must(t, w.env.Store.UpdateRole(ctx, squatter, nil))
	if _, a = reload(t, w.env, w.c, res.Proposal.ID); !w.env.Engine.CanRetry(ctx, w.c, a) {
		t.Fatal("retry not offered once the name is free")
	}
	must(t, w.env.Engine.RetryAction(ctx, w.c.ID, a.ID, w.m[2]))
	if _, a = reload(t, w.env, w.c, res.Proposal.ID); a.Status != models.StatusExecuted {
		t.Fatalf("after retry: %s (%s)", a.Status, a.Note)
	}
	if _, err := w.env.Store.RoleByName(ctx, w.c.ID, "Scribe"); err != nil {
		t.Fatal(err)
	}
	if err := w.env.Engine.RetryAction(ctx, w.c.ID, a.ID, w.m[2]); !errors.Is(err, models.ErrConflict) {
		t.Fatalf("retrying a carried-out action: %v", err)
	}
}
