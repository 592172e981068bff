package engine

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"policykit/models"
)

// Constitution action types: every change to a community's policies, roles, documents and
// settings is one of these, decided by its constitution policies.
const (
	TypeAddPolicy      = "constitution.add_policy"
	TypeChangePolicy   = "constitution.change_policy"
	TypeRemovePolicy   = "constitution.remove_policy"
	TypeRecoverPolicy  = "constitution.recover_policy"
	TypeReorderPolicy  = "constitution.reorder_policy"
	TypeAddRole        = "constitution.add_role"
	TypeEditRole       = "constitution.edit_role"
	TypeDeleteRole     = "constitution.delete_role"
	TypeGrantRole      = "constitution.grant_role"
	TypeRevokeRole     = "constitution.revoke_role"
	TypeAddDocument    = "constitution.add_document"
	TypeChangeDocument = "constitution.change_document"
	TypeRemoveDocument = "constitution.remove_document"
	TypeChangeSettings = "constitution.change_settings"
	TypeElection       = "constitution.hold_election"
	TypeConnect        = "constitution.connect_platform"
	TypeDisconnect     = "constitution.disconnect_platform"
	TypeMergeMembers   = "constitution.merge_members"
)

func policyParams() []Param {
	code := func(name, label, help string) Param {
		return Param{Name: name, Label: label, Type: ParamCode, Max: maxSource, Help: help}
	}
	return []Param{
		{Name: "kind", Label: "Kind", Type: ParamChoice, Options: []string{models.KindPlatform, models.KindConstitution},
			Help: "platform policies govern everyday actions; constitution policies govern changes to governance"},
		{Name: "name", Label: "Name", Type: ParamString, Max: 80},
		{Name: "description", Label: "Description", Type: ParamText, Max: 2000},
		{Name: "action_types", Label: "Action types it covers (empty: every action of its kind)", Type: ParamStrings},
		{Name: "priority", Label: "Priority (lower decides first)", Type: ParamInt},
		{Name: "mode", Label: "Mode", Type: ParamChoice, Options: []string{models.ModeEnforce, models.ModeDryRun}},
		{Name: "blocks", Label: "Block program (JSON)", Type: ParamText, Max: 100_000},
		code("filter", "Filter", "true when this policy governs the action (empty: always)"),
		code("initialize", "Initialize", "runs once when the proposal opens"),
		code("notify", "Notify", "runs once when the proposal goes pending"),
		code("check", "Check", "returns PASSED, FAILED or PENDING (empty: PASSED)"),
		code("pass", "Pass", "runs when it passes (empty: execute())"),
		code("fail", "Fail", "runs when it fails"),
		{Name: "stages", Label: "Later stages (policy ids deciding in turn after this one passes)", Type: ParamIDs},
		{Name: "rule", Label: "Plain-language rule", Type: ParamText, Max: 4000},
		stagePoliciesParam(),
	}
}

