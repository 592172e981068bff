package handlers_test

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/PuerkitoBio/goquery"

	"policykit/engine"
	"policykit/engine/blocks"
	"policykit/engine/enginetest"
	"policykit/models"
)

// builderWorld is a community on the "everything passes" kit (so a proposed policy is
// adopted at once) with Ada, who signed up, and three more members, on an app with the
// recording platform (its test.rename_channel and test.post_message).
type builderWorld struct {
	app     *testApp
	ada     *browser
	slug    string
	comm    *models.Community
	members []int64 // Ada first
}

func newBuilderWorld(t *testing.T) *builderWorld {
	t.Helper()
	app := newTestApp(t, enginetest.NewPlatform())
	ada := app.browser()
	ada.signup("Ada")
	slug := ada.createCommunity("Commons")
	ctx := context.Background()
	comm, err := app.store.CommunityBySlug(ctx, slug)
	if err != nil {
		t.Fatal(err)
	}
	me, err := app.store.AccountByEmail(ctx, "ada@example.org")
	if err != nil {
		t.Fatal(err)
	}
	m, err := app.store.MemberByAccount(ctx, comm.ID, me.ID)
	if err != nil {
		t.Fatal(err)
	}
	enginetest.Connect(t, app.store, comm)
	w := &builderWorld{app: app, ada: ada, slug: slug, comm: comm, members: []int64{m.ID}}
	for _, name := range []string{"Bob", "Cy", "Dee"} {
		m, err := app.store.AddMember(ctx, comm.ID, name)
		if err != nil {
			t.Fatal(err)
		}
		w.members = append(w.members, m.ID)
	}
	ada.get("/c/" + slug + "/builder") // the CSRF token
	return w
}

// juryForm is the policy as the builder form sends it: renaming a channel needs 2 yes
// of a random 3-member jury within 48 hours, otherwise it fails.
func juryForm() url.Values {
	return url.Values{"builder_mode": {"blocks"}, "kind": {"platform"}, "name": {"Jury for renames"}, "mode": {"enforce"},
		"when.action_types": {"test.rename_channel"}, "deciders.who": {"jury"}, "deciders.size": {"3"}, "deciders.pool": {""},
		"how.method": {"threshold"}, "how.yes": {"2"}, "how.of": {"cast"}, "quorum.kind": {"none"},
		"deadline.after": {"48h"}, "deadline.then": {"fail"}, "on_pass.execute": {"on"}, "stage_count": {"0"}}
}

func with(v url.Values, kv ...string) url.Values {
	out := url.Values{}
	for k, vs := range v {
		out[k] = append([]string(nil), vs...)
	}
	for i := 0; i+1 < len(kv); i += 2 {
		out.Set(kv[i], kv[i+1])
	}
	return out
}

// written counts the rows a governed change would write.
func (w *builderWorld) written() string {
	w.app.t.Helper()
	return fmt.Sprint(w.app.count("policies"), w.app.count("actions"), w.app.count("proposals"), w.app.count("policy_versions"))
}

