package engine_test

import (
	"strings"
	"testing"

	"policykit/engine"
	"policykit/engine/enginetest"
	"policykit/models"
)

// failWrites makes the database refuse a kind of write with a message of its own, as a
// disk, a constraint or a lost connection would: the deciding transaction must report that
// cause, not swallow it (SQLite) or answer "transaction aborted" (PostgreSQL).
func failWrites(t *testing.T, env *enginetest.Env, table, event, msg string) {
	t.Helper()
	stmts := []string{`CREATE TRIGGER refuse_` + table + ` BEFORE ` + event + ` ON ` + table + ` BEGIN SELECT RAISE(ABORT, '` + msg + `'); END`}
	if env.Store.Dialect() == models.DialectPostgres {
		stmts = []string{
			`CREATE FUNCTION refuse_` + table + `() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RAISE EXCEPTION '` + msg + `'; END $$`,
			`CREATE TRIGGER refuse_` + table + ` BEFORE ` + event + ` ON ` + table + ` FOR EACH ROW EXECUTE FUNCTION refuse_` + table + `()`,
		}
	}
	for _, q := range stmts {
		if err := env.Store.DB().Exec(q).Error; err != nil {
			t.Fatal(err)
		}
	}
}

func wantCause(t *testing.T, err error, cause string) {
	t.Helper()
	if err == nil || !strings.Contains(err.Error(), cause) {
		t.Fatalf("error %v: want the database's own cause %q", err, cause)
	}
}

// TestPolicyErrorThatCannotBeRecorded: recording a policy's error on the policy fails; the
// request fails with that cause and writes nothing (it was ignored before).
func TestPolicyErrorThatCannotBeRecorded(t *testing.T) {
	env := enginetest.New(t)
	c, m := env.Community(t, "Record", engine.KitEverythingPasses, 3)
	addPolicy(t, env, c, m[0], map[string]any{"kind": "platform", "name": "Broken", "priority": 1,
		"action_types": []any{"test.post_message"}, "check": `len(sample(members(), 50)) > 0 ? PASSED : PENDING`})
	failWrites(t, env, "policies", "UPDATE", "policies are read-only today")
	before := count(t, env, "proposals")
	_, err := env.Engine.Submit(ctx, engine.Submission{CommunityID: c.ID, Type: "test.post_message", InitiatorID: m[1],
		Origin: models.OriginPlatform, Params: map[string]any{"channel": "x", "text": "y"}})
	wantCause(t, err, "policies are read-only today")
	if n := count(t, env, "proposals"); n != before {
		t.Fatalf("%d proposals written by a failed request", n-before)
	}
}

// TestDryRunDecisionThatCannotBeSaved: a dry-run policy's decision cannot be saved when a
// proposal is re-checked; the re-check fails with that cause (it was ignored before).
func TestDryRunDecisionThatCannotBeSaved(t *testing.T) {
	env := enginetest.New(t)
	c, m := env.Community(t, "Shadow", engine.KitEverythingPasses, 3)
	addPolicy(t, env, c, m[0], map[string]any{"kind": "platform", "name": "Waits", "priority": 1,
		"action_types": []any{"test.post_message"}, "check": `PENDING`})
	addPolicy(t, env, c, m[0], map[string]any{"kind": "platform", "name": "Trial", "priority": 2, "mode": models.ModeDryRun,
		"action_types": []any{"test.post_message"}, "check": `proposal.age > duration("1h") ? PASSED : PENDING`})
	res := submit(t, env, engine.Submission{CommunityID: c.ID, Type: "test.post_message", InitiatorID: m[1],
		Origin: models.OriginPlatform, Params: map[string]any{"channel": "x", "text": "y"}})
	if n := count(t, env, "shadow_decisions"); n != 1 {
		t.Fatalf("%d dry-run decisions, want 1", n)
	}
	failWrites(t, env, "shadow_decisions", "UPDATE", "dry-run decisions are read-only today")
	env.Clock.Advance(2 * 3600e9)
	_, err := env.Engine.Recheck(ctx, c.ID, res.Proposal.ID)
	wantCause(t, err, "dry-run decisions are read-only today")
}

// TestElectionWinnerThatCannotBeRead: reading the winning candidate's document fails while
// the election is decided; the vote fails with that cause and the election stays open (it
// was "the election has no winner" before).
func TestElectionWinnerThatCannotBeRead(t *testing.T) {
	env := enginetest.New(t)
	c, m := env.Community(t, "Elect", engine.KitEverythingPasses, 2)
	submit(t, env, engine.Submission{CommunityID: c.ID, Type: engine.TypeAddDocument, InitiatorID: m[0], Origin: models.OriginWeb,
		Params: map[string]any{"title": "Guide", "body": "Be kind."}})
	docs, err := env.Store.Documents(ctx, c.ID)
	if err != nil || len(docs) != 1 {
		t.Fatalf("documents %v %v", docs, err)
	}
	addPolicy(t, env, c, m[0], map[string]any{"kind": "constitution", "name": "Election", "priority": 1,
		"action_types": []any{engine.TypeElection}, "notify": `start_vote("choice")`,
		"check": `voters() == len(eligible()) ? PASSED : PENDING`, "pass": `execute(plurality_winner())`})
	change := func(body string) map[string]any {
		return map[string]any{"document": docs[0].ID, "title": "Guide", "body": body}
	}
	res := submit(t, env, engine.Submission{CommunityID: c.ID, Type: engine.TypeElection, InitiatorID: m[0], Origin: models.OriginWeb,
		Params: map[string]any{"title": "Which guide?", "candidates": []any{
			map[string]any{"label": "Short", "type": engine.TypeChangeDocument, "params": change("Be kind!")},
			map[string]any{"label": "Long", "type": engine.TypeChangeDocument, "params": change("Be kind and brave.")}}}})
	vote(t, env, c, res.Proposal, m[0], "Long")
	if err := env.Store.DB().Exec(`ALTER TABLE documents RENAME TO documents_elsewhere`).Error; err != nil {
		t.Fatal(err)
	}
	_, err = env.Engine.CastVote(ctx, c.ID, res.Proposal.ID, m[1], "Long", "api")
	wantCause(t, err, "documents")
	if err := env.Store.DB().Exec(`ALTER TABLE documents_elsewhere RENAME TO documents`).Error; err != nil {
		t.Fatal(err)
	}
	if p, a := reload(t, env, c, res.Proposal.ID); p.Status != models.StatusPending || a.Status != models.StatusPending {
		t.Fatalf("after a failed decision: proposal %s, action %s (%s)", p.Status, a.Status, a.Note)
	}
}
