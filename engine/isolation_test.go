package engine_test

import (
	"sync"
	"testing"

	"policykit/engine"
	"policykit/engine/enginetest"
	"policykit/models"
)

// TestCostlyCommunityRunsAlone: a community whose policy costs tens of milliseconds per
// evaluation is taken out of shared batches after its first such request, and its requests
// still count every vote once, while another community's concurrent votes are all counted
// in theirs.
func TestCostlyCommunityRunsAlone(t *testing.T) {
	if raceEnabled {
		t.Skip("under the race detector a program costly enough to mark its community goes over the time budget")
	}
	env := enginetest.New(t)
	costly, cm := env.Community(t, "Costly", engine.KitEverythingPasses, 10)
	addPolicy(t, env, costly, cm[0], map[string]any{"kind": "constitution", "name": "Costly vote", "priority": 1,
		"action_types": []any{engine.TypeAddDocument}, "notify": `start_vote("yes_no")`,
		"check": `all(1..500, all(1..100, # > 0)) && voters() > 100 ? PASSED : PENDING`})
	quick, qm := env.Community(t, "Quick", engine.KitEverythingPasses, 60)
	addPolicy(t, env, quick, qm[0], map[string]any{"kind": "constitution", "name": "Everyone votes", "priority": 1,
		"action_types": []any{engine.TypeAddDocument}, "notify": `start_vote("yes_no")`, "check": `voters() == 60 ? PASSED : PENDING`})
	open := func(c *models.Community, by int64) *models.Proposal {
		return submit(t, env, engine.Submission{CommunityID: c.ID, Type: engine.TypeAddDocument, InitiatorID: by, Origin: models.OriginWeb,
			Params: map[string]any{"title": "Charter", "body": "We decide together."}}).Proposal
	}
	cp, qp := open(costly, cm[0]), open(quick, qm[0])
	if !env.Engine.RunsAlone(costly.ID) || env.Engine.RunsAlone(quick.ID) {
		t.Fatalf("runs alone: costly %v, quick %v", env.Engine.RunsAlone(costly.ID), env.Engine.RunsAlone(quick.ID))
	}
	var wg sync.WaitGroup
	errs := make(chan error, len(cm)+len(qm))
	cast := func(c *models.Community, p *models.Proposal, member int64) {
		defer wg.Done()
		if _, err := env.Engine.CastVote(ctx, c.ID, p.ID, member, "yes", "api"); err != nil {
			errs <- err
		}
	}
	for _, id := range cm {
		wg.Add(1)
		go cast(costly, cp, id)
	}
	for _, id := range qm {
		wg.Add(1)
		go cast(quick, qp, id)
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatalf("vote failed: %v", err)
	}
	if p, _ := reload(t, env, quick, qp.ID); p.Status != models.StatusPassed {
		t.Fatalf("the quick community's proposal is %s (%s) after all 60 votes", p.Status, p.Error)
	}
	p, _ := reload(t, env, costly, cp.ID)
	tally, err := env.Engine.Tally(ctx, p)
	if err != nil || tally.Voters != len(cm) || p.Status != models.StatusPending || p.Error != "" {
		t.Fatalf("costly community: tally %+v (%v), status %s, error %q", tally, err, p.Status, p.Error)
	}
}