func TestBuilderRendersBlocksCodeAndRule(t *testing.T) {
	w := newBuilderWorld(t)
	path := "/c/" + w.slug + "/builder"
	code, doc := w.ada.get(path)
	if code != http.StatusOK {
		t.Fatalf("GET builder: %d", code)
	}
	form := doc.Find("form#builder")
	if v, _ := form.Attr("hx-post"); v != path || form.AttrOr("method", "") != "post" {
		t.Fatalf("the builder form must post to %s with and without htmx", path)
	}
	doc.Find("input:not([type=hidden]), select, textarea").Each(func(_ int, s *goquery.Selection) {
		id := s.AttrOr("id", "")
		if _, aria := s.Attr("aria-label"); !aria && (id == "" || doc.Find(`label[for="`+id+`"]`).Length() == 0) {
			t.Errorf("control %q has no label", s.AttrOr("name", id))
		}
	})
	if rule := doc.Find("#builder-rule").Text(); !strings.Contains(rule, "passes at once, without a vote") {
		t.Errorf("a new policy's rule = %q", rule)
	}

	tests := []struct {
		name   string
		htmx   bool
		status int
	}{
		{"htmx edit: the views alone", true, http.StatusOK},
		{"full page post without JavaScript", false, http.StatusOK},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := w.written()
			var resp *http.Response
			var doc *goquery.Document
			if tt.htmx {
				resp, doc = w.ada.htmx(http.MethodPost, path, juryForm())
			} else {
				resp, doc = w.ada.post(path, with(juryForm(), "op", "preview"))
			}
			if resp.StatusCode != tt.status {
				t.Fatalf("status %d", resp.StatusCode)
			}
			if rule := doc.Find("#builder-rule").Text(); !strings.HasPrefix(rule, "When someone renames a channel, a jury of 3 members, drawn at random") ||
				!strings.Contains(rule, "If it is still open after 48 hours, it fails.") {
				t.Errorf("rule = %q", rule)
			}
			if code := doc.Find("#builder-code").Text(); !strings.Contains(code, `threshold(max(1, min(2, len(get("jury")))), {deadline: "48h", at_deadline: "fail"})`) {
				t.Errorf("code = %q", code)
			}
			page := doc.Find("form#builder").Length() == 1
			if page == tt.htmx {
				t.Errorf("htmx=%v answered with the whole page=%v", tt.htmx, page)
			}
			if tt.htmx {
				if n := doc.Find(`[data-error][hx-swap-oob="true"]`).Length(); n < 20 {
					t.Errorf("only %d error slots swapped out of band", n)
				}
			} else if _, on := doc.Find("#f-deciders-who-jury").Attr("checked"); !on || doc.Find("#f-deciders-size").AttrOr("value", "") != "3" {
				t.Error("the re-rendered form lost the choices made")
			}
			if after := w.written(); after != before {
				t.Errorf("a preview wrote rows: %s → %s", before, after)
			}
		})
	}
}

func TestBuilderExplainsInvalidCombinationsInline(t *testing.T) {
	w := newBuilderWorld(t)
	ctx := context.Background()
	if err := w.app.store.CreateRole(ctx, &models.Role{CommunityID: w.comm.ID, Name: "Stewards"}, nil); err != nil {
		t.Fatal(err)
	}
	path := "/c/" + w.slug + "/builder"
	tests := []struct {
		name string
		form url.Values
		slot string // the error slot next to the control
		want string
	}{
		{"supermajority of an empty role", with(juryForm(), "deciders.who", "role", "deciders.role", "Stewards", "how.method", "supermajority", "how.fraction", "2/3"),
			"#e-deciders-role", "nobody has the role “Stewards”, so nobody could vote"},
		{"more yes votes than jurors", with(juryForm(), "how.yes", "5"), "#e-how-yes", "the jury has only 3 members, so 5 yes votes can never happen"},
		{"deadline of zero", with(juryForm(), "deadline.after", "0h"), "#e-deadline-after", "is not a duration"},
		{"not a number", with(juryForm(), "how.yes", "two"), "#e-how-yes", "must be a whole number"},
		{"a reminder after the deadline", with(juryForm(), "tell.remind_before", "3d"), "#e-tell-remind-before", "must be shorter than the deadline (2 days)"},
		{"an unknown role for the pool", with(juryForm(), "deciders.pool", "Ghosts"), "#e-deciders-pool", "there is no role named “Ghosts”"},
		{"broken code", url.Values{"builder_mode": {"code"}, "kind": {"platform"}, "name": {"Hand"}, "code.0.check": {"threshold("}},
			"#e-code-0-check", "line 1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := w.written()
			resp, doc := w.ada.htmx(http.MethodPost, path, tt.form)
			if resp.StatusCode != http.StatusOK {
				t.Fatalf("status %d", resp.StatusCode)
			}
			if got := doc.Find(tt.slot).Text(); !strings.Contains(got, tt.want) {
				t.Errorf("%s = %q, want …%s…", tt.slot, got, tt.want)
			}
			if got := doc.Find("#builder-problems").Text(); !strings.Contains(got, tt.want) {
				t.Errorf("the problem list = %q, want it to name the problem", got)
			}
			// Saving it is refused with the same message next to the control; nothing written.
			resp, doc = w.ada.post(path, with(tt.form, "op", "save"))
			if resp.StatusCode != http.StatusUnprocessableEntity {
				t.Fatalf("save: status %d", resp.StatusCode)
			}
			id := strings.TrimPrefix(tt.slot, "#e-")
			if got := doc.Find(tt.slot).Text(); !strings.Contains(got, tt.want) {
				t.Errorf("after save %s = %q", tt.slot, got)
			}
			if !strings.HasPrefix(id, "code-") && doc.Find(`[aria-describedby~="e-`+id+`"]`).Length() == 0 {
				t.Errorf("no control is described by its error slot %s", tt.slot)
			}
			if after := w.written(); after != before {
				t.Errorf("an invalid draft wrote rows: %s → %s", before, after)
			}
		})
	}
}

