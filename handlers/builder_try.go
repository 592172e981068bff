package handlers

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"policykit/engine"
	"policykit/engine/blocks"
	"policykit/models"
)

// The builder's two ways to see a draft at work, neither of which writes anything: replay
// the community's last decided proposals under it (engine.DryRun), and try it on an
// imagined action with imagined votes (engine.TryIt).

// tryVotes is how many hypothetical votes the "Try it" form offers.
const tryVotes = 4

// tryForm is the controls of "Try it": the imagined action (its type, who acts, and a form
// for its parameters), then one row per vote.
type tryForm struct {
	Action []bField
	Params tryParams
	Votes  [][]bField
	Until  bField
}

// tryParams are the parameter controls of the action type tried, generated from its typed
// parameters like a propose form; Type says which type they are for, so an edit that
// changes the type redraws them (and only then: redrawing would interrupt typing).
type tryParams struct {
	Type   string
	Fields []bField
	OOB    bool // swapped out of band after an htmx edit
}

func tryFields(v formView, ch builderChoices, params tryParams) tryForm {
	f := tryForm{Action: []bField{
		v.field("try.type", "Action type", "select", "", append([]bOption{{Value: "", Label: "— the first type the policy governs —"}}, ch.types...)...),
		v.field("try.initiator", "Who acts", "select", "", append([]bOption{{Value: "", Label: "— nobody —"}}, ch.members[1:]...)...),
	}, Params: params, Until: v.field("try.until", "Then look again after", "text", "Such as 48h, to see what the deadline does.")}
	for i := 1; i <= tryVotes; i++ {
		p := fmt.Sprintf("try.vote.%d.", i)
		f.Votes = append(f.Votes, []bField{
			v.field(p+"member", fmt.Sprintf("Vote %d: who", i), "select", "", ch.members...),
			v.field(p+"value", fmt.Sprintf("Vote %d: votes", i), "text", "yes, no or abstain (consensus: agree, disagree, block; an election: the candidates, in order)"),
			v.field(p+"after", fmt.Sprintf("Vote %d: after", i), "text", "Such as 30m or 2h; empty: at once."),
			v.field(p+"stage", fmt.Sprintf("Vote %d: on stage", i), "number", "Empty: stage 1."),
		})
	}
	return f
}

// tryParamKey is the form key of a parameter of the tried action.
func tryParamKey(name string) string { return "try.param." + name }

// tryParamFields are the controls for the parameters of the action type tried, naming the
// community's members, roles, policies, documents and channels as a propose form does.
func (h *Handler) tryParamFields(ctx context.Context, communityID int64, v formView, t engine.ActionType) (tryParams, error) {
	out := tryParams{Type: t.Name}
	if t.Name == "" {
		return out, nil
	}
	ch, err := h.loadChoices(ctx, communityID, t)
	if err != nil {
		return out, err
	}
	for _, p := range t.Params {
		typ, help := "text", p.Help
		var opts []option
		switch p.Type {
		case engine.ParamMember:
			opts = ch.members
		case engine.ParamRole:
			opts = ch.roles
		case engine.ParamPolicy:
			opts = ch.policies
		case engine.ParamDocument:
			opts = ch.documents
		case engine.ParamChannel:
			opts = ch.channels
		case engine.ParamChoice:
			for _, o := range p.Options {
				opts = append(opts, option{o, o})
			}
		case engine.ParamText, engine.ParamCode, engine.ParamPermissions, engine.ParamCandidates:
			typ = "textarea"
		case engine.ParamInt:
			typ = "number"
		case engine.ParamBool:
			typ = "checkbox"
		case engine.ParamStrings, engine.ParamIDs:
			help = strings.TrimSpace("Separate items with commas. " + help)
		}
		var bopts []bOption
		if opts != nil {
			typ = "select"
			bopts = []bOption{{Value: "", Label: "—"}}
			for _, o := range opts {
				bopts = append(bopts, bOption{Value: o.Value, Label: o.Label})
			}
		}
		label := p.Label
		if p.Required {
			label += " (required)"
		}
		out.Fields = append(out.Fields, v.field(tryParamKey(p.Name), label, typ, help, bopts...))
	}
	return out, nil
}

// dryField is how many past proposals to replay, 50 unless the member said otherwise.
func dryField(v formView) bField {
	f := v.field("dry.n", "How many of the last decided proposals", "number", fmt.Sprintf("At most %d.", engine.MaxDryRun))
	if f.Value == "" {
		f.Value = "50"
	}
	return f
}

