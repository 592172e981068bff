package blocks_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	"policykit/engine"
	"policykit/engine/blocks"
	"policykit/engine/enginetest"
	"policykit/models"
)

var ctx = context.Background()

// world is a governed test community: everything_passes governs changes to its rules, so
// installing a compiled policy is one passing add_policy action.
type world struct {
	env     *enginetest.Env
	c       *models.Community
	members []int64 // creator first
}

// lab is one database and engine shared by many worlds (creating a database per case would
// make the tables slow).
type lab struct {
	env    *enginetest.Env
	worlds int
}

func newLab(t *testing.T) *lab {
	t.Helper()
	return &lab{env: enginetest.New(t)}
}

// world creates a community of n members; roles gives each role's holders by member index.
func (l *lab) world(t *testing.T, n int, roles map[string][]int) *world {
	t.Helper()
	l.worlds++
	env := l.env
	c, members := env.Community(t, fmt.Sprintf("world %d", l.worlds), engine.KitEverythingPasses, n)
	w := &world{env: env, c: c, members: members}
	for name, holders := range roles {
		r := &models.Role{CommunityID: c.ID, Name: name}
		if err := env.Store.CreateRole(ctx, r, []models.RolePermission{{ActionType: "*", Propose: true}}); err != nil {
			t.Fatal(err)
		}
		for _, i := range holders {
			if err := env.Store.GrantRole(ctx, c.ID, members[i], r.ID); err != nil {
				t.Fatal(err)
			}
		}
	}
	return w
}

// install compiles p and adds it through a governed add_policy action (with the builder's
// parameters, blocks JSON included), at the highest priority. A bundle's later stages are
// stored first as inactive policies.
func (w *world) install(t *testing.T, name string, p *blocks.Program) *blocks.Output {
	t.Helper()
	out, err := blocks.CompilePolicy(p, blocks.Names{Types: w.env.Engine.ActionLabels()})
	if err != nil {
		t.Fatalf("compile: %v", err)
	}
	var stageIDs []any
	for i, s := range out.Stages {
		pol := &models.Policy{CommunityID: w.c.ID, PolicyFields: models.PolicyFields{
			Kind: out.Kind, Name: fmt.Sprintf("%s, stage %d", name, i+2), Mode: models.ModeEnforce, Active: false, Priority: 5000,
			ActionTypes: out.ActionTypes, Stages: []int64{}, Rule: s.Rule, Description: s.Rule,
			FilterSrc: s.Sources.Filter, InitSrc: s.Sources.Initialize, NotifySrc: s.Sources.Notify,
			CheckSrc: s.Sources.Check, PassSrc: s.Sources.Pass, FailSrc: s.Sources.Fail}}
		if err := w.env.Store.SavePolicy(ctx, pol, nil); err != nil {
			t.Fatal(err)
		}
		stageIDs = append(stageIDs, float64(pol.ID))
	}
	raw, err := p.Encode()
	if err != nil {
		t.Fatal(err)
	}
	types := make([]any, len(out.ActionTypes))
	for i, s := range out.ActionTypes {
		types[i] = s
	}
	res, err := w.env.Engine.Submit(ctx, engine.Submission{CommunityID: w.c.ID, Type: engine.TypeAddPolicy, InitiatorID: w.members[0],
		Origin: models.OriginWeb, Params: map[string]any{
			"kind": out.Kind, "name": name, "priority": float64(1), "action_types": types, "stages": stageIDs,
			"filter": out.Sources.Filter, "initialize": out.Sources.Initialize, "notify": out.Sources.Notify,
			"check": out.Sources.Check, "pass": out.Sources.Pass, "fail": out.Sources.Fail,
			"rule": out.Rule, "blocks": string(raw)}})
	if err != nil {
		t.Fatalf("add policy: %v", err)
	}
	if res.Action.Status != models.StatusExecuted {
		t.Fatalf("add policy: %s (%s)", res.Action.Status, res.Action.Note)
	}
	return out
}

// submit governs an action by member index.
func (w *world) submit(t *testing.T, typ string, by int, params map[string]any) *engine.Result {
	t.Helper()
	origin := models.OriginPlatform
	if strings.HasPrefix(typ, "constitution.") {
		origin = models.OriginWeb
	}
	res, err := w.env.Engine.Submit(ctx, engine.Submission{CommunityID: w.c.ID, Type: typ, InitiatorID: w.members[by], Origin: origin, Params: params})
	if err != nil {
		t.Fatalf("submit %s: %v", typ, err)
	}
	return res
}

