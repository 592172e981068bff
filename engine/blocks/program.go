package blocks

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"regexp"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"

	"policykit/models"
)

// Version is the block program format this package reads and writes.
const Version = 1

// MaxProgramBytes is the largest block program accepted (the add_policy "blocks" parameter
// has the same limit).
const MaxProgramBytes = 100_000

// Program is a policy built from blocks. Its JSON form is documented in doc.go. The zero
// value of every optional section means "this block is not used".
type Program struct {
	Version int `json:"version"`
	// Kind is the policy kind: "platform" (default) or "constitution".
	Kind string `json:"kind,omitempty"`
	When *When  `json:"when,omitempty"`
	Skip *Skip  `json:"skip,omitempty"`
	// Decision is the first (often only) stage: who decides and how.
	Decision
	// OnPass runs when the policy passes (after the last stage); nil or empty means execute.
	OnPass []Step `json:"on_pass,omitempty"`
	// OnFail runs when any stage fails.
	OnFail []Step `json:"on_fail,omitempty"`
	// Stages are later stages of a policy bundle: each decides only after the previous passed.
	Stages []Decision `json:"stages,omitempty"`
}

// When says which actions the policy governs.
type When struct {
	// ActionTypes are the types covered; empty covers every action of the kind (a base policy).
	ActionTypes        []string `json:"action_types,omitempty"`
	Channels           []string `json:"channels,omitempty"`             // the channel is one of these
	InitiatorHasRole   string   `json:"initiator_has_role,omitempty"`   //
	InitiatorLacksRole string   `json:"initiator_lacks_role,omitempty"` //
	TextContains       string   `json:"text_contains,omitempty"`        // case-sensitive substring
	TextMatches        string   `json:"text_matches,omitempty"`         // Go regular expression (RE2)
}

// Skip lists roles whose members act without a vote.
type Skip struct {
	Roles []string `json:"roles"`
}

// Decision is one stage of deciding: Deciders and How are both set (a vote) or both absent
// (everything passes at once).
type Decision struct {
	Deciders *Deciders `json:"deciders,omitempty"`
	How      *How      `json:"how,omitempty"`
	Quorum   *Quorum   `json:"quorum,omitempty"`
	Deadline *Deadline `json:"deadline,omitempty"`
	Tell     *Tell     `json:"tell,omitempty"`
}

// Who decides.
const (
	Everyone = "everyone" // every member
	ByRole   = "role"     // the members holding Role
	ByJury   = "jury"     // Size members drawn at random from Role (or every member when Role is "")
	ByMember = "member"   // one member, by id
)

// Deciders are the members who vote.
type Deciders struct {
	Who    string `json:"who"`
	Role   string `json:"role,omitempty"`
	Size   int    `json:"size,omitempty"`
	Member int64  `json:"member,omitempty"`
}

// Vote methods.
const (
	Majority      = "majority"
	Supermajority = "supermajority"
	Unanimity     = "unanimity"
	Threshold     = "threshold"
	Consensus     = "consensus"
	LazyConsensus = "lazy_consensus"
	RankedChoice  = "ranked_choice"
	Approval      = "approval"
)

// Denominators of a yes share (engine/votes): votes cast (yes+no) or every eligible decider.
const (
	OfCast     = "cast"
	OfEligible = "eligible"
)

// How is the vote method and its numbers.
type How struct {
	Method string `json:"method"`
	// Of is the denominator of majority, supermajority and unanimity: "cast" (default) or "eligible".
	Of       string   `json:"of,omitempty"`
	Fraction Fraction `json:"fraction,omitempty"`   // supermajority share, e.g. "2/3"
	Yes      int      `json:"yes,omitempty"`        // threshold: yes votes needed
	FailAtNo int      `json:"fail_at_no,omitempty"` // threshold: fail as soon as this many vote no (0: never)
	MinAgree int      `json:"min_agree,omitempty"`  // consensus: agree votes needed (0: consent)
	// Objections: lazy consensus fails once this many vote no.
	Objections int `json:"objections,omitempty"`
}

// Quorum is a minimum turnout: Votes ballots, or a Share of the eligible deciders.
type Quorum struct {
	Votes int      `json:"votes,omitempty"`
	Share Fraction `json:"share,omitempty"`
}

// What happens at the deadline when the vote is still open.
const (
	ThenDecide = "decide" // apply the rule to the votes cast (default)
	ThenPass   = "pass"
	ThenFail   = "fail"
)