// ConstitutionTypes lists the constitution action types (every engine has them).
func ConstitutionTypes() []ActionType {
	add := policyParams()
	add[0].Required, add[1].Required = true, true
	change := append([]Param{{Name: "policy", Label: "Policy", Type: ParamPolicy, Required: true}}, policyParams()[1:]...)
	policy := Param{Name: "policy", Label: "Policy", Type: ParamPolicy, Required: true}
	role := Param{Name: "role", Label: "Role", Type: ParamRole, Required: true}
	member := Param{Name: "member", Label: "Member", Type: ParamMember, Required: true}
	doc := Param{Name: "document", Label: "Document", Type: ParamDocument, Required: true}
	roleName := Param{Name: "name", Label: "Name", Type: ParamString, Max: 60, Required: true}
	roleDesc := Param{Name: "description", Label: "Description", Type: ParamText, Max: 500}
	perms := Param{Name: "permissions", Label: "Permissions", Type: ParamPermissions,
		Help: `a list of {"action_type": "<platform>.*", "propose": true, "execute": false}`}
	title := Param{Name: "title", Label: "Title", Type: ParamString, Max: 120, Required: true}
	body := Param{Name: "body", Label: "Text (markdown)", Type: ParamText, Max: models.MaxDocumentBytes, Required: true}
	c := ConstitutionPlatform
	named := func(label, key string) func(map[string]any) string {
		return func(p map[string]any) string {
			if s := str(p, key); s != "" {
				return fmt.Sprintf("%s “%s”", label, s)
			}
			return label
		}
	}
	return []ActionType{
		{Name: TypeAddPolicy, Label: "Add a policy", Platform: c, Params: add, Summary: named("Add the policy", "name"), Check: checkPolicy},
		{Name: TypeChangePolicy, Label: "Change a policy", Platform: c, Params: change, Summary: named("Change the policy", "name"), Check: checkPolicy},
		{Name: TypeRemovePolicy, Label: "Remove a policy", Platform: c, Params: []Param{policy}, Check: checkRemovePolicy},
		{Name: TypeRecoverPolicy, Label: "Recover a removed policy", Platform: c, Params: []Param{policy}, Check: checkRecoverPolicy},
		{Name: TypeReorderPolicy, Label: "Change a policy's priority", Platform: c,
			Params: []Param{policy, {Name: "priority", Label: "New priority", Type: ParamInt, Required: true}}, Check: checkReorderPolicy},
		{Name: TypeAddRole, Label: "Add a role", Platform: c, Params: []Param{roleName, roleDesc, perms}, Summary: named("Add the role", "name"), Check: checkRole},
		{Name: TypeEditRole, Label: "Edit a role", Platform: c, Params: []Param{role, roleName, roleDesc, perms}, Summary: named("Edit the role", "name"), Check: checkRole},
		{Name: TypeDeleteRole, Label: "Delete a role", Platform: c, Params: []Param{role}, Check: roleCheck(roleDelete)},
		{Name: TypeGrantRole, Label: "Give a member a role", Platform: c, Params: []Param{role, member}, Check: roleCheck(roleGive)},
		{Name: TypeRevokeRole, Label: "Take a role from a member", Platform: c, Params: []Param{role, member}, Check: roleCheck(roleTake)},
		{Name: TypeAddDocument, Label: "Add a document", Platform: c, Params: []Param{title, body}, Summary: named("Add the document", "title"), Check: checkDocument},
		{Name: TypeChangeDocument, Label: "Change a document", Platform: c, Params: []Param{doc, title, body}, Summary: named("Change the document", "title"), Check: checkDocument},
		{Name: TypeRemoveDocument, Label: "Remove a document", Platform: c, Params: []Param{doc}},
		{Name: TypeChangeSettings, Label: "Change the community's settings", Platform: c, Params: []Param{
			{Name: "name", Label: "Community name", Type: ParamString, Max: 80, Required: true},
			{Name: "description", Label: "Description", Type: ParamText, Max: 2000}}, Check: checkSettings},
		{Name: TypeConnect, Label: "Connect a platform", Platform: c, Params: []Param{
			{Name: "platform", Label: "Platform", Type: ParamString, Max: 40, Required: true, Help: "the platform's short name, as in the address of its page"}},
			Summary: named("Connect", "platform"), Check: connectionCheck(true)},
		{Name: TypeDisconnect, Label: "Disconnect a platform", Platform: c, Params: []Param{
			{Name: "platform", Label: "Platform", Type: ParamString, Max: 40, Required: true, Help: "the platform's short name, as in the address of its page"}},
			Summary: named("Disconnect", "platform"), Check: connectionCheck(false)},
		{Name: TypeMergeMembers, Label: "Merge two members who are the same person", Platform: c, Params: []Param{
			{Name: "member", Label: "Member to keep", Type: ParamMember, Required: true},
			{Name: "duplicate", Label: "Member merged into them", Type: ParamMember, Required: true,
				Help: "their linked accounts, roles, login and votes on open proposals go to the member kept; where both voted, the later vote stands"}},
			Check: checkMerge},
		{Name: TypeElection, Label: "Hold an election between actions", Platform: c, Params: []Param{
			{Name: "title", Label: "Question", Type: ParamString, Max: 200, Required: true},
			{Name: "candidates", Label: "Candidates", Type: ParamCandidates, Required: true,
				Help: `a list of {"label": "...", "type": "constitution.add_document", "params": {...}}; the winner is carried out`}},
			Summary: named("Election:", "title"), Check: checkElection},
	}
}

