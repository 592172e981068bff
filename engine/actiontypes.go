package engine

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"sort"
	"strconv"
	"strings"
	"unicode/utf8"

	"policykit/models"
)

// ParamType is the type of one action parameter; it decides validation and the form field.
type ParamType string

// Parameter types.
const (
	ParamString      ParamType = "string"      // one line of text
	ParamText        ParamType = "text"        // several lines (markdown, message text)
	ParamCode        ParamType = "code"        // an expr program
	ParamInt         ParamType = "int"         //
	ParamBool        ParamType = "bool"        //
	ParamChoice      ParamType = "choice"      // one of Options
	ParamStrings     ParamType = "strings"     // a list of short strings
	ParamMember      ParamType = "member"      // a member id of the community
	ParamRole        ParamType = "role"        // a role id of the community
	ParamPolicy      ParamType = "policy"      // a policy id of the community
	ParamDocument    ParamType = "document"    // a document id of the community
	ParamIDs         ParamType = "ids"         // a list of policy ids (policy bundles)
	ParamPermissions ParamType = "permissions" // a list of {action_type, propose, execute}
	ParamCandidates  ParamType = "candidates"  // a list of {type, params} (action bundles)
	ParamChannel     ParamType = "channel"     // a platform channel id
)

// Param describes one parameter of an action type.
type Param struct {
	Name     string    `json:"name"`
	Label    string    `json:"label"`
	Type     ParamType `json:"type"`
	Required bool      `json:"required,omitempty"`
	Max      int       `json:"max,omitempty"` // longest string or list accepted
	Options  []string  `json:"options,omitempty"`
	Help     string    `json:"help,omitempty"`
}

// ActionType describes a kind of action: its name, its human label and its parameters.
type ActionType struct {
	Name     string  `json:"type"`  // "<platform>.<verb>_<object>"
	Label    string  `json:"label"` // "Add a document"
	Platform string  `json:"platform"`
	Params   []Param `json:"params"`
	// Summary describes one action of this type in a sentence ("rename #general to #random").
	Summary func(params map[string]any) string `json:"-"`
}

// Kind is the policy kind that governs actions of the type.
func (t ActionType) Kind() string {
	if t.Platform == ConstitutionPlatform {
		return models.KindConstitution
	}
	return models.KindPlatform
}

// Describe summarises an action of this type for people.
func (t ActionType) Describe(params map[string]any) string {
	if t.Summary != nil {
		return t.Summary(params)
	}
	return t.Label
}

// registry holds every known action type by name.
type registry struct {
	types map[string]ActionType
}

func newRegistry() *registry { return &registry{types: map[string]ActionType{}} }

func (r *registry) add(ts ...ActionType) error {
	for _, t := range ts {
		if !strings.HasPrefix(t.Name, t.Platform+".") {
			return fmt.Errorf("action type %q must start with its platform %q", t.Name, t.Platform)
		}
		if _, dup := r.types[t.Name]; dup {
			return fmt.Errorf("action type %q registered twice", t.Name)
		}
		r.types[t.Name] = t
	}
	return nil
}

func (r *registry) lookup(name string) (ActionType, error) {
	t, ok := r.types[name]
	if !ok {
		return ActionType{}, models.Invalid("type", fmt.Sprintf("unknown action type %q", name))
	}
	return t, nil
}

// sorted lists the types by platform then name.
func (r *registry) sorted() []ActionType {
	out := make([]ActionType, 0, len(r.types))
	for _, t := range r.types {
		out = append(out, t)
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Platform != out[j].Platform {
			return out[i].Platform < out[j].Platform
		}
		return out[i].Name < out[j].Name
	})
	return out
}

// normalize checks params against the type's declared parameters and converts them to
// canonical Go values (int64 for numbers and ids, []string for lists, bool). Unknown
// parameters are refused, so a typo never silently drops a value.
func (t ActionType) normalize(in map[string]any) (map[string]any, error) {
	v := &models.ValidationError{}
	out := make(map[string]any, len(t.Params))
	known := make(map[string]bool, len(t.Params))
	for _, p := range t.Params {
		known[p.Name] = true
		raw, present := in[p.Name]
		// An empty text is a value (it clears a description or a stage); an empty number,
		// choice or id from a form means "not given".
		emptyText := raw == "" && (p.Type == ParamString || p.Type == ParamText || p.Type == ParamCode)
		if !present || raw == nil || (raw == "" && (p.Required || !emptyText)) {
			if p.Required {
				v.Add(p.Name, "is required")
			}
			continue
		}
		val, err := p.convert(raw)
		if err != nil {
			v.Add(p.Name, err.Error())
			continue
		}
		out[p.Name] = val
	}
	for k := range in {
		if !known[k] {
			v.Add(k, fmt.Sprintf("is not a parameter of %s", t.Name))
		}
	}
	if err := v.OrNil(); err != nil {
		return nil, err
	}
	return out, nil
}