// TestBuilderDefaults: a block chosen with its numbers left empty works (a jury of 3,
// threshold 2, a deadline of 7 days where the method needs one), and a jury bigger than the
// community is accepted as all of it, as the rule says.
func TestBuilderDefaults(t *testing.T) {
	w := newBuilderWorld(t)
	path := "/c/" + w.slug + "/builder"
	tests := []struct {
		name string
		form url.Values
		rule []string
		code string
	}{
		{"jury and threshold left empty", with(juryForm(), "deciders.size", "", "how.yes", "", "deadline.after", ""),
			[]string{"a jury of 3 members", "at least 2 voters vote yes"}, `threshold(max(1, min(2, len(get("jury")))))`},
		{"lazy consensus without a deadline", with(juryForm(), "how.method", "lazy_consensus", "deadline.after", "", "deadline.then", ""),
			[]string{"It passes after 7 days unless 1 voter votes no"}, `lazy_consensus(1, {deadline: "7d"})`},
		{"a jury bigger than the community", with(juryForm(), "deciders.size", "9"),
			[]string{"a jury of 9 members", "all of them if there are fewer than 9"}, `sample(pool, min(9, len(pool)))`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, doc := w.ada.htmx(http.MethodPost, path, tt.form)
			if problems := strings.TrimSpace(doc.Find("#builder-problems").Text()); problems != "" {
				t.Fatalf("problems: %s", problems)
			}
			rule := doc.Find("#builder-rule").Text()
			for _, want := range tt.rule {
				if !strings.Contains(rule, want) {
					t.Errorf("rule %q lacks %q", rule, want)
				}
			}
			if code := doc.Find("#builder-code").Text(); !strings.Contains(code, tt.code) {
				t.Errorf("code %q lacks %q", code, tt.code)
			}
		})
	}
	_, doc := w.ada.get(path)
	if got := doc.Find("#f-deadline-after").AttrOr("value", ""); got != "7d" {
		t.Errorf("a new policy's deadline is %q, want 7d", got)
	}
}