// nameFree refuses a name the community already uses for another row of the same kind.
func nameFree(ctx context.Context, s *State, n models.UniqueName, field, what, name string, except int64) error {
	taken, err := s.Store.NameTaken(ctx, s.Community.ID, n, name, except)
	if err != nil {
		return err
	}
	if taken != "" {
		return models.Invalid(field, fmt.Sprintf("a %s named “%s” already exists", what, taken))
	}
	return nil
}

// checkPolicy checks a policy to add or change: its code compiles, its action types and
// stages exist, its name is free, and a change changes something.
func checkPolicy(ctx context.Context, s *State, p map[string]any) error {
	e, cid := s.e, s.Community.ID
	fields, err := e.policyFields(ctx, s.Store, cid, p)
	if err != nil {
		return err
	}
	v := &models.ValidationError{}
	if fields.Name == "" {
		v.Add("name", "is required")
	}
	for _, t := range fields.ActionTypes {
		at, err := e.types.lookup(t)
		if err != nil {
			v.Add("action_types", fmt.Sprintf("unknown action type %q", t))
		} else if at.Kind() != fields.Kind {
			v.Add("action_types", fmt.Sprintf("%s is not a %s action", t, fields.Kind))
		}
	}
	if err := CheckPolicy(SourcesOf(fields)); err != nil {
		for stage, msg := range models.FieldErrors(err) {
			v.Add(stage, msg)
		}
	}
	checkStagePolicies(p, v)
	if err := v.OrNil(); err != nil {
		return err
	}
	id := num(p, "policy")
	if err := nameFree(ctx, s, models.PolicyName, "name", "policy", fields.Name, id); err != nil {
		return err
	}
	if id == 0 {
		return nil
	}
	cur, err := s.Store.PolicyByID(ctx, cid, id)
	if err != nil {
		return err
	}
	if samePolicy(&cur.PolicyFields, fields) && str(p, ParamStagePolicies) == "" {
		return noChange("policy", fmt.Sprintf("what is proposed is the policy “%s” as it is now", cur.Name))
	}
	return nil
}

// samePolicy tells whether a change would store the policy as it is.
func samePolicy(a, b *models.PolicyFields) bool {
	return a.Name == b.Name && a.Description == b.Description && a.Mode == b.Mode && a.Priority == b.Priority &&
		a.Blocks == b.Blocks && SourcesOf(a) == SourcesOf(b) && a.Rule == b.Rule &&
		slices.Equal(a.ActionTypes, b.ActionTypes) && slices.Equal(a.Stages, b.Stages)
}

// checkRemovePolicy refuses removing a removed policy, or the last policy governing every
// action of its kind (DESIGN §5: nothing is ever ungoverned).
func checkRemovePolicy(ctx context.Context, s *State, p map[string]any) error {
	pol, err := s.Store.PolicyByID(ctx, s.Community.ID, num(p, "policy"))
	if err != nil {
		return err
	}
	if !pol.Active {
		return noChange("policy", fmt.Sprintf("the policy “%s” is already removed", pol.Name))
	}
	if len(pol.ActionTypes) > 0 || pol.Mode != models.ModeEnforce {
		return nil
	}
	all, err := s.Store.Policies(ctx, s.Community.ID)
	if err != nil {
		return err
	}
	for _, o := range all {
		if o.ID != pol.ID && o.Active && o.Kind == pol.Kind && o.Mode == models.ModeEnforce && len(o.ActionTypes) == 0 {
			return nil
		}
	}
	return models.Invalid("policy", fmt.Sprintf("“%s” is the last policy that governs every %s action; add another such policy first, or change this one", pol.Name, pol.Kind))
}