// dryRunView is the result of replaying past proposals under a draft.
type dryRunView struct {
	N        int
	Governed int // proposals the draft would have governed
	Changed  []engine.DryRunRow
	Same     int
	Err      string
}

func (h *Handler) dryRun(ctx context.Context, comm *models.Community, d *builderDraft) (*dryRunView, error) {
	n, err := strconv.Atoi(text(d.values, "dry.n"))
	if err != nil || n < 1 || n > engine.MaxDryRun {
		n = 50
	}
	out := &dryRunView{N: n}
	if !d.ok() {
		out.Err = "Fix the problems in the draft first."
		return out, nil
	}
	rows, err := h.engine.DryRun(ctx, comm.ID, d.engineDraft(), n)
	if errors.Is(err, models.ErrInvalid) {
		out.Err = err.Error()
		return out, nil
	}
	if err != nil {
		return nil, err
	}
	out.Governed = len(rows)
	for _, r := range rows {
		if r.Changed {
			out.Changed = append(out.Changed, r)
		} else {
			out.Same++
		}
	}
	return out, nil
}

// tryView is "Try it" step by step.
type tryView struct {
	Steps []tryStep
	Errs  []string
}

type tryStep struct {
	At, Step, Outcome, Effects, Note, Error string
	Stage                                   int
}

func (h *Handler) tryIt(ctx context.Context, comm *models.Community, f *builderFacts, d *builderDraft) (*tryView, error) {
	out := &tryView{}
	if !d.ok() {
		out.Errs = append(out.Errs, "Fix the problems in the draft first.")
		return out, nil
	}
	in, errs := readTry(d, f.types)
	if len(errs) > 0 {
		out.Errs = errs
		return out, nil
	}
	steps, err := h.engine.TryIt(ctx, comm.ID, d.engineDraft(), in)
	if errors.Is(err, models.ErrInvalid) || errors.Is(err, models.ErrNotFound) {
		out.Errs = append(out.Errs, err.Error())
		return out, nil
	}
	if err != nil {
		return nil, err
	}
	for _, s := range steps {
		ts := tryStep{At: afterText(s.At), Stage: s.Stage + 1, Step: stepWords[s.Step], Outcome: outcomeWords[s.Outcome], Note: s.Note, Error: s.Error}
		if ts.Step == "" {
			ts.Step = s.Step
		}
		if ts.Outcome == "" {
			ts.Outcome = s.Outcome
		}
		if s.Step == "vote" {
			ts.Step = memberList([]int64{s.Voter}, f.facts.Named) + " votes"
			ts.Note = fmt.Sprintf("%s votes %s.", memberList([]int64{s.Voter}, f.facts.Named), voteText(s.Value))
		}
		var effects []string
		if s.Ballot != nil {
			effects = append(effects, fmt.Sprintf("a %s vote opens for %s", ballotWords(s.Ballot.Kind), memberList(s.Ballot.Eligible, f.facts.Named)))
		}
		for _, e := range s.Effects {
			if e.Kind == engine.IntentStartVote && s.Ballot != nil {
				continue // the ballot above says it, with its voters
			}
			effects = append(effects, intentText(e, f.facts.Named))
		}
		ts.Effects = strings.Join(effects, "; ")
		out.Steps = append(out.Steps, ts)
	}
	return out, nil
}

// tryType is the action type "Try it" imagines: the one chosen, else the first the draft
// covers (the first of its kind for a base policy).
func tryType(d *builderDraft, types []engine.ActionType) engine.ActionType {
	name := d.values.Get("try.type")
	if name == "" && len(d.fields.ActionTypes) > 0 {
		name = d.fields.ActionTypes[0]
	}
	for _, t := range types {
		if t.Name == name || (name == "" && t.Kind() == d.fields.Kind) {
			return t
		}
	}
	return engine.ActionType{}
}