func TestBuilderSaveProposesThePolicy(t *testing.T) {
	w := newBuilderWorld(t)
	ctx := context.Background()
	path := "/c/" + w.slug + "/builder"
	resp, _ := w.ada.post(path, with(juryForm(), "op", "save"))
	if resp.StatusCode != http.StatusSeeOther || !strings.HasPrefix(resp.Header.Get("Location"), "/c/"+w.slug+"/proposals/") {
		t.Fatalf("save: %d to %q, want a redirect to the proposal", resp.StatusCode, resp.Header.Get("Location"))
	}
	p, err := w.app.store.PolicyByName(ctx, w.comm.ID, "Jury for renames")
	if err != nil {
		t.Fatalf("the proposal (adopted at once by the kit) did not add the policy: %v", err)
	}
	prog, err := blocks.Decode([]byte(p.Blocks))
	if err != nil {
		t.Fatalf("stored blocks: %v", err)
	}
	out, err := blocks.CompilePolicy(prog, blocks.Names{Types: w.app.engine.ActionLabels()})
	if err != nil || out.Sources != engine.SourcesOf(&p.PolicyFields) || out.Rule != p.Rule {
		t.Fatalf("the stored code and rule are not what the stored blocks compile to (%v)", err)
	}
	if strings.Join(p.ActionTypes, ",") != "test.rename_channel" || p.Kind != models.KindPlatform || p.Priority != 990 {
		t.Fatalf("policy = %s %v priority %d, want platform [test.rename_channel] before the base policy (990)", p.Kind, p.ActionTypes, p.Priority)
	}

	// Changing it: the builder opens with its blocks, and saving proposes change_policy.
	code, doc := w.ada.get(fmt.Sprintf("/c/%s/policies/%d/builder", w.slug, p.ID))
	if code != http.StatusOK {
		t.Fatalf("edit: %d", code)
	}
	if _, on := doc.Find("#f-deciders-who-jury").Attr("checked"); !on || doc.Find("#f-how-yes").AttrOr("value", "") != "2" ||
		doc.Find(`input[name="policy"]`).AttrOr("value", "") != fmt.Sprint(p.ID) {
		t.Fatal("the builder did not open the policy's blocks")
	}
	resp, _ = w.ada.post(path, with(juryForm(), "op", "save", "policy", fmt.Sprint(p.ID), "how.yes", "3", "priority", "990"))
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("change: %d", resp.StatusCode)
	}
	if p, _ = w.app.store.PolicyByID(ctx, w.comm.ID, p.ID); p.Version != 2 || !strings.Contains(p.CheckSrc, "min(3, len") {
		t.Fatalf("after the change: version %d, check %q", p.Version, p.CheckSrc)
	}

	// A bundle: its later stage is created inactive and listed in stages.
	bundle := with(juryForm(), "op", "save", "name", "Two rounds", "stage_count", "1",
		"stages[0].deciders.who", "everyone", "stages[0].how.method", "majority", "stages[0].deadline.after", "7d")
	if resp, doc = w.ada.post(path, bundle); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("bundle: %d %s", resp.StatusCode, doc.Find("#form-error, #builder-problems").Text())
	}
	first, err := w.app.store.PolicyByName(ctx, w.comm.ID, "Two rounds")
	if err != nil || len(first.Stages) != 1 {
		t.Fatalf("bundle: %v, stages %v", err, first.Stages)
	}
	stage, err := w.app.store.PolicyByID(ctx, w.comm.ID, first.Stages[0])
	if err != nil || stage.Active || !strings.Contains(stage.CheckSrc, "majority(") || !strings.Contains(stage.Rule, "All members vote yes, no or abstain") {
		t.Fatalf("stage 2: %v %+v", err, stage)
	}
	code, doc = w.ada.get(fmt.Sprintf("/c/%s/policies/%d/builder", w.slug, first.ID))
	if _, on := doc.Find("#f-stages-0-deciders-who-everyone").Attr("checked"); code != http.StatusOK || !on {
		t.Fatal("the bundle does not open with its stage 2 blocks")
	}
}

func TestBuilderStagesAddAndRemove(t *testing.T) {
	w := newBuilderWorld(t)
	path := "/c/" + w.slug + "/builder"
	_, doc := w.ada.post(path, with(juryForm(), "op", "add_stage"))
	if doc.Find("#block-stage-2").Length() != 1 || doc.Find(`input[name="stage_count"]`).AttrOr("value", "") != "1" {
		t.Fatal("add a stage: no stage 2 section")
	}
	form := with(juryForm(), "stage_count", "2", "op", "remove_stage_2",
		"stages[0].deciders.who", "everyone", "stages[1].deciders.who", "jury", "stages[1].deciders.size", "2")
	_, doc = w.ada.post(path, form)
	if doc.Find(`input[name="stage_count"]`).AttrOr("value", "") != "1" || doc.Find("#f-stages-0-deciders-size").AttrOr("value", "") != "2" {
		t.Fatal("removing stage 2 did not move stage 3 up with what was typed in it")
	}
	if _, on := doc.Find("#f-stages-0-deciders-who-jury").Attr("checked"); !on {
		t.Fatal("stage 3's choice was not moved up")
	}
}