func checkRecoverPolicy(ctx context.Context, s *State, p map[string]any) error {
	pol, err := s.Store.PolicyByID(ctx, s.Community.ID, num(p, "policy"))
	if err != nil {
		return err
	}
	if pol.Active {
		return noChange("policy", fmt.Sprintf("the policy “%s” is in force, not removed", pol.Name))
	}
	return nil
}

func checkReorderPolicy(ctx context.Context, s *State, p map[string]any) error {
	pol, err := s.Store.PolicyByID(ctx, s.Community.ID, num(p, "policy"))
	if err != nil {
		return err
	}
	if int64(pol.Priority) == num(p, "priority") {
		return noChange("priority", fmt.Sprintf("the policy “%s” already has priority %d", pol.Name, pol.Priority))
	}
	return nil
}

// checkRole checks a role to add or edit: its permissions, a free name, and a change that
// changes something.
func checkRole(ctx context.Context, s *State, p map[string]any) error {
	perms, err := s.e.permissions(p)
	if err != nil {
		return err
	}
	id, name := num(p, "role"), str(p, "name")
	if err := nameFree(ctx, s, models.RoleName, "name", "role", name, id); err != nil {
		return err
	}
	if id == 0 {
		return nil
	}
	roles, err := s.Store.Roles(ctx, s.Community.ID)
	if err != nil {
		return err
	}
	for _, r := range roles {
		if r.ID != id || r.Name != name || r.Description != str(p, "description") || !samePermissions(r.Permissions, perms) {
			continue
		}
		return noChange("name", fmt.Sprintf("the role “%s” already has this name, description and permissions", r.Name))
	}
	return nil
}

func samePermissions(a, b []models.RolePermission) bool {
	key := func(ps []models.RolePermission) []string {
		out := make([]string, len(ps))
		for i, p := range ps {
			out[i] = fmt.Sprintf("%s %t %t", p.ActionType, p.Propose, p.Execute)
		}
		slices.Sort(out)
		return out
	}
	return slices.Equal(key(a), key(b))
}

// Role changes for roleCheck.
const (
	roleDelete = iota
	roleGive
	roleTake
)

// roleCheck checks deleting, giving or taking a role: never the base role; giving only a
// role the member lacks, taking only one they hold.
func roleCheck(change int) CheckFunc {
	return func(ctx context.Context, s *State, p map[string]any) error {
		r, err := s.Store.RoleByID(ctx, s.Community.ID, num(p, "role"))
		if err != nil {
			return err
		}
		if r.IsBase {
			return models.Invalid("role", fmt.Sprintf("every member holds the base role “%s”; it cannot be deleted, given or taken", r.Name))
		}
		if change == roleDelete {
			return nil
		}
		m, err := s.Store.MemberByID(ctx, s.Community.ID, num(p, "member"))
		if err != nil {
			return err
		}
		has, err := s.Store.MemberHasRole(ctx, m.ID, r.ID)
		switch {
		case err != nil:
			return err
		case has && change == roleGive:
			return noChange("member", fmt.Sprintf("%s already has the role “%s”", m.DisplayName, r.Name))
		case !has && change == roleTake:
			return noChange("member", fmt.Sprintf("%s does not have the role “%s”", m.DisplayName, r.Name))
		}
		return nil
	}
}

// checkDocument checks a document to add or change: its text, a free title, and a change
// that changes something.
func checkDocument(ctx context.Context, s *State, p map[string]any) error {
	title, body, id := strings.TrimSpace(str(p, "title")), str(p, "body"), num(p, "document")
	if err := models.CheckDocument(title, body); err != nil {
		return err
	}
	if err := nameFree(ctx, s, models.DocumentTitle, "title", "document", title, id); err != nil {
		return err
	}
	if id == 0 {
		return nil
	}
	vs, err := s.Store.DocumentVersions(ctx, s.Community.ID, id)
	if err != nil {
		return err
	}
	if len(vs) > 0 && vs[0].Title == title && vs[0].Body == body {
		return noChange("body", fmt.Sprintf("the document “%s” already reads exactly like this", title))
	}
	return nil
}

