package engine_test

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"strings"
	"testing"

	"policykit/engine"
	"policykit/engine/enginetest"
	"policykit/models"
	"policykit/models/modelstest"
)

// kitMembers is the size of the communities the kit tests create: more than a jury.
const kitMembers = 5

// sampleParams are parameters of an action of each type the kit tests propose, valid on a
// fresh community of any kit (the test platform's channels are enginetest.Channels).
func sampleParams(typ string, n int) map[string]any {
	switch typ {
	case engine.TypeAddDocument:
		return map[string]any{"title": fmt.Sprintf("Guidelines %d", n), "body": "Be kind."}
	case engine.TypeAddRole:
		return map[string]any{"name": fmt.Sprintf("Greeter %d", n)}
	case "test.rename_channel":
		return map[string]any{"channel": "C1", "name": fmt.Sprintf("town-square-%d", n)}
	case "test.post_message":
		return map[string]any{"channel": "C1", "text": "Hello"}
	}
	panic("no sample parameters for " + typ)
}

// promiseType is an action type a promise is about: its first type, or for "every other
// action" one that no other promise of the kit names.
func promiseType(k engine.Kit, p engine.Promise) string {
	if len(p.Types) > 0 {
		return p.Types[0]
	}
	named := map[string]bool{}
	for _, o := range k.Promises {
		for _, t := range o.Types {
			named[t] = true
		}
	}
	candidates := []string{engine.TypeAddDocument, engine.TypeAddRole}
	if p.Kind == models.KindPlatform {
		candidates = []string{"test.rename_channel", "test.post_message"}
	}
	for _, t := range candidates {
		if !named[t] {
			return t
		}
	}
	panic("every sample type is named by a promise")
}

// TestKitsKeepTheirPromises reads every starter kit's promises (its description, sentence by
// sentence) and holds it to each, on a web-only community and on one with the engine's test
// platform connected: the action a promise is about is proposed by a member without any
// role, and decided as the promise says. On the web-only community a platform promise is
// about "once it is connected": its action is refused, not voted on.
func TestKitsKeepTheirPromises(t *testing.T) {
	env := enginetest.New(t)
	for _, k := range env.Engine.Kits() {
		if len(k.Promises) == 0 || k.Description == "" {
			t.Errorf("kit %s promises nothing", k.Name)
		}
		for i, p := range k.Promises {
			if !strings.Contains(k.Description, p.Says) {
				t.Errorf("kit %s: promise %d is not in its description", k.Name, i)
			}
			for _, connected := range []bool{false, true} {
				where := "web-only"
				if connected {
					where = "connected"
				}
				t.Run(fmt.Sprintf("%s/%d/%s", k.Name, i, where), func(t *testing.T) {
					keepsPromise(t, env, k, p, connected, fmt.Sprintf("%s %d %s", k.Name, i, where))
				})
			}
		}
	}
}

func keepsPromise(t *testing.T, env *enginetest.Env, k engine.Kit, p engine.Promise, connected bool, name string) {
	t.Logf("%s: %s", k.Name, p.Says)
	c, m := env.WebOnlyCommunity(t, name, k.Name, kitMembers)
	if connected {
		env.Connect(t, c)
	}
	typ := promiseType(k, p)
	founder, plain := m[0], m[1] // the founder holds the kit's role, if it has one
	propose := func(by int64, n int) (*engine.Result, error) {
		return env.Engine.Submit(ctx, engine.Submission{CommunityID: c.ID, Type: typ, InitiatorID: by,
			Params: sampleParams(typ, n), Origin: models.OriginWeb})
	}
	if p.Kind == models.KindPlatform && !connected {
		if _, err := propose(plain, 1); !errors.Is(err, models.ErrInvalid) || !strings.Contains(err.Error(), "not connected") {
			t.Fatalf("%s proposed on a community without the platform: %v", typ, err)
		}
		if !strings.HasPrefix(p.Says, "Once ") && !strings.Contains(p.Says, "there") {
			t.Errorf("a platform promise that does not say it waits for the platform: %q", p.Says)
		}
		return
	}
	res, err := propose(plain, 1)
	if err != nil {
		t.Fatalf("propose %s: %v", typ, err)
	}
	outcome := func(r *engine.Result) string {
		t.Helper()
		pr, a := reload(t, env, c, r.Proposal.ID)
		return models.Outcome(pr.Status, a.Status) + "/" + a.Status
	}
	switch p.Decides {
	case engine.DecidedAtOnce:
		if got := outcome(res); got != "passed/executed" && got != "passed/passed" {
			t.Fatalf("promised to pass at once: %s", got)
		}
	case engine.DecidedByMajority:
		eligible := ballotOf(t, res)
		if len(eligible) != kitMembers {
			t.Fatalf("promised a vote of all members: %d may vote", len(eligible))
		}
		half := kitMembers / 2 // not more than half
		for _, id := range eligible[:half] {
			vote(t, env, c, res.Proposal, id, "yes")
		}
		if got := outcome(res); !strings.HasPrefix(got, "pending") {
			t.Fatalf("passed with %d yes of %d: %s", half, kitMembers, got)
		}
		vote(t, env, c, res.Proposal, eligible[half], "yes")
		if got := outcome(res); !strings.HasPrefix(got, "passed") {
			t.Fatalf("more than half voted yes: %s", got)
		}
	case engine.DecidedByRole:
		holders := roleHolders(t, env, c, p.Role)
		if !slices.Equal(holders, []int64{founder}) {
			t.Fatalf("the role %q is held by %v, want the founder", p.Role, holders)
		}
		if !slices.Equal(ballotOf(t, res), holders) {
			t.Fatalf("promised that the role decides: eligible %v", ballotOf(t, res))
		}
		vote(t, env, c, res.Proposal, founder, "yes")
		if got := outcome(res); !strings.HasPrefix(got, "passed") {
			t.Fatalf("approved by the role: %s", got)
		}
		own, err := propose(founder, 2)
		if err != nil {
			t.Fatal(err)
		}
		if got := outcome(own); !strings.HasPrefix(got, "passed") {
			t.Fatalf("promised that the role's own changes pass at once: %s", got)
		}
	case engine.DecidedByJury:
		jury := ballotOf(t, res)
		if len(jury) != p.JurySize {
			t.Fatalf("promised a jury of %d: %d may vote", p.JurySize, len(jury))
		}
		for _, id := range jury[:p.JuryYes-1] {
			vote(t, env, c, res.Proposal, id, "yes")
		}
		if got := outcome(res); !strings.HasPrefix(got, "pending") {
			t.Fatalf("passed with %d yes: %s", p.JuryYes-1, got)
		}
		vote(t, env, c, res.Proposal, jury[p.JuryYes-1], "yes")
		if got := outcome(res); !strings.HasPrefix(got, "passed") {
			t.Fatalf("%d jurors voted yes: %s", p.JuryYes, got)
		}
	default:
		t.Fatalf("unknown promise kind %q", p.Decides)
	}
}

