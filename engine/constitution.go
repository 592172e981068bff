package engine

import (
	"context"
	"errors"
	"fmt"
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

func constitutionTypes() []ActionType {
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
		Help: `a list of {"action_type": "slack.*", "propose": true, "execute": false}`}
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
		{Name: TypeAddPolicy, Label: "Add a policy", Platform: c, Params: add, Summary: named("Add the policy", "name")},
		{Name: TypeChangePolicy, Label: "Change a policy", Platform: c, Params: change, Summary: named("Change the policy", "name")},
		{Name: TypeRemovePolicy, Label: "Remove a policy", Platform: c, Params: []Param{policy}},
		{Name: TypeRecoverPolicy, Label: "Recover a removed policy", Platform: c, Params: []Param{policy}},
		{Name: TypeReorderPolicy, Label: "Change a policy's priority", Platform: c,
			Params: []Param{policy, {Name: "priority", Label: "New priority", Type: ParamInt, Required: true}}},
		{Name: TypeAddRole, Label: "Add a role", Platform: c, Params: []Param{roleName, roleDesc, perms}, Summary: named("Add the role", "name")},
		{Name: TypeEditRole, Label: "Edit a role", Platform: c, Params: []Param{role, roleName, roleDesc, perms}, Summary: named("Edit the role", "name")},
		{Name: TypeDeleteRole, Label: "Delete a role", Platform: c, Params: []Param{role}},
		{Name: TypeGrantRole, Label: "Give a member a role", Platform: c, Params: []Param{role, member}},
		{Name: TypeRevokeRole, Label: "Take a role from a member", Platform: c, Params: []Param{role, member}},
		{Name: TypeAddDocument, Label: "Add a document", Platform: c, Params: []Param{title, body}, Summary: named("Add the document", "title")},
		{Name: TypeChangeDocument, Label: "Change a document", Platform: c, Params: []Param{doc, title, body}, Summary: named("Change the document", "title")},
		{Name: TypeRemoveDocument, Label: "Remove a document", Platform: c, Params: []Param{doc}},
		{Name: TypeChangeSettings, Label: "Change the community's settings", Platform: c, Params: []Param{
			{Name: "name", Label: "Community name", Type: ParamString, Max: 80, Required: true},
			{Name: "description", Label: "Description", Type: ParamText, Max: 2000}}},
		{Name: TypeConnect, Label: "Connect a platform", Platform: c, Params: []Param{
			{Name: "platform", Label: "Platform", Type: ParamString, Max: 40, Required: true, Help: "slack"}},
			Summary: named("Connect", "platform")},
		{Name: TypeDisconnect, Label: "Disconnect a platform", Platform: c, Params: []Param{
			{Name: "platform", Label: "Platform", Type: ParamString, Max: 40, Required: true, Help: "slack"}},
			Summary: named("Disconnect", "platform")},
		{Name: TypeElection, Label: "Hold an election between actions", Platform: c, Params: []Param{
			{Name: "title", Label: "Question", Type: ParamString, Max: 200, Required: true},
			{Name: "candidates", Label: "Candidates", Type: ParamCandidates, Required: true,
				Help: `a list of {"label": "...", "type": "constitution.add_document", "params": {...}}; the winner is carried out`}},
			Summary: named("Election:", "title")},
	}
}

// validateConstitution checks what types alone cannot: ids belong to the community, names
// are free, policy code compiles. It runs when the action is proposed, so a proposal that
// could never be applied is refused at once.
func (e *Engine) validateConstitution(ctx context.Context, tx *models.Store, communityID int64, typ string, p map[string]any) error {
	if id := num(p, "policy"); id != 0 {
		if _, err := tx.PolicyByID(ctx, communityID, id); err != nil {
			return err
		}
	}
	if id := num(p, "role"); id != 0 {
		r, err := tx.RoleByID(ctx, communityID, id)
		if err != nil {
			return err
		}
		if r.IsBase && (typ == TypeDeleteRole || typ == TypeRevokeRole || typ == TypeGrantRole) {
			return models.Invalid("role", "every member holds the base role; it cannot be deleted, given or taken")
		}
	}
	if id := num(p, "member"); id != 0 {
		if _, err := tx.MemberByID(ctx, communityID, id); err != nil {
			return err
		}
	}
	if id := num(p, "document"); id != 0 {
		if _, err := tx.DocumentByID(ctx, communityID, id); err != nil {
			return err
		}
	}
	switch typ {
	case TypeAddPolicy, TypeChangePolicy:
		return e.validatePolicy(ctx, tx, communityID, p)
	case TypeAddRole, TypeEditRole:
		_, err := e.permissions(p)
		return err
	case TypeAddDocument, TypeChangeDocument:
		return models.CheckDocument(str(p, "title"), str(p, "body"))
	case TypeConnect:
		conn, err := tx.ConnectionOf(ctx, communityID, str(p, "platform"))
		if errors.Is(err, models.ErrNotFound) || (err == nil && conn.Status != models.ConnectionAwaiting) {
			return models.Invalid("platform", fmt.Sprintf("no %q connection is awaiting approval; install it from the platform's page first", str(p, "platform")))
		}
		return err
	case TypeDisconnect:
		if _, err := tx.ConnectionOf(ctx, communityID, str(p, "platform")); errors.Is(err, models.ErrNotFound) {
			return models.Invalid("platform", fmt.Sprintf("%q is not connected to this community", str(p, "platform")))
		} else if err != nil {
			return err
		}
		return nil
	case TypeElection:
		return e.validateElection(ctx, tx, communityID, p)
	}
	return nil
}

