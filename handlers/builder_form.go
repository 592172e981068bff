package handlers

import (
	"fmt"
	"net/url"
	"regexp"
	"strconv"
	"strings"

	"policykit/engine"
	"policykit/engine/blocks"
	"policykit/models"
)

// The builder form is a plain HTML form whose control names are the JSON paths of the block
// program ("how.method", "stages[0].deadline.after"), so the compiler's and Validate's
// messages land next to the control they are about. This file reads a submitted form into a
// program (readProgram), writes a program back into form values (programValues), and
// describes every control (builderSections) for the templates. Controls that do not apply
// to the current choice (a jury's size when everyone decides) are ignored, not refused.

// Form keys that are not program paths.
const (
	keyMode       = "builder_mode" // blocks or code
	keyPolicy     = "policy"       // the policy being changed; empty for a new one
	keyStageCount = "stage_count"  // how many later stages the form shows
	keyRule       = "rule"         // code mode: the plain-language rule, written by hand
	modeBlocks    = "blocks"
	modeCode      = "code"
	whoNobody     = "nobody" // no vote: everything passes at once
	quorumNone    = "none"
	quorumVotes   = "votes"
	quorumShare   = "share"
)

// codeKey names the code control of one stage program of one bundle stage (0 is the first).
func codeKey(stage int, program string) string { return fmt.Sprintf("code.%d.%s", stage, program) }

// stagePrefix is the path prefix of a decision: "" for the first, "stages[i]." for later ones.
func stagePrefix(i int) string {
	if i == 0 {
		return ""
	}
	return fmt.Sprintf("stages[%d].", i-1)
}

// formProgram is a program read from the form, with what went wrong reading it and where
// the program's paths are shown when the control has another name.
type formProgram struct {
	program *blocks.Program
	errs    map[string]string // form key → message (numbers that are not numbers)
	slots   map[string]string // program path → form key, where they differ
}

// Defaults of the blocks: what a control left empty means, so that choosing a block alone
// gives a policy that works.
const (
	defaultJury       = 3
	defaultYes        = 2
	defaultObjections = 1
	defaultQuorum     = 1
	defaultFraction   = "2/3"
	defaultShare      = "1/2"
	defaultDeadline   = "7d" // also where a method needs one and none is given
)

// numberOr reads a number, def when the control is empty.
func (f *formProgram) numberOr(v url.Values, key string, def int) int {
	if strings.TrimSpace(v.Get(key)) == "" {
		return def
	}
	return f.number(v, key)
}

// textOr reads a text, def when the control is empty.
func textOr(v url.Values, key, def string) string {
	if s := text(v, key); s != "" {
		return s
	}
	return def
}

func (f *formProgram) number(v url.Values, key string) int {
	s := strings.TrimSpace(v.Get(key))
	if s == "" {
		return 0
	}
	n, err := strconv.Atoi(s)
	if err != nil {
		f.errs[key] = "must be a whole number"
		return 0
	}
	return n
}