// Deadline is when an open vote is settled, and an optional cool-off before carrying out.
type Deadline struct {
	After   Duration `json:"after,omitempty"`
	Then    string   `json:"then,omitempty"`
	CoolOff Duration `json:"cool_off,omitempty"`
}

// Tell is who is told what, and when.
type Tell struct {
	Open         string   `json:"open,omitempty"`          // message to the deciders when the vote opens
	Private      bool     `json:"private,omitempty"`       // ask each decider privately (direct message ballot)
	RemindBefore Duration `json:"remind_before,omitempty"` // remind non-voters this long before the deadline
	Remind       string   `json:"remind,omitempty"`        // the reminder (a default text when empty)
}

// Step kinds of on_pass / on_fail.
const (
	DoExecute    = "execute"
	DoPost       = "post"
	DoGrantRole  = "grant_role"
	DoRevokeRole = "revoke_role"
)

// Step is one thing to do when the policy passes or fails.
type Step struct {
	Do   string `json:"do"`
	Text string `json:"text,omitempty"` // post
	Role string `json:"role,omitempty"` // grant_role, revoke_role
	// Member receives or loses the role; 0 means the member who initiated the action.
	Member int64 `json:"member,omitempty"`
}

// Duration is a length of time written as a whole number of minutes, hours or days:
// "90m", "48h", "2d". Only that form is accepted, so it can never carry code.
type Duration string

var durationRE = regexp.MustCompile(`^([1-9][0-9]{0,5})([mhd])$`)

// maxMinutes bounds durations at one year.
const maxMinutes = 366 * 24 * 60

// Minutes returns the duration in minutes, or an error when it is not of the form above.
func (d Duration) Minutes() (int, error) {
	m := durationRE.FindStringSubmatch(string(d))
	if m == nil {
		return 0, fmt.Errorf("%q is not a duration: write a whole number followed by m, h or d (90m, 48h, 2d)", string(d))
	}
	n, _ := strconv.Atoi(m[1])
	switch m[2] {
	case "h":
		n *= 60
	case "d":
		n *= 24 * 60
	}
	if n > maxMinutes {
		return 0, fmt.Errorf("%q is longer than a year", string(d))
	}
	return n, nil
}

// Fraction is a share written "p/q", e.g. "2/3", with 1 ≤ p ≤ q ≤ 1000.
type Fraction string

var fractionRE = regexp.MustCompile(`^([1-9][0-9]{0,3})/([1-9][0-9]{0,3})$`)

// Parts returns p and q, or an error when the fraction is malformed or above 1.
func (f Fraction) Parts() (num, den int, err error) {
	m := fractionRE.FindStringSubmatch(string(f))
	if m == nil {
		return 0, 0, fmt.Errorf("%q is not a fraction: write it like 2/3", string(f))
	}
	num, _ = strconv.Atoi(m[1])
	den, _ = strconv.Atoi(m[2])
	if num > 1000 || den > 1000 {
		return 0, 0, fmt.Errorf("%q: use numbers up to 1000", string(f))
	}
	if num > den {
		return 0, 0, fmt.Errorf("%q is more than everyone", string(f))
	}
	return num, den, nil
}