func checkSettings(ctx context.Context, s *State, p map[string]any) error {
	c, err := s.Store.CommunityByID(ctx, s.Community.ID)
	if err != nil {
		return err
	}
	if c.Name == strings.TrimSpace(str(p, "name")) && c.ParsedSettings().Description == str(p, "description") {
		return noChange("name", "the community already has this name and description")
	}
	return nil
}

// connectionCheck checks connecting a platform (its connection awaits approval) or
// disconnecting it (it has a connection).
func connectionCheck(connect bool) CheckFunc {
	return func(ctx context.Context, s *State, p map[string]any) error {
		platform := str(p, "platform")
		conn, err := s.Store.ConnectionOf(ctx, s.Community.ID, platform)
		switch {
		case err != nil && !errors.Is(err, models.ErrNotFound):
			return err
		case connect && (conn == nil || conn.Status != models.ConnectionAwaiting):
			return models.Invalid("platform", fmt.Sprintf("no %s connection is awaiting approval; install it from the platform's page first", PlatformLabel(platform)))
		case !connect && conn == nil:
			return models.Invalid("platform", fmt.Sprintf("%s is not connected to this community", PlatformLabel(platform)))
		case !connect && conn.Status == models.ConnectionDisconnecting:
			return models.Invalid("platform", fmt.Sprintf("%s is being disconnected already", PlatformLabel(platform)))
		}
		return nil
	}
}

// checkMerge checks that two distinct current members of the community are named.
func checkMerge(ctx context.Context, s *State, p map[string]any) error {
	keep, dup := num(p, "member"), num(p, "duplicate")
	if keep == dup {
		return models.Invalid("duplicate", "choose two different members")
	}
	for _, id := range []int64{keep, dup} {
		m, err := s.Store.MemberByID(ctx, s.Community.ID, id)
		if err != nil {
			return err
		}
		if m.LeftAt != nil {
			return models.Invalid("duplicate", fmt.Sprintf("%s is no longer a member", m.DisplayName))
		}
	}
	return nil
}

// checkElection checks an election: at least two candidates with labels of their own, each
// an action that passes its own pre-flight.
func checkElection(ctx context.Context, s *State, p map[string]any) error {
	cands := candidateList(p)
	if len(cands) < 2 {
		return models.Invalid("candidates", "an election needs at least two candidates")
	}
	labels := map[string]bool{}
	for i, c := range cands {
		label, _ := c["label"].(string)
		if strings.TrimSpace(label) == "" || labels[label] {
			return models.Invalid("candidates", fmt.Sprintf("candidate %d needs a label of its own", i+1))
		}
		labels[label] = true
		if _, _, err := s.e.candidateAction(ctx, s, c); err != nil {
			return models.Invalid("candidates", fmt.Sprintf("candidate “%s”: %s", label, Reason(err)))
		}
	}
	return nil
}

// candidateAction checks one election candidate and returns its type and parameters.
func (e *Engine) candidateAction(ctx context.Context, s *State, c map[string]any) (ActionType, map[string]any, error) {
	name, _ := c["type"].(string)
	typ, err := e.types.lookup(name)
	if err != nil {
		return typ, nil, err
	}
	if typ.Name == TypeElection {
		return typ, nil, models.Invalid("candidates", "an election cannot hold another election")
	}
	raw, _ := c["params"].(map[string]any)
	params, err := typ.normalize(raw)
	if err != nil {
		return typ, nil, err
	}
	return typ, params, e.preflight(ctx, s.Store, s.Community, typ, params, s.Origin, true)
}