func TestBuilderDetachAndReattach(t *testing.T) {
	w := newBuilderWorld(t)
	path := "/c/" + w.slug + "/builder"
	resp, doc := w.ada.post(path, with(juryForm(), "op", "detach"))
	if resp.StatusCode != http.StatusOK || !strings.Contains(doc.Find("#detached").Text(), "Detached from its blocks") {
		t.Fatalf("detach: %d, no notice", resp.StatusCode)
	}
	code := url.Values{}
	doc.Find("form#builder input, form#builder textarea").Each(func(_ int, s *goquery.Selection) {
		name := s.AttrOr("name", "")
		if s.Is("textarea") {
			code.Set(name, s.Text())
		} else if t := s.AttrOr("type", "text"); name != "" && name != "op" && ((t != "radio" && t != "checkbox") || s.Is("[checked]")) {
			code.Add(name, s.AttrOr("value", ""))
		}
	})
	if !strings.Contains(code.Get("code.0.check"), `threshold(max(1, min(2, len(get("jury")))), {deadline: "48h", at_deadline: "fail"})`) || code.Get("rule") == "" {
		t.Fatalf("the code view is not the compiled code and rule: %v", code)
	}
	tests := []struct {
		name  string
		check string
		offer bool
	}{
		{"the compiled code", code.Get("code.0.check"), true},
		{"edited, still a block program's shape", strings.Replace(code.Get("code.0.check"), "min(2,", "min(3,", 1), true},
		{"hand-written", `yes() >= 3 ? PASSED : PENDING`, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, doc := w.ada.htmx(http.MethodPost, path, with(code, "code.0.check", tt.check))
			if got := doc.Find("#reattach").Length() == 1; got != tt.offer {
				t.Fatalf("re-attach offered = %v, want %v", got, tt.offer)
			}
		})
	}
	_, doc = w.ada.post(path, with(code, "op", "reattach"))
	if _, on := doc.Find("#f-deciders-who-jury").Attr("checked"); !on || doc.Find("#detached").Length() != 0 {
		t.Fatal("re-attaching did not bring the blocks back")
	}

	// Saved detached: the hand-written code and rule, no blocks.
	resp, _ = w.ada.post(path, with(code, "op", "save", "code.0.check", tests[2].check, "rule", "Three yes of a jury."))
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("save code: %d", resp.StatusCode)
	}
	p, err := w.app.store.PolicyByName(context.Background(), w.comm.ID, "Jury for renames")
	if err != nil || p.Blocks != "" || p.Rule != "Three yes of a jury." || p.CheckSrc != tests[2].check {
		t.Fatalf("saved detached: %v %+v", err, p)
	}
	// Opened again, it is code (Detect does not recognise the edit).
	_, doc = w.ada.get(fmt.Sprintf("/c/%s/policies/%d/builder", w.slug, p.ID))
	if doc.Find("#detached").Length() != 1 || doc.Find(`textarea[name="code.0.check"]`).Text() != tests[2].check {
		t.Fatal("a hand-edited policy does not open as code")
	}

	// Code edited in the generic code view, blocks left behind: the builder opens the code,
	// never the stale blocks.
	kit, err := w.app.store.PolicyByName(context.Background(), w.comm.ID, "Platform actions pass")
	if err != nil || kit.Blocks == "" {
		t.Fatalf("kit policy: %v", err)
	}
	w.ada.propose(w.slug, engine.TypeChangePolicy, url.Values{"policy": {fmt.Sprint(kit.ID)}, "check": {"action.channel != \"C9\" ? PASSED : FAILED"}})
	_, doc = w.ada.get(fmt.Sprintf("/c/%s/policies/%d/builder", w.slug, kit.ID))
	if doc.Find("#detached").Length() != 1 || !strings.Contains(doc.Find(`textarea[name="code.0.check"]`).Text(), `"C9"`) {
		t.Fatal("a policy whose code was edited elsewhere opens with its stale blocks")
	}
}

