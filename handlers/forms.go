package handlers

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"sort"
	"strconv"
	"strings"

	"policykit/engine"
	"policykit/models"
)

// The propose form is generated from an action type's typed parameters: each parameter
// becomes one labelled control, and a submitted form becomes the parameter map the engine
// validates. Nothing here knows a particular action type.

// formField is one control of a generated form.
type formField struct {
	Param   engine.Param
	Value   string          // text controls
	Checked map[string]bool // multi-value controls (ids)
	Options []option        // select and checkbox lists
	Perms   []permRow       // the permissions matrix
	Error   string
}

type option struct {
	Value, Label string
}

// permRow is one action type (or wildcard) of a permissions matrix.
type permRow struct {
	Type, Label      string
	Propose, Execute bool
	Wildcard         bool
}

// choices are the community's members, roles, policies and documents offered by id
// controls, loaded once per form and only when the type has such a parameter.
type choices struct {
	members, roles, policies, documents []option
	channels                            []option // of the type's platform, when connected
	types                               []engine.ActionType
	platforms                           []string
}

func needs(t engine.ActionType, pt engine.ParamType) bool {
	for _, p := range t.Params {
		if p.Type == pt {
			return true
		}
	}
	return false
}

// loadChoices reads the options the type's id parameters need, one query per kind.
func (h *Handler) loadChoices(ctx context.Context, communityID int64, t engine.ActionType) (*choices, error) {
	c := &choices{types: h.engine.ActionTypes(), platforms: h.engine.PlatformNames()}
	if needs(t, engine.ParamMember) {
		ms, err := h.store.Members(ctx, communityID)
		if err != nil {
			return nil, err
		}
		for _, m := range ms {
			c.members = append(c.members, option{strconv.FormatInt(m.ID, 10), m.DisplayName})
		}
	}
	if needs(t, engine.ParamRole) {
		rs, err := h.store.Roles(ctx, communityID)
		if err != nil {
			return nil, err
		}
		for _, r := range rs {
			c.roles = append(c.roles, option{strconv.FormatInt(r.ID, 10), r.Name})
		}
	}
	if needs(t, engine.ParamPolicy) || needs(t, engine.ParamIDs) {
		ps, err := h.store.Policies(ctx, communityID)
		if err != nil {
			return nil, err
		}
		for _, p := range ps {
			label := fmt.Sprintf("%s (%s, priority %d)", p.Name, p.Kind, p.Priority)
			if !p.Active {
				label += " — removed"
			}
			c.policies = append(c.policies, option{strconv.FormatInt(p.ID, 10), label})
		}
	}
	if needs(t, engine.ParamChannel) {
		conn, err := h.store.ConnectionOf(ctx, communityID, t.Platform)
		if err != nil && !errors.Is(err, models.ErrNotFound) {
			return nil, err
		}
		if conn != nil {
			chs, err := h.store.Channels(ctx, conn.ID)
			if err != nil {
				return nil, err
			}
			for _, ch := range chs {
				c.channels = append(c.channels, option{ch.ChannelID, "#" + ch.Name})
			}
		}
	}
	if needs(t, engine.ParamDocument) {
		ds, err := h.store.Documents(ctx, communityID)
		if err != nil {
			return nil, err
		}
		for _, d := range ds {
			c.documents = append(c.documents, option{strconv.FormatInt(d.ID, 10), d.Title})
		}
	}
	return c, nil
}

// buildFields turns parameter values (prefilled or submitted) into form controls.
func buildFields(t engine.ActionType, values map[string]any, errs map[string]string, c *choices) []formField {
	out := make([]formField, 0, len(t.Params))
	for _, p := range t.Params {
		f := formField{Param: p, Error: errs[p.Name]}
		raw := values[p.Name]
		switch p.Type {
		case engine.ParamMember:
			f.Options, f.Value = c.members, display(raw)
		case engine.ParamRole:
			f.Options, f.Value = c.roles, display(raw)
		case engine.ParamPolicy:
			f.Options, f.Value = c.policies, display(raw)
		case engine.ParamDocument:
			f.Options, f.Value = c.documents, display(raw)
		case engine.ParamChannel:
			f.Options, f.Value = c.channels, display(raw)
		case engine.ParamChoice:
			for _, o := range p.Options {
				f.Options = append(f.Options, option{o, o})
			}
			f.Value = display(raw)
		case engine.ParamIDs:
			f.Options = c.policies
			f.Checked = map[string]bool{}
			for _, s := range listOf(raw) {
				f.Checked[s] = true
			}
		case engine.ParamPermissions:
			f.Perms = permRows(c, raw)
		case engine.ParamCandidates:
			if raw != nil {
				if s, ok := raw.(string); ok {
					f.Value = s
				} else {
					b, _ := json.MarshalIndent(raw, "", "  ")
					f.Value = string(b)
				}
			}
		case engine.ParamStrings:
			f.Value = strings.Join(listOf(raw), ", ")
		default:
			f.Value = display(raw)
		}
		out = append(out, f)
	}
	return out
}

