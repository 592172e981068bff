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

// bField is one control of the builder form, or a group of radio buttons or checkboxes.
type bField struct {
	Name    string // form key (a program path where there is one)
	ID      string // element id; the error slot is "e-"+ID minus "f-"
	Label   string
	Type    string // text, number, textarea, code, select, radio, checks, checkbox
	Value   string
	Checked map[string]bool // checks
	Options []bOption
	Help    string
	Err     string
	Default string // what an untouched control holds
}

// set tells whether the control (or one of its sub-controls) holds something other than its
// default, or has a problem.
func (f bField) set() bool {
	if f.Err != "" || len(f.Checked) > 0 || (f.Value != "" && f.Value != f.Default) {
		return true
	}
	for _, o := range f.Options {
		if o.Value != f.Value {
			continue
		}
		for _, sub := range o.Sub {
			if sub.set() {
				return true
			}
		}
	}
	return false
}

// bOption is one choice of a select, radio group or checkbox list; Sub are the controls
// that belong to it (a jury's size under "a random jury").
type bOption struct {
	Value, Label, Help string
	Sub                []bField
}

// bSection is one block of the form.
type bSection struct {
	ID     string
	Title  string
	Help   string
	Stage  int // a later stage's number (2, 3, …), 0 for the other sections
	Fields []bField
	// Optional sections are folded away (a <details>) until one of their controls is set.
	Optional bool
}

// Open tells whether an optional section shows its controls.
func (s bSection) Open() bool {
	for _, f := range s.Fields {
		if f.set() {
			return true
		}
	}
	return !s.Optional
}

var idUnsafe = regexp.MustCompile(`[^a-z0-9]+`)

// fieldID is the element id of a form key ("stages[0].how.yes" → "f-stages-0-how-yes").
func fieldID(name string) string {
	return "f-" + strings.Trim(idUnsafe.ReplaceAllString(strings.ToLower(name), "-"), "-")
}

// ErrID is the id of the field's error slot.
func (f bField) ErrID() string { return "e-" + strings.TrimPrefix(f.ID, "f-") }

// HelpID is the id of the field's help text.
func (f bField) HelpID() string { return "h-" + strings.TrimPrefix(f.ID, "f-") }

// OptionID is the id of one radio button or checkbox of a group.
func (f bField) OptionID(value string) string {
	return f.ID + "-" + strings.Trim(idUnsafe.ReplaceAllString(strings.ToLower(value), "-"), "-")
}

// builderChoices are the community's names the form offers.
type builderChoices struct {
	roles, rolesOrAll, members, initiator, types []bOption
}

func newBuilderChoices(f *builderFacts) builderChoices {
	var c builderChoices
	c.rolesOrAll = []bOption{{Value: "", Label: "— all members —"}}
	c.roles = []bOption{{Value: "", Label: "—"}}
	for _, r := range f.roles {
		o := bOption{Value: r.Name, Label: fmt.Sprintf("%s (%d)", r.Name, len(r.MemberIDs))}
		c.roles = append(c.roles, o)
		c.rolesOrAll = append(c.rolesOrAll, o)
	}
	c.members = []bOption{{Value: "", Label: "—"}}
	c.initiator = []bOption{{Value: "", Label: "the member who acted"}}
	for _, m := range f.members {
		o := bOption{Value: strconv.FormatInt(m.ID, 10), Label: m.DisplayName}
		c.members = append(c.members, o)
		c.initiator = append(c.initiator, o)
	}
	for _, t := range f.types {
		o := bOption{Value: t.Name, Label: fmt.Sprintf("%s (%s)", t.Label, t.Name)}
		if t.Platform != engine.ConstitutionPlatform && !f.connected[t.Platform] {
			o.Label += fmt.Sprintf(" — when %s is connected", engine.PlatformLabel(t.Platform))
		}
		c.types = append(c.types, o)
	}
	return c
}