// policyFields builds the fields a policy action would store: for a change, the current
// policy with the given parameters replacing its fields.
func (e *Engine) policyFields(ctx context.Context, tx *models.Store, communityID int64, p map[string]any) (*models.PolicyFields, error) {
	f := &models.PolicyFields{Mode: models.ModeEnforce, Active: true}
	if id := num(p, "policy"); id != 0 {
		cur, err := tx.PolicyByID(ctx, communityID, id)
		if err != nil {
			return nil, err
		}
		f = &cur.PolicyFields
	} else {
		f.Kind = str(p, "kind")
	}
	set := func(key string, dst *string) {
		if v, ok := p[key].(string); ok {
			*dst = v
		}
	}
	set("name", &f.Name)
	set("description", &f.Description)
	set("mode", &f.Mode)
	set("blocks", &f.Blocks)
	set("filter", &f.FilterSrc)
	set("initialize", &f.InitSrc)
	set("notify", &f.NotifySrc)
	set("check", &f.CheckSrc)
	set("pass", &f.PassSrc)
	set("fail", &f.FailSrc)
	set("rule", &f.Rule)
	f.Name = strings.TrimSpace(f.Name)
	if l, ok := p["action_types"].([]string); ok {
		f.ActionTypes = l
	}
	if f.ActionTypes == nil {
		f.ActionTypes = []string{}
	}
	if ids, ok := p["stages"].([]int64); ok {
		f.Stages = ids
	}
	if f.Stages == nil {
		f.Stages = []int64{}
	}
	if pr, ok := p["priority"].(int64); ok {
		f.Priority = int(pr)
	} else if num(p, "policy") == 0 {
		next, err := tx.NextPriority(ctx, communityID, f.Kind)
		if err != nil {
			return nil, err
		}
		f.Priority = next
	}
	return f, nil
}

// permissions decodes and checks a role's permission list.
func (e *Engine) permissions(p map[string]any) ([]models.RolePermission, error) {
	list, _ := p["permissions"].([]map[string]any)
	out := make([]models.RolePermission, 0, len(list))
	seen := map[string]bool{}
	for _, item := range list {
		t, _ := item["action_type"].(string)
		t = strings.TrimSpace(t)
		if t != "*" {
			if prefix, ok := strings.CutSuffix(t, ".*"); ok {
				if prefix != ConstitutionPlatform && e.platforms[prefix] == nil {
					return nil, models.Invalid("permissions", fmt.Sprintf("unknown platform %q", prefix))
				}
			} else if _, err := e.types.lookup(t); err != nil {
				return nil, models.Invalid("permissions", fmt.Sprintf("unknown action type %q", t))
			}
		}
		if seen[t] {
			return nil, models.Invalid("permissions", fmt.Sprintf("%q is listed twice", t))
		}
		seen[t] = true
		propose, _ := item["propose"].(bool)
		execute, _ := item["execute"].(bool)
		out = append(out, models.RolePermission{ActionType: t, Propose: propose, Execute: execute})
	}
	return out, nil
}

// carryOutElection carries out the winning candidate of an election as its own action
// (checked again like any action carried out); the election is carried out when it is. A
// database error is returned, never taken for "no winner".
func (t *txn) carryOutElection(a *models.Action, payload map[string]any) error {
	winner, _ := payload["candidate"].(string)
	var cand map[string]any
	for _, c := range candidateList(a.Params) {
		if label, _ := c["label"].(string); label == winner && winner != "" {
			cand = c
			break
		}
	}
	if cand == nil {
		return t.notCarriedOut(a, models.Invalid("candidates", fmt.Sprintf("the election has no winner to carry out (%q)", winner)))
	}
	name, _ := cand["type"].(string)
	raw, _ := cand["params"].(map[string]any)
	typ, err := t.e.types.lookup(name)
	var params map[string]any
	if err == nil {
		params, err = typ.normalize(raw)
	}
	if err != nil {
		return t.notCarriedOut(a, err)
	}
	child := &models.Action{CommunityID: a.CommunityID, Type: typ.Name, Kind: typ.Kind(), Platform: typ.Platform,
		InitiatorID: a.InitiatorID, Params: params, Origin: a.Origin, ExternalRefs: map[string]string{},
		Status: models.StatusPending, BundleID: &a.ID, Note: fmt.Sprintf("won the election %q", str(a.Params, "title"))}
	if err := t.newAction(child); err != nil {
		return fmt.Errorf("election winner %q: %w", winner, err)
	}
	t.event("election.won", nil, a, nil, map[string]any{"winner": winner, "action_id": child.ID})
	if err := t.carryOut(child, nil); err != nil {
		return err
	}
	if err := t.saveAction(child); err != nil {
		return fmt.Errorf("election winner %q: %w", winner, err)
	}
	if child.Status == models.StatusNotCarriedOut {
		return t.notCarriedOut(a, models.Invalid("candidates", fmt.Sprintf("the winner “%s”: %s", winner, child.Note)))
	}
	a.Status = models.StatusExecuted
	return nil
}