func (e *Engine) validatePolicy(ctx context.Context, tx *models.Store, communityID int64, p map[string]any) error {
	fields, err := e.policyFields(ctx, tx, communityID, p)
	if err != nil {
		return err
	}
	v := &models.ValidationError{}
	if strings.TrimSpace(fields.Name) == "" {
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
	for _, id := range fields.Stages {
		if _, err := tx.PolicyByID(ctx, communityID, id); err != nil {
			v.Add("stages", fmt.Sprintf("policy %d is not a policy of this community", id))
		}
	}
	if err := CheckPolicy(SourcesOf(fields)); err != nil {
		for stage, msg := range models.FieldErrors(err) {
			v.Add(stage, msg)
		}
	}
	checkStagePolicies(p, v)
	return v.OrNil()
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

func (e *Engine) validateElection(ctx context.Context, tx *models.Store, communityID int64, p map[string]any) error {
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
		if _, _, err := e.candidateAction(ctx, tx, communityID, c); err != nil {
			return fmt.Errorf("candidate %q: %w", label, err)
		}
	}
	return nil
}

// candidateAction checks one election candidate and returns its type and parameters.
func (e *Engine) candidateAction(ctx context.Context, tx *models.Store, communityID int64, c map[string]any) (ActionType, map[string]any, error) {
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
	if typ.Platform == ConstitutionPlatform {
		err = e.validateConstitution(ctx, tx, communityID, typ.Name, params)
	}
	return typ, params, err
}

// carryOutElection carries out the winning candidate of an election as its own action. A
// winner that cannot be carried out (its parameters no longer hold) fails the election with
// the reason; a database error is returned, never taken for "no winner".
func (t *txn) carryOutElection(a *models.Action, payload map[string]any) error {
	winner, _ := payload["candidate"].(string)
	for _, c := range candidateList(a.Params) {
		if label, _ := c["label"].(string); label != winner || winner == "" {
			continue
		}
		typ, params, err := t.e.candidateAction(t.ctx, t.tx, t.community.ID, c)
		if err != nil {
			if !models.IsDomainError(err) {
				return fmt.Errorf("election winner %q: %w", winner, err)
			}
			a.Status = models.StatusFailed
			a.Note = fmt.Sprintf("the winner %q cannot be carried out: %v", winner, err)
			return nil
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
		a.Status = models.StatusExecuted
		return nil
	}
	a.Status = models.StatusFailed
	a.Note = fmt.Sprintf("the election has no winner to carry out (%q)", winner)
	return nil
}

// applyConstitution carries out a passed constitution action in the deciding transaction.
// Parameters are normalised again: stored JSON turns numbers into floats.
func (e *Engine) applyConstitution(ctx context.Context, tx *models.Store, a *models.Action, now time.Time) error {
	typ, err := e.types.lookup(a.Type)
	if err != nil {
		return err
	}
	p, err := typ.normalize(a.Params)
	if err != nil {
		return err
	}
	if err := e.validateConstitution(ctx, tx, a.CommunityID, a.Type, p); err != nil {
		return err
	}
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
		// Approved: the platform's integration finishes the set-up and marks it connected.
		conn, err := tx.ConnectionOf(ctx, cid, str(p, "platform"))
		if errors.Is(err, models.ErrNotFound) {
			return nil // disconnected meanwhile
		}
		if err != nil || conn.Status != models.ConnectionAwaiting {
			return err
		}
		return tx.SetConnectionStatus(ctx, conn.ID, models.ConnectionApproved)
	case TypeDisconnect:
		// Its tokens go with it; members stay linked to their accounts for a reconnection.
		conn, err := tx.ConnectionOf(ctx, cid, str(p, "platform"))
		if errors.Is(err, models.ErrNotFound) {
			return nil // disconnected meanwhile (uninstalled on the platform's side)
		}
		if err != nil {
			return err
		}
		return tx.DeleteConnection(ctx, cid, conn.ID)
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