// formView fills controls from the submitted values and their errors.
type formView struct {
	values url.Values
	errs   map[string]string
}

func (v formView) field(name, label, typ, help string, opts ...bOption) bField {
	f := bField{Name: name, ID: fieldID(name), Label: label, Type: typ, Value: v.values.Get(name), Help: help, Err: v.errs[name], Options: opts}
	if typ == "checks" {
		f.Checked = map[string]bool{}
		for _, s := range v.values[name] {
			f.Checked[s] = true
		}
	}
	return f
}

// radio is a group whose empty value selects def.
func (v formView) radio(name, label, def, help string, opts ...bOption) bField {
	f := v.field(name, label, "radio", help, opts...)
	f.Default = def
	if f.Value == "" {
		f.Value = def
	}
	return f
}

// builderSections describes the whole form, in order, for the values submitted.
func builderSections(values url.Values, errs map[string]string, ch builderChoices) []bSection {
	v := formView{values: values, errs: errs}
	about := bSection{ID: "about", Title: "About the policy", Fields: []bField{
		v.field("name", "Name", "text", ""),
		v.field("description", "Description", "textarea", "Optional: why the community wants this rule."),
		v.radio("kind", "Kind", models.KindPlatform, "",
			bOption{Value: models.KindPlatform, Label: "Platform policy", Help: "governs everyday actions on the platforms"},
			bOption{Value: models.KindConstitution, Label: "Constitution policy", Help: "governs changes to governance: policies, roles, documents"}),
		v.field("priority", "Priority", "number", "Lower decides first. Leave it empty to put the policy before every policy of its kind."),
		v.radio("mode", "Mode", models.ModeEnforce, "",
			bOption{Value: models.ModeEnforce, Label: "Enforce", Help: "it decides the actions it governs"},
			bOption{Value: models.ModeDryRun, Label: "Dry run", Help: "it runs beside the deciding policy and only records what it would have decided"}),
	}}
	types := v.field("when.action_types", "Action types", "checks", "None ticked: every action of its kind (a base policy).", ch.types...)
	if values.Get(keyMode) == modeCode {
		return append([]bSection{about, {ID: "when", Title: "When: which actions", Fields: []bField{types}}}, codeSections(v, values)...)
	}
	out := []bSection{about,
		{ID: "when", Title: "When: which actions", Fields: []bField{types}},
		{ID: "conditions", Title: "More conditions", Optional: true, Help: "Every condition given must hold.", Fields: []bField{
			v.field("when.channels", "The channel is one of", "text", "Channel ids, separated by commas. Empty: any channel."),
			v.field("when.initiator_has_role", "The member who acts has the role", "select", "", ch.roles...),
			v.field("when.initiator_lacks_role", "The member who acts lacks the role", "select", "", ch.roles...),
			v.field("when.text_contains", "The text contains", "text", "Capitals matter."),
			v.field("when.text_matches", "The text matches the pattern", "text", "A regular expression (RE2), for example ^\\[vote\\]."),
		}},
		{ID: "skip", Title: "Who may skip", Optional: true, Fields: []bField{
			v.field("skip.roles", "Members with these roles act without a vote", "checks", "", ch.roles[1:]...),
		}},
	}
	out = append(out, decisionSections(v, "", 0, ch)...)
	out = append(out, stepSection(v, "on_pass", "On pass", ch), stepSection(v, "on_fail", "On fail", ch))
	for i := 1; i <= stageCount(values); i++ {
		s := bSection{ID: fmt.Sprintf("stage-%d", i+1), Title: fmt.Sprintf("Stage %d", i+1), Stage: i + 1,
			Help: fmt.Sprintf("Decides only after stage %d passed, with a vote of its own.", i)}
		for _, d := range decisionSections(v, stagePrefix(i), i, ch) {
			s.Fields = append(s.Fields, d.Fields...)
		}
		out = append(out, s)
	}
	return out
}