func (p Param) convert(raw any) (any, error) {
	max := p.Max
	switch p.Type {
	case ParamString, ParamText, ParamCode, ParamChannel:
		s, ok := raw.(string)
		if !ok {
			return nil, fmt.Errorf("must be text")
		}
		if p.Type == ParamString || p.Type == ParamChannel {
			s = strings.TrimSpace(s)
			if max == 0 {
				max = 200
			}
		}
		if max == 0 {
			max = models.MaxDocumentBytes
		}
		if utf8.RuneCountInString(s) > max {
			return nil, fmt.Errorf("must be at most %d characters", max)
		}
		if p.Required && strings.TrimSpace(s) == "" {
			return nil, fmt.Errorf("is required")
		}
		if msg := textProblem(p.Type, s); msg != "" {
			return nil, errors.New(msg)
		}
		return s, nil
	case ParamChoice:
		s, ok := raw.(string)
		if !ok {
			return nil, fmt.Errorf("must be one of %s", strings.Join(p.Options, ", "))
		}
		for _, o := range p.Options {
			if s == o {
				return s, nil
			}
		}
		return nil, fmt.Errorf("must be one of %s", strings.Join(p.Options, ", "))
	case ParamInt, ParamMember, ParamRole, ParamPolicy, ParamDocument:
		n, err := toInt64(raw)
		if err != nil {
			return nil, err
		}
		if p.Type != ParamInt && n <= 0 {
			return nil, fmt.Errorf("must be an id")
		}
		return n, nil
	case ParamBool:
		switch b := raw.(type) {
		case bool:
			return b, nil
		case string:
			return b == "true" || b == "on" || b == "1", nil
		}
		return nil, fmt.Errorf("must be true or false")
	case ParamStrings:
		list, err := toStrings(raw)
		if err != nil {
			return nil, err
		}
		if max == 0 {
			max = 100
		}
		if len(list) > max {
			return nil, fmt.Errorf("must list at most %d items", max)
		}
		for _, item := range list {
			if msg := models.LineProblem(item); msg != "" {
				return nil, fmt.Errorf("%q %s", item, msg)
			}
		}
		return list, nil
	case ParamIDs:
		list, ok := raw.([]any)
		if !ok {
			if ids, ok := raw.([]int64); ok {
				return ids, nil
			}
			return nil, fmt.Errorf("must be a list of ids")
		}
		ids := make([]int64, 0, len(list))
		for _, x := range list {
			n, err := toInt64(x)
			if err != nil || n <= 0 {
				return nil, fmt.Errorf("must be a list of ids")
			}
			ids = append(ids, n)
		}
		return ids, nil
	case ParamPermissions, ParamCandidates:
		// Structured lists are validated by the action's own check; keep them as JSON values.
		b, err := json.Marshal(raw)
		if err != nil {
			return nil, fmt.Errorf("is malformed")
		}
		var list []map[string]any
		if err := json.Unmarshal(b, &list); err != nil {
			return nil, fmt.Errorf("must be a list of objects")
		}
		if len(list) > 100 {
			return nil, fmt.Errorf("must list at most 100 items")
		}
		return list, nil
	}
	return nil, fmt.Errorf("has an unknown parameter type %q", p.Type)
}

func toInt64(raw any) (int64, error) {
	switch n := raw.(type) {
	case int:
		return int64(n), nil
	case int64:
		return n, nil
	case float64:
		if n != math.Trunc(n) || math.Abs(n) > 1<<53 {
			return 0, fmt.Errorf("must be a whole number")
		}
		return int64(n), nil
	case json.Number:
		return n.Int64()
	case string:
		v, err := strconv.ParseInt(strings.TrimSpace(n), 10, 64)
		if err != nil {
			return 0, fmt.Errorf("must be a whole number")
		}
		return v, nil
	}
	return 0, fmt.Errorf("must be a whole number")
}

// toStrings accepts a list of strings, or one comma-separated string (form input).
func toStrings(raw any) ([]string, error) {
	var out []string
	switch l := raw.(type) {
	case []string:
		out = l
	case []any:
		for _, x := range l {
			s, ok := x.(string)
			if !ok {
				return nil, fmt.Errorf("must be a list of text")
			}
			out = append(out, s)
		}
	case string:
		out = strings.Split(l, ",")
	default:
		return nil, fmt.Errorf("must be a list of text")
	}
	clean := make([]string, 0, len(out))
	for _, s := range out {
		if s = strings.TrimSpace(s); s != "" {
			clean = append(clean, s)
		}
	}
	return clean, nil
}

// Param accessors for normalised parameters.
func str(p map[string]any, k string) string { s, _ := p[k].(string); return s }
func num(p map[string]any, k string) int64  { n, _ := p[k].(int64); return n }
func flag(p map[string]any, k string) bool  { b, _ := p[k].(bool); return b }
func strs(p map[string]any, k string) []string {
	l, _ := p[k].([]string)
	return l
}

// textProblem applies the shared text rules (models/text.go) by parameter type: names and
// channels are one line without invisible characters, code refuses bidirectional controls.
func textProblem(t ParamType, s string) string {
	switch t {
	case ParamString, ParamChannel:
		return models.LineProblem(s)
	case ParamCode:
		return models.CodeProblem(s)
	}
	return models.TextProblem(s)
}