// applyConstitution carries out a passed constitution action, whose normalised parameters p
// passed their pre-flight check in this transaction, in the deciding transaction.
func (e *Engine) applyConstitution(ctx context.Context, tx *models.Store, a *models.Action, p map[string]any, now time.Time) error {
	cid := a.CommunityID
	switch a.Type {
	case TypeAddPolicy, TypeChangePolicy:
		f, err := e.policyFields(ctx, tx, cid, p)
		if err != nil {
			return err
		}
		if err := e.createStagePolicies(ctx, tx, cid, f, p); err != nil {
			return err
		}
		pol := &models.Policy{ID: num(p, "policy"), CommunityID: cid, PolicyFields: *f}
		return tx.SavePolicy(ctx, pol, nil)
	case TypeRemovePolicy, TypeRecoverPolicy, TypeReorderPolicy:
		pol, err := tx.PolicyByID(ctx, cid, num(p, "policy"))
		if err != nil {
			return err
		}
		switch a.Type {
		case TypeRemovePolicy:
			pol.Active = false
		case TypeRecoverPolicy:
			pol.Active = true
		default:
			pol.Priority = int(num(p, "priority"))
		}
		return tx.SavePolicy(ctx, pol, nil)
	case TypeAddRole, TypeEditRole:
		perms, err := e.permissions(p)
		if err != nil {
			return err
		}
		r := &models.Role{ID: num(p, "role"), CommunityID: cid, Name: str(p, "name"), Description: str(p, "description")}
		if r.ID == 0 {
			return tx.CreateRole(ctx, r, perms)
		}
		return tx.UpdateRole(ctx, r, perms)
	case TypeDeleteRole:
		return tx.DeleteRole(ctx, cid, num(p, "role"))
	case TypeGrantRole:
		return tx.GrantRole(ctx, cid, num(p, "member"), num(p, "role"))
	case TypeRevokeRole:
		return tx.RevokeRole(ctx, cid, num(p, "member"), num(p, "role"))
	case TypeAddDocument:
		_, err := tx.CreateDocument(ctx, cid, str(p, "title"), str(p, "body"), a.InitiatorID)
		return err
	case TypeChangeDocument:
		return tx.UpdateDocument(ctx, cid, num(p, "document"), str(p, "title"), str(p, "body"), a.InitiatorID)
	case TypeRemoveDocument:
		return tx.SetDocumentDeleted(ctx, cid, num(p, "document"), true)
	case TypeConnect:
		// Approved: its events are governed from now on; the set_up_connection effect
		// (connectionEffect) has the platform finish the set-up and mark it connected.
		conn, err := tx.ConnectionOf(ctx, cid, str(p, "platform"))
		if err != nil {
			return err
		}
		return tx.SetConnectionStatus(ctx, conn.ID, models.ConnectionApproved)
	case TypeDisconnect:
		// Its events stop being governed at once; the tear_down_connection effect has the
		// platform end it, and then deletes it with its credentials. Members stay linked to
		// their accounts for a reconnection.
		conn, err := tx.ConnectionOf(ctx, cid, str(p, "platform"))
		if err != nil {
			return err
		}
		return tx.SetConnectionStatus(ctx, conn.ID, models.ConnectionDisconnecting)
	case TypeMergeMembers:
		return tx.MergeMembers(ctx, cid, num(p, "member"), num(p, "duplicate"), now)
	case TypeChangeSettings:
		c, err := tx.CommunityByID(ctx, cid)
		if err != nil {
			return err
		}
		settings := c.ParsedSettings()
		settings.Description = str(p, "description")
		return tx.UpdateCommunitySettings(ctx, cid, str(p, "name"), settings)
	}
	return fmt.Errorf("no way to apply %s: %w", a.Type, errors.ErrUnsupported)
}