// decisionSections are who decides, how, quorum, deadline and tell of one stage.
func decisionSections(v formView, prefix string, stage int, ch builderChoices) []bSection {
	p := func(name string) string { return prefix + name }
	who := []bOption{
		{Value: blocks.Everyone, Label: "Everyone", Help: "every member votes"},
		{Value: blocks.ByRole, Label: "Members with a role", Sub: []bField{v.field(p("deciders.role"), "Role", "select", "", ch.roles...)}},
		{Value: blocks.ByJury, Label: "A random jury", Help: "drawn when the proposal opens, reproducibly", Sub: []bField{
			v.field(p("deciders.size"), "Jury size", "number", "Empty: 3. A jury bigger than its pool is all of it."),
			v.field(p("deciders.pool"), "Drawn from", "select", "", ch.rolesOrAll...)}},
		{Value: blocks.ByMember, Label: "One member", Help: "a benevolent dictator", Sub: []bField{v.field(p("deciders.member"), "Member", "select", "", ch.members...)}},
	}
	def := blocks.Everyone
	if stage == 0 {
		who = append([]bOption{{Value: whoNobody, Label: "Nobody: every action passes at once"}}, who...)
		def = whoNobody
	}
	num := func(name, label, help string) bField { return v.field(p(name), label, "number", help) }
	how := []bOption{
		{Value: blocks.Majority, Label: "Majority", Help: "more than half vote yes"},
		{Value: blocks.Supermajority, Label: "Supermajority", Sub: []bField{v.field(p("how.fraction"), "Share of yes votes needed", "text", "A fraction, such as 3/4. Empty: 2/3.")}},
		{Value: blocks.Unanimity, Label: "Unanimity", Help: "everyone counted votes yes"},
		{Value: blocks.Threshold, Label: "Threshold", Help: "a number of yes votes", Sub: []bField{
			num("how.yes", "Yes votes needed", "Empty: 2."), num("how.fail_at_no", "Fail as soon as this many vote no", "Optional.")}},
		{Value: blocks.Consensus, Label: "Consensus", Help: "passes at the deadline with no block", Sub: []bField{
			num("how.min_agree", "Agree votes needed", "0: consent, no block is enough.")}},
		{Value: blocks.LazyConsensus, Label: "Lazy consensus", Help: "passes at the deadline unless enough object", Sub: []bField{
			num("how.objections", "Objections that stop it", "Empty: 1.")}},
		{Value: blocks.RankedChoice, Label: "Ranked choice", Help: "elections between candidates (instant runoff)"},
		{Value: blocks.Approval, Label: "Approval", Help: "elections between candidates"},
	}
	quorum := []bOption{
		{Value: quorumNone, Label: "No quorum"},
		{Value: quorumVotes, Label: "A number of votes", Sub: []bField{num("quorum.votes", "Votes needed", "Empty: 1.")}},
		{Value: quorumShare, Label: "A share of the voters", Sub: []bField{v.field(p("quorum.share"), "Share of the eligible voters", "text", "A fraction, such as 1/3. Empty: 1/2.")}},
	}
	return []bSection{
		{ID: "who", Title: "Who decides", Fields: []bField{v.radio(p("deciders.who"), "Who decides", def, "", who...)}},
		{ID: "how", Title: "How", Fields: []bField{
			v.radio(p("how.method"), "Vote method", blocks.Majority, "", how...),
			v.radio(p("how.of"), "Count yes votes against", blocks.OfCast, "For majority, supermajority and unanimity.",
				bOption{Value: blocks.OfCast, Label: "the votes cast"},
				bOption{Value: blocks.OfEligible, Label: "every eligible voter", Help: "not voting weighs like a no"}),
		}},
		{ID: "quorum", Title: "Quorum", Optional: true, Fields: []bField{v.radio(p("quorum.kind"), "Quorum", quorumNone, "", quorum...)}},
		{ID: "deadline", Title: "Deadline", Fields: []bField{
			v.field(p("deadline.after"), "Deadline after", "text", "A whole number of minutes, hours or days: 90m, 48h, 2d. Empty: no deadline (consensus, lazy consensus and elections: 7 days)."),
			v.radio(p("deadline.then"), "At the deadline", blocks.ThenDecide, "",
				bOption{Value: blocks.ThenDecide, Label: "decide with the votes cast"},
				bOption{Value: blocks.ThenPass, Label: "pass"},
				bOption{Value: blocks.ThenFail, Label: "fail"}),
			v.field(p("deadline.cool_off"), "Cool-off before carrying out", "text", "Optional, such as 1h."),
		}},
		{ID: "tell", Title: "Tell people", Optional: true, Fields: []bField{
			v.field(p("tell.open"), "Message to the voters when the vote opens", "textarea", ""),
			v.field(p("tell.private"), "Ask each voter privately (a direct message ballot)", "checkbox", ""),
			v.field(p("tell.remind_before"), "Remind those who have not voted, before the deadline by", "text", "Such as 6h."),
			v.field(p("tell.remind"), "Reminder", "textarea", "Empty: a standard reminder."),
		}},
	}
}