// readTry reads the "Try it" controls.
func readTry(d *builderDraft, types []engine.ActionType) (engine.TryInput, []string) {
	v := d.values
	var errs []string
	t := tryType(d, types)
	in := engine.TryInput{ActionType: t.Name, Params: map[string]any{}}
	if in.ActionType == "" {
		errs = append(errs, "Choose an action type.")
	}
	for _, p := range t.Params {
		raw := v.Get(tryParamKey(p.Name))
		if strings.TrimSpace(raw) == "" {
			continue
		}
		switch p.Type {
		case engine.ParamPermissions, engine.ParamCandidates:
			var list []any
			if err := json.Unmarshal([]byte(raw), &list); err != nil {
				errs = append(errs, fmt.Sprintf("%s: write a JSON list (%v).", p.Label, err))
				continue
			}
			in.Params[p.Name] = list
		case engine.ParamIDs:
			ids := []any{}
			for _, s := range splitList(raw) {
				ids = append(ids, s)
			}
			in.Params[p.Name] = ids
		default:
			in.Params[p.Name] = raw
		}
	}
	if s := v.Get("try.initiator"); s != "" {
		in.Initiator, _ = strconv.ParseInt(s, 10, 64)
	}
	after := func(label, s string) time.Duration {
		s = strings.TrimSpace(s)
		if s == "" || s == "0" {
			return 0
		}
		m, err := blocks.Duration(s).Minutes()
		if err != nil {
			errs = append(errs, fmt.Sprintf("%s: %v.", label, err))
		}
		return time.Duration(m) * time.Minute
	}
	for i := 1; i <= tryVotes; i++ {
		p := fmt.Sprintf("try.vote.%d.", i)
		member, _ := strconv.ParseInt(v.Get(p+"member"), 10, 64)
		if member == 0 {
			continue
		}
		value := any(text(v, p+"value"))
		if s := value.(string); strings.Contains(s, ",") {
			var list []any
			for _, x := range splitList(s) {
				list = append(list, x)
			}
			value = list
		}
		stage, err := strconv.Atoi(text(v, p+"stage"))
		if err != nil || stage < 1 {
			stage = 1
		}
		in.Votes = append(in.Votes, engine.HypotheticalVote{Member: member, Value: value, At: after(fmt.Sprintf("Vote %d", i), v.Get(p+"after")), Stage: stage - 1})
	}
	in.Until = after("Then look again after", v.Get("try.until"))
	return in, errs
}

// afterText says when a step happens, counted from the action.
func afterText(d time.Duration) string {
	m := int(d.Minutes())
	switch {
	case m <= 0:
		return "at once"
	case m%(24*60) == 0:
		return "after " + plural(m/(24*60), "day")
	case m%60 == 0:
		return "after " + plural(m/60, "hour")
	}
	return "after " + plural(m, "minute")
}

func memberList(ids []int64, names map[int64]string) string {
	out := make([]string, len(ids))
	for i, id := range ids {
		if out[i] = names[id]; out[i] == "" {
			out[i] = fmt.Sprintf("member #%d", id)
		}
	}
	if len(out) == 0 {
		return "nobody"
	}
	return strings.Join(out, ", ")
}

// intentText says in words what a policy asked the engine to do.
func intentText(i engine.Intent, names map[int64]string) string {
	text, _ := i.Payload["text"].(string)
	var ids []int64
	for _, s := range listOf(i.Payload["members"]) {
		if n, err := strconv.ParseInt(s, 10, 64); err == nil {
			ids = append(ids, n)
		}
	}
	if l, ok := i.Payload["members"].([]int); ok {
		for _, n := range l {
			ids = append(ids, int64(n))
		}
	}
	switch i.Kind {
	case engine.IntentExecute:
		return "carry the action out"
	case engine.IntentRevert:
		return "undo the action on the platform while it is decided"
	case engine.IntentNotify:
		return fmt.Sprintf("tell %s: “%s”", memberList(ids, names), text)
	case engine.IntentPost:
		return fmt.Sprintf("post: “%s”", text)
	case engine.IntentStartVote:
		kind, _ := i.Payload["kind"].(string)
		return fmt.Sprintf("open a %s vote", ballotWords(kind))
	case engine.IntentGrantRole, engine.IntentRevokeRole:
		if i.Kind == engine.IntentRevokeRole {
			return fmt.Sprintf("take the role “%v” from %s", i.Payload["role"], memberList(ids, names))
		}
		return fmt.Sprintf("give the role “%v” to %s", i.Payload["role"], memberList(ids, names))
	}
	return i.Kind
}

// stepWords and outcomeWords say a "Try it" step in plain words.
var (
	stepWords = map[string]string{engine.StageFilter: "Does this policy govern it?", engine.StageInitialize: "The proposal opens",
		engine.StageCheck: "The votes are counted", engine.StageNotify: "The voters are told", engine.StagePass: "It passes",
		engine.StageFail: "It fails"}
	outcomeWords = map[string]string{"governs": "yes", "does not govern": "no", engine.Pending: "still open",
		engine.Passed: "passed", engine.Failed: "failed"}
)

// ballotWords names a kind of ballot for people.
func ballotWords(kind string) string {
	switch kind {
	case engine.BallotYesNo:
		return "yes-or-no"
	case engine.BallotChoice:
		return "single-choice"
	case engine.BallotRanking:
		return "ranked"
	}
	return kind // approval, score, consensus
}