// Decode reads a block program from JSON. Unknown fields, trailing data, another version and
// anything Check refuses are errors (a *models.ValidationError naming the field).
func Decode(data []byte) (*Program, error) {
	if len(data) > MaxProgramBytes {
		return nil, models.Invalid("blocks", fmt.Sprintf("the block program is larger than %d bytes", MaxProgramBytes))
	}
	if !utf8.Valid(data) {
		return nil, models.Invalid("blocks", "the block program is not valid UTF-8")
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	var p Program
	if err := dec.Decode(&p); err != nil {
		return nil, models.Invalid("blocks", "not a valid block program: "+jsonMessage(err))
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return nil, models.Invalid("blocks", "not a valid block program: unexpected data after the program")
	}
	if err := p.Check(); err != nil {
		return nil, err
	}
	return &p, nil
}

// jsonMessage turns a decoding error into a message for people.
func jsonMessage(err error) string {
	var syn *json.SyntaxError
	var typ *json.UnmarshalTypeError
	switch {
	case errors.As(err, &syn):
		return fmt.Sprintf("%s (at byte %d)", syn.Error(), syn.Offset)
	case errors.As(err, &typ):
		return fmt.Sprintf("%s must be a %s, not a %s", typ.Field, typ.Type.String(), typ.Value)
	}
	return strings.TrimPrefix(err.Error(), "json: ")
}

// Encode writes the program as JSON.
func (p *Program) Encode() ([]byte, error) {
	b, err := json.Marshal(p)
	if err != nil {
		return nil, fmt.Errorf("encode block program: %w", err)
	}
	return b, nil
}

// kind returns the policy kind, platform by default.
func (p *Program) kind() string {
	if p.Kind == "" {
		return models.KindPlatform
	}
	return p.Kind
}

// decisions lists the stages in order: the program's own decision, then Stages.
func (p *Program) decisions() []Decision {
	return append([]Decision{p.Decision}, p.Stages...)
}

// onPass returns the pass steps, execute when none are given.
func (p *Program) onPass() []Step {
	if len(p.OnPass) == 0 {
		return []Step{{Do: DoExecute}}
	}
	return p.OnPass
}

// isElection tells whether a method elects one of several candidates.
func isElection(method string) bool { return method == RankedChoice || method == Approval }

// ballotKind is the engine ballot a method votes on.
func ballotKind(method string) string {
	switch method {
	case Consensus:
		return "consensus"
	case RankedChoice:
		return "ranking"
	case Approval:
		return "approval"
	}
	return "yes_no"
}

// Limits on what a form may put in a program.
const (
	maxList    = 50
	maxName    = 60   // role names (as the add_role form)
	maxChannel = 100  //
	maxPattern = 200  // text_contains, text_matches
	maxMessage = 2000 // messages
	maxCount   = 100_000
	maxStages  = 5
	maxSteps   = 10
	maxJury    = 1000
)

var actionTypeRE = regexp.MustCompile(`^[a-z][a-z0-9_]*\.[a-z][a-z0-9_]*$`)

// Check validates everything that does not depend on the community: every number, name,
// duration and combination. It returns a *models.ValidationError whose fields are JSON paths
// ("how.fraction", "stages[0].deadline.after") with a message for people.
func (p *Program) Check() error {
	v := &models.ValidationError{}
	if p.Version != Version {
		v.Add("version", fmt.Sprintf("this builder reads block programs of version %d, not %d", Version, p.Version))
		return v
	}
	switch p.Kind {
	case "", models.KindPlatform, models.KindConstitution:
	default:
		v.Add("kind", fmt.Sprintf("unknown kind %q: platform or constitution", p.Kind))
	}
	p.checkWhen(v)
	if p.Skip != nil {
		if len(p.Skip.Roles) == 0 {
			v.Add("skip.roles", "name at least one role, or remove the block")
		}
		checkNames(v, "skip.roles", p.Skip.Roles)
		if p.How == nil {
			v.Add("skip", "without a vote everything passes at once already: remove the skip block or choose how to decide")
		}
	}
	if len(p.Stages) > maxStages {
		v.Add("stages", fmt.Sprintf("at most %d later stages", maxStages))
	}
	for i, d := range p.decisions() {
		prefix := ""
		if i > 0 {
			prefix = fmt.Sprintf("stages[%d].", i-1)
			if d.How == nil {
				v.Add(prefix+"how", "a later stage needs a vote: choose how it decides")
			}
		}
		p.checkDecision(v, prefix, d, i)
	}
	checkSteps(v, "on_pass", p.OnPass, true)
	checkSteps(v, "on_fail", p.OnFail, false)
	if p.How == nil && len(p.OnFail) > 0 {
		v.Add("on_fail", "without a vote nothing can fail: remove these steps or choose how to decide")
	}
	return v.OrNil()
}

func (p *Program) checkWhen(v *models.ValidationError) {
	w := p.When
	if w == nil {
		return
	}
	if len(w.ActionTypes) > maxList {
		v.Add("when.action_types", fmt.Sprintf("at most %d action types", maxList))
	}
	seen := map[string]bool{}
	for _, t := range w.ActionTypes {
		switch {
		case !actionTypeRE.MatchString(t):
			v.Add("when.action_types", fmt.Sprintf("%q is not an action type name", t))
		case seen[t]:
			v.Add("when.action_types", fmt.Sprintf("%s is listed twice", t))
		case (strings.HasPrefix(t, "constitution.")) != (p.kind() == models.KindConstitution):
			v.Add("when.action_types", fmt.Sprintf("%s is not a %s action", t, p.kind()))
		}
		seen[t] = true
	}
	if len(w.Channels) > maxList {
		v.Add("when.channels", fmt.Sprintf("at most %d channels", maxList))
	}
	for _, c := range w.Channels {
		if msg := nameProblem(c, maxChannel); msg != "" {
			v.Add("when.channels", "channel "+msg)
		}
	}
	checkName(v, "when.initiator_has_role", w.InitiatorHasRole, true)
	checkName(v, "when.initiator_lacks_role", w.InitiatorLacksRole, true)
	if w.InitiatorHasRole != "" && w.InitiatorHasRole == w.InitiatorLacksRole {
		v.Add("when.initiator_lacks_role", "the initiator cannot both have and lack the same role")
	}
	if w.TextContains != "" {
		if msg := textProblem(w.TextContains, maxPattern); msg != "" {
			v.Add("when.text_contains", msg)
		}
	}
	if w.TextMatches != "" {
		if msg := textProblem(w.TextMatches, maxPattern); msg != "" {
			v.Add("when.text_matches", msg)
		} else if _, err := regexp.Compile(w.TextMatches); err != nil {
			v.Add("when.text_matches", "not a valid pattern: "+strings.TrimPrefix(err.Error(), "error parsing regexp: "))
		}
	}
}

func (p *Program) checkDecision(v *models.ValidationError, prefix string, d Decision, stage int) {
	if d.How == nil {
		if d.Deciders != nil {
			v.Add(prefix+"how", "choose how the deciders decide")
		}
		for field, set := range map[string]bool{"quorum": d.Quorum != nil, "deadline": d.Deadline != nil && d.Deadline.After != "", "tell": d.Tell != nil} {
			if set {
				v.Add(prefix+field, "only applies to a vote: choose who decides and how")
			}
		}
		if d.Deadline != nil && d.Deadline.CoolOff != "" {
			v.Add(prefix+"deadline.cool_off", "only applies to a vote: choose who decides and how")
		}
		return
	}
	h := d.How
	if d.Deciders == nil {
		v.Add(prefix+"deciders", "choose who decides")
	} else {
		checkDeciders(v, prefix+"deciders", d.Deciders)
	}
	switch h.Method {
	case Majority, Unanimity:
	case Supermajority:
		if _, _, err := h.Fraction.Parts(); err != nil {
			v.Add(prefix+"how.fraction", err.Error())
		}
	case Threshold:
		checkCount(v, prefix+"how.yes", h.Yes, 1)
		if h.FailAtNo != 0 {
			checkCount(v, prefix+"how.fail_at_no", h.FailAtNo, 1)
		}
	case Consensus:
		checkCount(v, prefix+"how.min_agree", h.MinAgree, 0)
	case LazyConsensus:
		checkCount(v, prefix+"how.objections", h.Objections, 1)
	case RankedChoice, Approval:
		if stage > 0 || len(p.Stages) > 0 {
			v.Add(prefix+"how.method", "an election cannot be part of a multi-stage policy")
		}
		types := []string(nil)
		if p.When != nil {
			types = p.When.ActionTypes
		}
		if p.kind() != models.KindConstitution || len(types) != 1 || types[0] != "constitution.hold_election" {
			v.Add(prefix+"how.method", "ranked choice and approval elect one of several candidates: the policy must cover exactly the action type constitution.hold_election")
		}
		if p.Skip != nil {
			v.Add("skip", "an election has no single initiator's action to let through: remove the skip block")
		}
	case "":
		v.Add(prefix+"how.method", "choose a vote method")
	default:
		v.Add(prefix+"how.method", fmt.Sprintf("unknown vote method %q", h.Method))
	}
	// Numbers that do not belong to the method would be silently ignored: refuse them.
	for field, set := range map[string]bool{
		"fraction": h.Fraction != "" && h.Method != Supermajority, "yes": h.Yes != 0 && h.Method != Threshold,
		"fail_at_no": h.FailAtNo != 0 && h.Method != Threshold, "min_agree": h.MinAgree != 0 && h.Method != Consensus,
		"objections": h.Objections != 0 && h.Method != LazyConsensus,
	} {
		if set {
			v.Add(prefix+"how."+field, fmt.Sprintf("does not apply to %s", methodLabel(h.Method)))
		}
	}
	switch h.Of {
	case "", OfCast:
	case OfEligible:
		if h.Method != Majority && h.Method != Supermajority && h.Method != Unanimity {
			v.Add(prefix+"how.of", fmt.Sprintf("counting against every eligible member only applies to majority, supermajority and unanimity, not %s", methodLabel(h.Method)))
		}
	default:
		v.Add(prefix+"how.of", fmt.Sprintf("unknown count %q: cast or eligible", h.Of))
	}
	if q := d.Quorum; q != nil {
		switch {
		case h.Method == Consensus || h.Method == LazyConsensus:
			v.Add(prefix+"quorum", fmt.Sprintf("%s has no quorum: its own numbers say how many must answer", methodLabel(h.Method)))
		case q.Votes != 0 && q.Share != "":
			v.Add(prefix+"quorum", "give either a number of votes or a share of the eligible members, not both")
		case q.Share != "":
			if _, _, err := q.Share.Parts(); err != nil {
				v.Add(prefix+"quorum.share", err.Error())
			}
		default:
			checkCount(v, prefix+"quorum.votes", q.Votes, 1)
		}
	}
	p.checkDeadline(v, prefix, d, h)
	if t := d.Tell; t != nil {
		if t.Open != "" {
			if msg := textProblem(t.Open, maxMessage); msg != "" {
				v.Add(prefix+"tell.open", msg)
			}
		}
		if t.Remind != "" {
			if msg := textProblem(t.Remind, maxMessage); msg != "" {
				v.Add(prefix+"tell.remind", msg)
			}
			if t.RemindBefore == "" {
				v.Add(prefix+"tell.remind_before", "say how long before the deadline to remind")
			}
		}
		if t.RemindBefore != "" {
			before, err := t.RemindBefore.Minutes()
			switch {
			case err != nil:
				v.Add(prefix+"tell.remind_before", err.Error())
			case d.Deadline == nil || d.Deadline.After == "":
				v.Add(prefix+"tell.remind_before", "a reminder before the deadline needs a deadline")
			default:
				if after, err := d.Deadline.After.Minutes(); err == nil && before >= after {
					v.Add(prefix+"tell.remind_before", fmt.Sprintf("must be shorter than the deadline (%s)", humanDuration(after)))
				}
			}
		}
	}
}

// NeedsDeadline tells whether a vote method is settled at a deadline, so it cannot do
// without one.
func NeedsDeadline(method string) bool {
	return method == LazyConsensus || method == Consensus || isElection(method)
}

func (p *Program) checkDeadline(v *models.ValidationError, prefix string, d Decision, h *How) {
	dl := d.Deadline
	needs := NeedsDeadline(h.Method)
	if dl == nil || dl.After == "" {
		if needs {
			v.Add(prefix+"deadline.after", fmt.Sprintf("%s needs a deadline: it is settled when the deadline comes", methodLabel(h.Method)))
		}
		if dl != nil && dl.Then != "" {
			v.Add(prefix+"deadline.then", "what happens at the deadline needs a deadline")
		}
	} else if _, err := dl.After.Minutes(); err != nil {
		v.Add(prefix+"deadline.after", err.Error())
	}
	if dl == nil {
		return
	}
	switch dl.Then {
	case "", ThenDecide:
	case ThenPass, ThenFail:
		if needs {
			v.Add(prefix+"deadline.then", fmt.Sprintf("%s is always settled by the votes cast at the deadline", methodLabel(h.Method)))
		}
	default:
		v.Add(prefix+"deadline.then", fmt.Sprintf("unknown choice %q: decide, pass or fail", dl.Then))
	}
	if dl.CoolOff != "" {
		if _, err := dl.CoolOff.Minutes(); err != nil {
			v.Add(prefix+"deadline.cool_off", err.Error())
		} else if isElection(h.Method) {
			v.Add(prefix+"deadline.cool_off", "an election has no cool-off: it is settled at its deadline")
		}
	}
}

func checkDeciders(v *models.ValidationError, field string, d *Deciders) {
	switch d.Who {
	case Everyone:
	case ByRole:
		checkName(v, field+".role", d.Role, true)
		if d.Role == "" {
			v.Add(field+".role", "choose the role whose members decide")
		}
	case ByJury:
		checkName(v, field+".role", d.Role, true)
		if d.Size < 1 || d.Size > maxJury {
			v.Add(field+".size", fmt.Sprintf("a jury has 1 to %d members", maxJury))
		}
	case ByMember:
		if d.Member <= 0 {
			v.Add(field+".member", "choose the member who decides")
		}
	case "":
		v.Add(field+".who", "choose who decides")
	default:
		v.Add(field+".who", fmt.Sprintf("unknown choice %q: everyone, role, jury or member", d.Who))
	}
	if d.Who != ByRole && d.Who != ByJury && d.Role != "" {
		v.Add(field+".role", "only a role or a jury draws on a role")
	}
	if d.Who != ByJury && d.Size != 0 {
		v.Add(field+".size", "only a jury has a size")
	}
	if d.Who != ByMember && d.Member != 0 {
		v.Add(field+".member", "only applies when one member decides")
	}
}

func checkSteps(v *models.ValidationError, field string, steps []Step, pass bool) {
	if len(steps) > maxSteps {
		v.Add(field, fmt.Sprintf("at most %d steps", maxSteps))
	}
	executes := 0
	for i, s := range steps {
		f := fmt.Sprintf("%s[%d]", field, i)
		switch s.Do {
		case DoExecute:
			executes++
			if !pass {
				v.Add(f+".do", "a failed action is never carried out")
			}
		case DoPost:
			if s.Text == "" {
				v.Add(f+".text", "write the message to post")
			} else if msg := textProblem(s.Text, maxMessage); msg != "" {
				v.Add(f+".text", msg)
			}
		case DoGrantRole, DoRevokeRole:
			if s.Role == "" {
				v.Add(f+".role", "choose the role")
			}
			checkName(v, f+".role", s.Role, true)
			if s.Member < 0 {
				v.Add(f+".member", "choose a member, or leave it empty for the initiator")
			}
		case "":
			v.Add(f+".do", "choose what to do")
		default:
			v.Add(f+".do", fmt.Sprintf("unknown step %q: execute, post, grant_role or revoke_role", s.Do))
		}
		if s.Do != DoPost && s.Text != "" {
			v.Add(f+".text", "only a post has a text")
		}
		if s.Do != DoGrantRole && s.Do != DoRevokeRole && (s.Role != "" || s.Member != 0) {
			v.Add(f+".role", "only a role change names a role and a member")
		}
	}
	if executes > 1 {
		v.Add(field, "carry out the action once")
	}
}

func checkCount(v *models.ValidationError, field string, n, min int) {
	if n < min || n > maxCount {
		v.Add(field, fmt.Sprintf("must be a whole number from %d to %d", min, maxCount))
	}
}

func checkName(v *models.ValidationError, field, name string, optional bool) {
	if name == "" && optional {
		return
	}
	if msg := nameProblem(name, maxName); msg != "" {
		v.Add(field, "role name "+msg)
	}
}

func checkNames(v *models.ValidationError, field string, names []string) {
	if len(names) > maxList {
		v.Add(field, fmt.Sprintf("at most %d roles", maxList))
	}
	seen := map[string]bool{}
	for _, n := range names {
		checkName(v, field, n, false)
		if seen[n] {
			v.Add(field, fmt.Sprintf("%q is listed twice", n))
		}
		seen[n] = true
	}
}

// nameProblem describes what is wrong with a one-line name, or returns "".
func nameProblem(s string, max int) string {
	switch {
	case strings.TrimSpace(s) == "":
		return "is empty"
	case strings.TrimSpace(s) != s:
		return fmt.Sprintf("%q has spaces around it", s)
	case utf8.RuneCountInString(s) > max:
		return fmt.Sprintf("is longer than %d characters", max)
	case !utf8.ValidString(s):
		return "is not valid text"
	case strings.IndexFunc(s, unicode.IsControl) >= 0:
		return "contains a control character"
	}
	return ""
}

// textProblem describes what is wrong with a message or pattern, or returns "".
func textProblem(s string, max int) string {
	switch {
	case strings.TrimSpace(s) == "":
		return "is empty"
	case utf8.RuneCountInString(s) > max:
		return fmt.Sprintf("is longer than %d characters", max)
	case !utf8.ValidString(s):
		return "is not valid text"
	}
	return ""
}

// methodLabel names a method in messages.
func methodLabel(m string) string {
	switch m {
	case LazyConsensus:
		return "lazy consensus"
	case RankedChoice:
		return "ranked choice"
	case "":
		return "no method"
	}
	return m
}