func TestBuilderDryRunAndTryIt(t *testing.T) {
	w := newBuilderWorld(t)
	path := "/c/" + w.slug + "/builder"
	// One decided proposal: a document, passed at once under the kit.
	w.ada.propose(w.slug, engine.TypeAddDocument, url.Values{"title": {"Charter"}, "body": {"Be kind."}})
	before := w.written()

	majority := url.Values{"builder_mode": {"blocks"}, "kind": {"constitution"}, "name": {"Majority"}, "deciders.who": {"everyone"},
		"how.method": {"majority"}, "deadline.after": {"7d"}, "on_pass.execute": {"on"}, "op": {"dryrun"}, "dry.n": {"10"}}
	_, doc := w.ada.htmx(http.MethodPost, path, majority)
	if got := doc.Find("#dryrun-summary").Text(); !strings.Contains(got, "1 would be decided differently") {
		t.Fatalf("dry run summary = %q", got)
	}
	if row := doc.Find("#builder-dryrun tbody tr").Text(); !strings.Contains(row, "Charter") || !strings.Contains(row, "passed") || !strings.Contains(row, "pending") {
		t.Fatalf("dry run row = %q, want the Charter passed → pending", row)
	}

	try := func(votes ...string) url.Values {
		f := with(juryForm(), "op", "tryit", "deciders.size", "4", "try.type", "test.rename_channel",
			"try.param.channel", "C1", "try.param.name", "town-square", "try.initiator", fmt.Sprint(w.members[1]))
		for i := 0; i+2 < len(votes)+1; i += 2 {
			n := i/2 + 1
			f.Set(fmt.Sprintf("try.vote.%d.member", n), votes[i])
			f.Set(fmt.Sprintf("try.vote.%d.value", n), votes[i+1])
			f.Set(fmt.Sprintf("try.vote.%d.after", n), fmt.Sprintf("%dh", n))
		}
		return f
	}
	tests := []struct {
		name string
		form url.Values
		want []string
	}{
		{"two yes pass", try(fmt.Sprint(w.members[0]), "yes", fmt.Sprint(w.members[2]), "yes"),
			[]string{"a yes-or-no vote opens for", "Ada votes yes.", "Cy votes", "The votes are counted", "still open", "It passes",
				"passed", "carry the action out", "after 2 hours"}},
		{"one yes fails at the deadline", with(try(fmt.Sprint(w.members[0]), "yes"), "try.until", "48h"),
			[]string{"after 2 days", "failed", "It fails"}},
		{"a required parameter left empty", with(try(), "try.param.name", ""), []string{"name: is required"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp, doc := w.ada.htmx(http.MethodPost, path, tt.form)
			got := doc.Find("#builder-tryit").Text()
			for _, want := range tt.want {
				if resp.StatusCode != http.StatusOK || !strings.Contains(got, want) {
					t.Errorf("try it (%d) = %q, want …%s…", resp.StatusCode, got, want)
				}
			}
		})
	}
	// The tried action's parameters are a form naming the community's channels and members;
	// choosing another type redraws them (out of band), and only then.
	_, page := w.ada.post(path, with(juryForm(), "op", "preview"))
	if got := page.Find("#f-try-param-channel option").Text(); !strings.Contains(got, "#channel-C1") {
		t.Errorf("the channel control offers %q, want the channels by name", got)
	}
	_, swap := w.ada.htmx(http.MethodPost, path, with(juryForm(), "try.type", "test.post_message", "try.shown", "test.rename_channel"))
	if swap.Find(`#try-params[hx-swap-oob="true"] textarea[name="try.param.text"]`).Length() != 1 {
		t.Error("choosing another type to try did not redraw its parameters")
	}
	_, swap = w.ada.htmx(http.MethodPost, path, with(juryForm(), "try.type", "test.post_message", "try.shown", "test.post_message"))
	if swap.Find("#try-params").Length() != 0 {
		t.Error("an edit that keeps the type redrew the parameters (and would interrupt typing)")
	}
	// Without JavaScript the same buttons render the whole page with the results.
	resp, doc := w.ada.post(path, try(fmt.Sprint(w.members[0]), "yes"))
	if resp.StatusCode != http.StatusOK || doc.Find("form#builder").Length() != 1 || doc.Find("#tryit-steps").Length() != 1 {
		t.Fatal("try it without htmx does not render the page with the steps")
	}
	if after := w.written(); after != before {
		t.Fatalf("dry runs wrote rows: %s → %s", before, after)
	}
}