// latest is the newest proposal of an action (the current stage of a bundle).
func (w *world) proposals(t *testing.T, actionID int64) []models.Proposal {
	t.Helper()
	ps, err := w.env.Store.ProposalsOfAction(ctx, actionID)
	if err != nil || len(ps) == 0 {
		t.Fatalf("proposals of action %d: %v", actionID, err)
	}
	return ps
}

// play runs a scenario against an action's proposals. Steps:
//
//	"yes 0"          the first eligible voter of the current ballot votes yes (also no,
//	                 abstain, agree, disagree, block)
//	"rank 1 A,B"     a ranking; "approve 1 A,B" an approval ballot
//	"outsider yes"   a member who is not eligible tries to vote: refused
//	"+48h"           the clock moves on and the check loop runs
//	"=pending"       the current proposal's status (passed, failed)
//	"stages 2"       how many proposals (bundle stages) the action has
func (w *world) play(t *testing.T, actionID int64, steps []string) {
	t.Helper()
	for i, step := range steps {
		ps := w.proposals(t, actionID)
		p := ps[len(ps)-1]
		fields := strings.Fields(step)
		fail := func(format string, args ...any) {
			t.Helper()
			t.Fatalf("step %d %q: %s", i+1, step, fmt.Sprintf(format, args...))
		}
		switch {
		case strings.HasPrefix(step, "+"):
			d, err := time.ParseDuration(step[1:])
			if err != nil {
				fail("%v", err)
			}
			w.env.Clock.Advance(d)
			if _, err := w.env.Engine.CheckPending(ctx); err != nil {
				fail("check loop: %v", err)
			}
		case strings.HasPrefix(step, "="):
			if want := step[1:]; p.Status != want {
				fail("proposal (stage %d) is %s, want %s (error %q)", p.Stage+1, p.Status, want, p.Error)
			}
		case fields[0] == "stages":
			if n, _ := strconv.Atoi(fields[1]); len(ps) != n {
				fail("%d proposals, want %d", len(ps), n)
			}
		case fields[0] == "outsider":
			if p.Ballot == nil {
				fail("no ballot")
			}
			var out int64
			for _, m := range w.members {
				if !p.Ballot.IsEligible(m) {
					out = m
					break
				}
			}
			if _, err := w.env.Engine.CastVote(ctx, w.c.ID, p.ID, out, fields[1], "web"); !errors.Is(err, models.ErrForbidden) {
				fail("a member who is not eligible voted: %v", err)
			}
		default:
			if p.Ballot == nil || len(fields) < 2 {
				fail("no ballot open (error %q)", p.Error)
			}
			idx, err := strconv.Atoi(fields[1])
			if err != nil || idx >= len(p.Ballot.Eligible) {
				fail("no eligible voter %s among %v", fields[1], p.Ballot.Eligible)
			}
			var value any = fields[0]
			if fields[0] == "rank" || fields[0] == "approve" {
				var list []any
				for _, o := range strings.Split(fields[2], ",") {
					list = append(list, o)
				}
				value = list
			}
			if _, err := w.env.Engine.CastVote(ctx, w.c.ID, p.ID, p.Ballot.Eligible[idx], value, "web"); err != nil {
				fail("vote: %v", err)
			}
		}
	}
}

// effects lists the effects recorded for an action's proposals, as "kind" or "kind: text".
func (w *world) effects(t *testing.T, actionID int64) []string {
	t.Helper()
	var es []models.Effect
	if err := w.env.Store.DB().Where("action_id = ?", actionID).Order("id").Find(&es).Error; err != nil {
		t.Fatal(err)
	}
	out := make([]string, len(es))
	for i, e := range es {
		out[i] = e.Kind
		if text, ok := e.Payload["text"].(string); ok {
			out[i] += ": " + text
		}
		if ms, ok := e.Payload["members"]; ok {
			b, _ := json.Marshal(ms)
			out[i] += " to " + string(b)
		}
	}
	return out
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

func count(list []string, prefix string) int {
	n := 0
	for _, x := range list {
		if strings.HasPrefix(x, prefix) {
			n++
		}
	}
	return n
}