func stepSection(v formView, field, title string, ch builderChoices) bSection {
	var fs []bField
	if field == "on_pass" {
		execute := v.field(field+".execute", "Carry the action out", "checkbox", "")
		execute.Default = "on"
		fs = append(fs, execute)
	}
	fs = append(fs,
		v.field(field+".post", "Post a message", "textarea", "Optional."),
		v.field(field+".grant_role", "Give a role", "select", "", ch.roles...),
		v.field(field+".grant_member", "Give the role to", "select", "", ch.initiator...),
		v.field(field+".revoke_role", "Take a role", "select", "", ch.roles...),
		v.field(field+".revoke_member", "Take the role from", "select", "", ch.initiator...),
	)
	return bSection{ID: strings.ReplaceAll(field, "_", "-"), Title: title, Fields: fs, Optional: true}
}

// codeSections are the code controls of each bundle stage and the rule, in code mode.
func codeSections(v formView, values url.Values) []bSection {
	var out []bSection
	for i := 0; i <= stageCount(values); i++ {
		s := bSection{ID: fmt.Sprintf("code-%d", i), Title: "Code", Help: "Each program is expr (expr-lang.org); an empty one does the default."}
		if stageCount(values) > 0 {
			s.Title = fmt.Sprintf("Code of stage %d", i+1)
		}
		for _, st := range engine.Stages() {
			if i > 0 && st == engine.StageFilter {
				continue // a later stage is not chosen by a filter
			}
			s.Fields = append(s.Fields, v.field(codeKey(i, st), fmt.Sprintf("%s (stage %d)", st, i+1), "code", codeHelp[st]))
		}
		out = append(out, s)
	}
	return append(out, bSection{ID: "rule", Title: "Plain-language rule", Fields: []bField{
		v.field(keyRule, "Rule", "textarea", "Write what the code does, exactly: it is frozen into each proposal and shown to voters."),
	}})
}

var codeHelp = map[string]string{
	engine.StageFilter:     "true when this policy governs the action (empty: always)",
	engine.StageInitialize: "runs once when the proposal opens",
	engine.StageNotify:     "runs once when the proposal goes pending",
	engine.StageCheck:      "returns PASSED, FAILED or PENDING (empty: PASSED)",
	engine.StagePass:       "runs when it passes (empty: execute())",
	engine.StageFail:       "runs when it fails",
}

// allFields lists every control, sub-controls included, for the error slots htmx swaps.
func allFields(sections []bSection) []bField {
	var out []bField
	var walk func(fs []bField)
	walk = func(fs []bField) {
		for _, f := range fs {
			out = append(out, f)
			for _, o := range f.Options {
				walk(o.Sub)
			}
		}
	}
	for _, s := range sections {
		walk(s.Fields)
	}
	return out
}