func (f *formProgram) id(v url.Values, key string) int64 {
	s := strings.TrimSpace(v.Get(key))
	if s == "" {
		return 0
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil || n <= 0 {
		f.errs[key] = "choose a member"
		return 0
	}
	return n
}

func text(v url.Values, key string) string { return strings.TrimSpace(v.Get(key)) }

// stageCount reads how many later stages the form has (at most the compiler's limit + 1, so
// the limit's message can show).
func stageCount(v url.Values) int {
	n, _ := strconv.Atoi(v.Get(keyStageCount))
	return min(max(n, 0), 6)
}

// readProgram reads the block controls of a submitted form into a program.
func readProgram(v url.Values) *formProgram {
	f := &formProgram{errs: map[string]string{}, slots: map[string]string{}}
	p := &blocks.Program{Version: blocks.Version, Kind: v.Get("kind")}
	w := &blocks.When{
		ActionTypes: nonEmpty(v["when.action_types"]), Channels: splitList(v.Get("when.channels")),
		InitiatorHasRole: text(v, "when.initiator_has_role"), InitiatorLacksRole: text(v, "when.initiator_lacks_role"),
		TextContains: v.Get("when.text_contains"), TextMatches: v.Get("when.text_matches"),
	}
	if len(w.ActionTypes) > 0 || len(w.Channels) > 0 || w.InitiatorHasRole != "" || w.InitiatorLacksRole != "" || w.TextContains != "" || w.TextMatches != "" {
		p.When = w
	}
	if roles := nonEmpty(v["skip.roles"]); len(roles) > 0 {
		p.Skip = &blocks.Skip{Roles: roles}
	}
	p.Decision = f.decision(v, "")
	for i := 1; i <= stageCount(v); i++ {
		p.Stages = append(p.Stages, f.decision(v, stagePrefix(i)))
	}
	execute := v.Get("on_pass.execute") != ""
	p.OnPass = f.steps(v, "on_pass", execute)
	switch {
	case len(p.OnPass) == 0:
		f.errs["on_pass.execute"] = "with nothing else to do, passing carries the action out: tick this, or add a step"
	case len(p.OnPass) == 1 && execute:
		p.OnPass = nil // the default: carry it out
	}
	if p.How != nil {
		p.OnFail = f.steps(v, "on_fail", false)
	}
	f.program = p
	return f
}

func nonEmpty(list []string) []string {
	var out []string
	for _, s := range list {
		if s = strings.TrimSpace(s); s != "" {
			out = append(out, s)
		}
	}
	return out
}

// decision reads one stage's who, how, quorum, deadline and tell.
func (f *formProgram) decision(v url.Values, prefix string) blocks.Decision {
	who := v.Get(prefix + "deciders.who")
	if who == "" || who == whoNobody {
		return blocks.Decision{}
	}
	dc := &blocks.Deciders{Who: who}
	switch who {
	case blocks.ByRole:
		dc.Role = text(v, prefix+"deciders.role")
	case blocks.ByJury:
		dc.Role = text(v, prefix+"deciders.pool")
		dc.Size = f.numberOr(v, prefix+"deciders.size", defaultJury)
		f.slots[prefix+"deciders.role"] = prefix + "deciders.pool"
	case blocks.ByMember:
		dc.Member = f.id(v, prefix+"deciders.member")
	}
	d := blocks.Decision{Deciders: dc}
	method := v.Get(prefix + "how.method")
	h := &blocks.How{Method: method}
	switch method {
	case blocks.Supermajority:
		h.Fraction = blocks.Fraction(textOr(v, prefix+"how.fraction", defaultFraction))
	case blocks.Threshold:
		h.Yes = f.numberOr(v, prefix+"how.yes", defaultYes)
		h.FailAtNo = f.number(v, prefix+"how.fail_at_no")
	case blocks.Consensus:
		h.MinAgree = f.number(v, prefix+"how.min_agree")
	case blocks.LazyConsensus:
		h.Objections = f.numberOr(v, prefix+"how.objections", defaultObjections)
	}
	if method == blocks.Majority || method == blocks.Supermajority || method == blocks.Unanimity {
		if of := v.Get(prefix + "how.of"); of != blocks.OfCast {
			h.Of = of
		}
	}
	d.How = h
	switch v.Get(prefix + "quorum.kind") {
	case quorumVotes:
		d.Quorum = &blocks.Quorum{Votes: f.numberOr(v, prefix+"quorum.votes", defaultQuorum)}
	case quorumShare:
		d.Quorum = &blocks.Quorum{Share: blocks.Fraction(textOr(v, prefix+"quorum.share", defaultShare))}
	}
	after := text(v, prefix+"deadline.after")
	if after == "" && blocks.NeedsDeadline(method) {
		after = defaultDeadline
	}
	dl := &blocks.Deadline{After: blocks.Duration(after), CoolOff: blocks.Duration(text(v, prefix+"deadline.cool_off"))}
	if dl.After != "" {
		if then := v.Get(prefix + "deadline.then"); then != blocks.ThenDecide {
			dl.Then = then
		}
	}
	if dl.After != "" || dl.CoolOff != "" {
		d.Deadline = dl
	}
	t := &blocks.Tell{Open: v.Get(prefix + "tell.open"), Private: v.Get(prefix+"tell.private") != "",
		RemindBefore: blocks.Duration(text(v, prefix+"tell.remind_before")), Remind: v.Get(prefix + "tell.remind")}
	if strings.TrimSpace(t.Open) == "" {
		t.Open = ""
	}
	if strings.TrimSpace(t.Remind) == "" {
		t.Remind = ""
	}
	if t.Open != "" || t.Private || t.RemindBefore != "" || t.Remind != "" {
		d.Tell = t
	}
	return d
}

// steps reads the on_pass or on_fail controls: carry out, post, grant a role, revoke a role,
// in that order.
func (f *formProgram) steps(v url.Values, field string, execute bool) []blocks.Step {
	var out []blocks.Step
	add := func(s blocks.Step, slots map[string]string) {
		for part, key := range slots {
			f.slots[fmt.Sprintf("%s[%d].%s", field, len(out), part)] = key
		}
		out = append(out, s)
	}
	if execute {
		add(blocks.Step{Do: blocks.DoExecute}, map[string]string{"do": field + ".execute"})
	}
	if msg := v.Get(field + ".post"); strings.TrimSpace(msg) != "" {
		add(blocks.Step{Do: blocks.DoPost, Text: msg}, map[string]string{"do": field + ".post", "text": field + ".post"})
	}
	for _, do := range []string{blocks.DoGrantRole, blocks.DoRevokeRole} {
		key := field + "." + strings.TrimSuffix(do, "_role")
		if role := text(v, key+"_role"); role != "" {
			add(blocks.Step{Do: do, Role: role, Member: f.id(v, key+"_member")},
				map[string]string{"do": key + "_role", "role": key + "_role", "member": key + "_member"})
		}
	}
	// A message about the whole list ("carry out the action once") goes by its first control.
	f.slots[field] = field + ".post"
	if field == "on_pass" {
		f.slots[field] = field + ".execute"
	}
	return out
}

// programValues writes a program into the form's values; ok is false when the form cannot
// show all of it (steps beyond one of each kind, in another order), so the caller can say so.
func programValues(p *blocks.Program) (url.Values, bool) {
	v := url.Values{}
	v.Set(keyMode, modeBlocks)
	v.Set("kind", p.Kind)
	if v.Get("kind") == "" {
		v.Set("kind", models.KindPlatform)
	}
	if w := p.When; w != nil {
		v["when.action_types"] = w.ActionTypes
		v.Set("when.channels", strings.Join(w.Channels, ", "))
		v.Set("when.initiator_has_role", w.InitiatorHasRole)
		v.Set("when.initiator_lacks_role", w.InitiatorLacksRole)
		v.Set("when.text_contains", w.TextContains)
		v.Set("when.text_matches", w.TextMatches)
	}
	if p.Skip != nil {
		v["skip.roles"] = p.Skip.Roles
	}
	decisionValues(v, "", p.Decision)
	for i, d := range p.Stages {
		decisionValues(v, stagePrefix(i+1), d)
	}
	v.Set(keyStageCount, strconv.Itoa(len(p.Stages)))
	execute := len(p.OnPass) == 0
	for _, s := range p.OnPass {
		execute = execute || s.Do == blocks.DoExecute
	}
	if execute {
		v.Set("on_pass.execute", "on")
	}
	stepValues(v, "on_pass", p.OnPass)
	stepValues(v, "on_fail", p.OnFail)
	again := readProgram(v).program
	a, _ := again.Encode()
	b, _ := p.Encode()
	return v, string(a) == string(b)
}

func decisionValues(v url.Values, prefix string, d blocks.Decision) {
	if d.Deciders == nil || d.How == nil {
		v.Set(prefix+"deciders.who", whoNobody)
		return
	}
	dc := d.Deciders
	v.Set(prefix+"deciders.who", dc.Who)
	switch dc.Who {
	case blocks.ByRole:
		v.Set(prefix+"deciders.role", dc.Role)
	case blocks.ByJury:
		v.Set(prefix+"deciders.pool", dc.Role)
		v.Set(prefix+"deciders.size", strconv.Itoa(dc.Size))
	case blocks.ByMember:
		v.Set(prefix+"deciders.member", strconv.FormatInt(dc.Member, 10))
	}
	h := d.How
	v.Set(prefix+"how.method", h.Method)
	v.Set(prefix+"how.of", h.Of)
	if h.Of == "" {
		v.Set(prefix+"how.of", blocks.OfCast)
	}
	set := func(key string, n int) {
		if n != 0 {
			v.Set(prefix+key, strconv.Itoa(n))
		}
	}
	v.Set(prefix+"how.fraction", string(h.Fraction))
	set("how.yes", h.Yes)
	set("how.fail_at_no", h.FailAtNo)
	set("how.min_agree", h.MinAgree)
	set("how.objections", h.Objections)
	v.Set(prefix+"quorum.kind", quorumNone)
	if q := d.Quorum; q != nil {
		if q.Share != "" {
			v.Set(prefix+"quorum.kind", quorumShare)
			v.Set(prefix+"quorum.share", string(q.Share))
		} else {
			v.Set(prefix+"quorum.kind", quorumVotes)
			set("quorum.votes", q.Votes)
		}
	}
	v.Set(prefix+"deadline.then", blocks.ThenDecide)
	if dl := d.Deadline; dl != nil {
		v.Set(prefix+"deadline.after", string(dl.After))
		if dl.Then != "" {
			v.Set(prefix+"deadline.then", dl.Then)
		}
		v.Set(prefix+"deadline.cool_off", string(dl.CoolOff))
	}
	if t := d.Tell; t != nil {
		v.Set(prefix+"tell.open", t.Open)
		if t.Private {
			v.Set(prefix+"tell.private", "on")
		}
		v.Set(prefix+"tell.remind_before", string(t.RemindBefore))
		v.Set(prefix+"tell.remind", t.Remind)
	}
}

func stepValues(v url.Values, field string, steps []blocks.Step) {
	for _, s := range steps {
		switch s.Do {
		case blocks.DoPost:
			v.Set(field+".post", s.Text)
		case blocks.DoGrantRole, blocks.DoRevokeRole:
			key := field + "." + strings.TrimSuffix(s.Do, "_role")
			v.Set(key+"_role", s.Role)
			if s.Member != 0 {
				v.Set(key+"_member", strconv.FormatInt(s.Member, 10))
			}
		}
	}
}

// codeValues writes a policy's code (the first stage and the later ones) into the code
// controls.
func codeValues(v url.Values, stages []engine.Sources) {
	for i, s := range stages {
		for _, st := range []struct{ name, src string }{
			{engine.StageFilter, s.Filter}, {engine.StageInitialize, s.Initialize}, {engine.StageNotify, s.Notify},
			{engine.StageCheck, s.Check}, {engine.StagePass, s.Pass}, {engine.StageFail, s.Fail},
		} {
			v.Set(codeKey(i, st.name), st.src)
		}
	}
	v.Set(keyStageCount, strconv.Itoa(len(stages)-1))
}

// readCode reads the code controls: one Sources per bundle stage.
func readCode(v url.Values) []engine.Sources {
	out := make([]engine.Sources, stageCount(v)+1)
	for i := range out {
		get := func(name string) string { return v.Get(codeKey(i, name)) }
		out[i] = engine.Sources{Filter: get(engine.StageFilter), Initialize: get(engine.StageInitialize), Notify: get(engine.StageNotify),
			Check: get(engine.StageCheck), Pass: get(engine.StagePass), Fail: get(engine.StageFail)}
	}
	return out
}

// renumberStages removes later stage i (1-based) from the form's values, moving the stages
// after it up, or adds an empty stage at the end when i is 0. Values are moved as typed, so
// nothing the member wrote is lost.
func renumberStages(v url.Values, remove int) url.Values {
	n := stageCount(v)
	if remove == 0 {
		v.Set(keyStageCount, strconv.Itoa(n+1))
		return v
	}
	out := url.Values{}
	for k, vals := range v {
		stage, rest, ok := laterStage(k)
		switch {
		case !ok || stage < remove:
			out[k] = vals
		case stage > remove:
			out[renamed(k, stage, rest)] = vals
		}
	}
	out.Set(keyStageCount, strconv.Itoa(max(n-1, 0)))
	return out
}

var laterStageRE = regexp.MustCompile(`^(?:stages\[(\d+)\]\.|code\.(\d+)\.)(.*)$`)

// laterStage tells which later stage (1-based) a form key belongs to.
func laterStage(key string) (stage int, rest string, ok bool) {
	m := laterStageRE.FindStringSubmatch(key)
	if m == nil {
		return 0, "", false
	}
	if m[1] != "" {
		n, _ := strconv.Atoi(m[1])
		return n + 1, m[3], true
	}
	n, _ := strconv.Atoi(m[2])
	return n, m[3], n > 0
}

func renamed(key string, stage int, rest string) string {
	if strings.HasPrefix(key, "code.") {
		return codeKey(stage-1, rest)
	}
	return stagePrefix(stage-1) + rest
}