func ballotOf(t *testing.T, res *engine.Result) []int64 {
	t.Helper()
	if res.Proposal == nil || res.Proposal.Status != models.StatusPending || res.Proposal.Ballot == nil {
		t.Fatalf("promised a vote, got proposal %+v (action %s: %s)", res.Proposal, res.Action.Status, res.Action.Note)
	}
	return res.Proposal.Ballot.Eligible
}

func roleHolders(t *testing.T, env *enginetest.Env, c *models.Community, role string) []int64 {
	t.Helper()
	ids, err := env.Store.MemberIDsWithRole(ctx, c.ID, role)
	if err != nil {
		t.Fatal(err)
	}
	return ids
}

// TestKitsWithoutPlatforms: on a server without any platform, no kit speaks of platforms or
// channels, and the jury kit's jury still has something to decide.
func TestKitsWithoutPlatforms(t *testing.T) {
	eng, err := engine.New(modelstest.Open(t), engine.Options{Log: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range eng.Kits() {
		for _, word := range []string{"channel", "platform", "connected"} {
			if strings.Contains(strings.ToLower(k.Description), word) {
				t.Errorf("kit %s speaks of %s without any platform: %q", k.Name, word, k.Description)
			}
		}
		for _, p := range k.Promises {
			if p.Kind != models.KindConstitution {
				t.Errorf("kit %s promises a platform action: %q", k.Name, p.Says)
			}
		}
	}
	jury, err := eng.KitByName(engine.KitJury)
	if err != nil {
		t.Fatal(err)
	}
	if jury.Promises[0].Decides != engine.DecidedByJury {
		t.Fatalf("the jury kit's first promise: %+v", jury.Promises[0])
	}
}

// TestJuryKitInASmallCommunity: a new community of one or two members under the jury kit
// can use its jury at once: they are the jury, and every one of them must say yes.
func TestJuryKitInASmallCommunity(t *testing.T) {
	env := enginetest.New(t)
	for n := 1; n <= 2; n++ {
		c, m := env.WebOnlyCommunity(t, fmt.Sprintf("Small %d", n), engine.KitJury, n)
		res := submit(t, env, engine.Submission{CommunityID: c.ID, Type: engine.TypeAddDocument, InitiatorID: m[0],
			Params: sampleParams(engine.TypeAddDocument, n), Origin: models.OriginWeb})
		jury := ballotOf(t, res)
		if len(jury) != n {
			t.Fatalf("%d members: jury %v", n, jury)
		}
		for i, id := range jury {
			r := vote(t, env, c, res.Proposal, id, "yes")
			want := models.StatusPending
			if i == n-1 {
				want = models.StatusPassed
			}
			if r.Proposal.Status != want {
				t.Fatalf("%d members, %d yes: %s, want %s", n, i+1, r.Proposal.Status, want)
			}
		}
		if docs, _ := env.Store.Documents(ctx, c.ID); len(docs) != 1 {
			t.Fatalf("%d members: the document was not added", n)
		}
	}
}