func TestBuilderTenantIsolationAndCSRF(t *testing.T) {
	w := newBuilderWorld(t)
	eve := w.app.browser()
	eve.signup("Eve")
	other := eve.createCommunity("Elsewhere")
	ctx := context.Background()
	oc, err := w.app.store.CommunityBySlug(ctx, other)
	if err != nil {
		t.Fatal(err)
	}
	theirs, err := w.app.store.PolicyByName(ctx, oc.ID, "Platform actions pass")
	if err != nil {
		t.Fatal(err)
	}
	before := w.written()
	tests := []struct {
		name   string
		do     func() int
		status int
	}{
		{"another community's builder", func() int { c, _ := w.ada.get("/c/" + other + "/builder"); return c }, http.StatusNotFound},
		{"post to another community's builder", func() int {
			r, _ := w.ada.post("/c/"+other+"/builder", with(juryForm(), "op", "save"))
			return r.StatusCode
		}, http.StatusNotFound},
		{"another community's policy in my builder", func() int {
			c, _ := w.ada.get(fmt.Sprintf("/c/%s/policies/%d/builder", w.slug, theirs.ID))
			return c
		}, http.StatusNotFound},
		{"changing another community's policy from my builder", func() int {
			r, _ := w.ada.post("/c/"+w.slug+"/builder", with(juryForm(), "op", "save", "policy", fmt.Sprint(theirs.ID)))
			return r.StatusCode
		}, http.StatusNotFound},
		{"save without a CSRF token", func() int {
			r, _ := w.ada.post("/c/"+w.slug+"/builder", with(juryForm(), "op", "save", "csrf_token", ""))
			return r.StatusCode
		}, http.StatusForbidden},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.do(); got != tt.status {
				t.Fatalf("status %d, want %d", got, tt.status)
			}
		})
	}
	if after := w.written(); after != before {
		t.Fatalf("refused requests wrote rows: %s → %s", before, after)
	}
}

func TestPolicyPageShowsDryRunAgreement(t *testing.T) {
	w := newBuilderWorld(t)
	ctx := context.Background()
	form := url.Values{"builder_mode": {"blocks"}, "kind": {"platform"}, "name": {"Shadow"}, "mode": {"dry_run"},
		"when.action_types": {"test.post_message"}, "deciders.who": {"nobody"}, "on_pass.execute": {"on"}, "op": {"save"}}
	if resp, _ := w.ada.post("/c/"+w.slug+"/builder", form); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("save: %d", resp.StatusCode)
	}
	p, err := w.app.store.PolicyByName(ctx, w.comm.ID, "Shadow")
	if err != nil || p.Mode != models.ModeDryRun {
		t.Fatalf("dry-run policy: %v %+v", err, p)
	}
	if _, err := w.app.engine.Submit(ctx, engine.Submission{CommunityID: w.comm.ID, Type: "test.post_message", InitiatorID: w.members[1],
		Origin: models.OriginPlatform, Params: map[string]any{"channel": "C01", "text": "hello"}}); err != nil {
		t.Fatal(err)
	}
	_, doc := w.ada.get(fmt.Sprintf("/c/%s/policies/%d", w.slug, p.ID))
	if got := doc.Find("#agreement").Text(); !strings.Contains(got, "decided like them 1 time and differently 0 times") {
		t.Fatalf("agreement = %q", got)
	}
}