// display prints a scalar parameter value for a text control.
func display(v any) string {
	switch x := v.(type) {
	case nil:
		return ""
	case string:
		return x
	case float64:
		return strconv.FormatFloat(x, 'f', -1, 64)
	default:
		return fmt.Sprint(x)
	}
}

// listOf prints a list parameter's items.
func listOf(v any) []string {
	switch x := v.(type) {
	case []string:
		return x
	case []int64:
		out := make([]string, len(x))
		for i, n := range x {
			out[i] = strconv.FormatInt(n, 10)
		}
		return out
	case []any:
		out := make([]string, 0, len(x))
		for _, e := range x {
			out = append(out, display(e))
		}
		return out
	case string:
		return splitList(x)
	}
	return nil
}

func splitList(s string) []string {
	var out []string
	for _, part := range strings.FieldsFunc(s, func(r rune) bool { return r == ',' || r == '\n' }) {
		if p := strings.TrimSpace(part); p != "" {
			out = append(out, p)
		}
	}
	return out
}

// permRows lists every permission pattern a role can hold — every action, each platform,
// each type — with what raw grants.
func permRows(c *choices, raw any) []permRow {
	granted := map[string]permRow{}
	var list []map[string]any
	switch x := raw.(type) {
	case []map[string]any:
		list = x
	case []any:
		for _, e := range x {
			if m, ok := e.(map[string]any); ok {
				list = append(list, m)
			}
		}
	case []models.RolePermission:
		for _, p := range x {
			granted[p.ActionType] = permRow{Propose: p.Propose, Execute: p.Execute}
		}
	}
	for _, m := range list {
		t, _ := m["action_type"].(string)
		pr, _ := m["propose"].(bool)
		ex, _ := m["execute"].(bool)
		granted[t] = permRow{Propose: pr, Execute: ex}
	}
	rows := []permRow{{Type: "*", Label: "Every action", Wildcard: true}}
	for _, p := range append([]string{engine.ConstitutionPlatform}, c.platforms...) {
		rows = append(rows, permRow{Type: p + ".*", Label: "Every " + p + " action", Wildcard: true})
	}
	for _, t := range c.types {
		rows = append(rows, permRow{Type: t.Name, Label: t.Label})
	}
	for i := range rows {
		g := granted[rows[i].Type]
		rows[i].Propose, rows[i].Execute = g.Propose, g.Execute
	}
	return rows
}

// paramsFromForm reads a submitted propose form into the parameter map the engine takes.
// Controls the form did not send are left out, so the engine's "required" check speaks.
func paramsFromForm(t engine.ActionType, form url.Values) (map[string]any, map[string]string) {
	params := map[string]any{}
	errs := map[string]string{}
	for _, p := range t.Params {
		vals, present := form[p.Name]
		switch p.Type {
		case engine.ParamBool:
			if present {
				params[p.Name] = vals[0] == "true" || vals[0] == "on"
			}
		case engine.ParamIDs:
			if present {
				ids := []any{}
				for _, v := range vals {
					if v != "" {
						ids = append(ids, v)
					}
				}
				params[p.Name] = ids
			}
		case engine.ParamStrings:
			if present {
				var items []any
				for _, v := range vals {
					for _, s := range splitList(v) {
						items = append(items, s)
					}
				}
				if items == nil {
					items = []any{}
				}
				params[p.Name] = items
			}
		case engine.ParamPermissions:
			if present {
				params[p.Name] = permissionsFromForm(p.Name, form)
			}
		case engine.ParamCandidates:
			if present && strings.TrimSpace(vals[0]) != "" {
				var list []any
				if err := json.Unmarshal([]byte(vals[0]), &list); err != nil {
					errs[p.Name] = "must be a JSON list of candidates: " + err.Error()
					params[p.Name] = vals[0]
					continue
				}
				params[p.Name] = list
			}
		default:
			if present {
				params[p.Name] = vals[0]
			}
		}
	}
	return params, errs
}

// permissionsFromForm reads a permissions matrix: checkboxes <name>.propose and
// <name>.execute whose values are action types.
func permissionsFromForm(name string, form url.Values) []any {
	grant := map[string]map[string]any{}
	var order []string
	for _, right := range []string{"propose", "execute"} {
		for _, t := range form[name+"."+right] {
			if t == "" {
				continue
			}
			if grant[t] == nil {
				grant[t] = map[string]any{"action_type": t, "propose": false, "execute": false}
				order = append(order, t)
			}
			grant[t][right] = true
		}
	}
	sort.Strings(order)
	out := make([]any, 0, len(order))
	for _, t := range order {
		out = append(out, grant[t])
	}
	return out
}
