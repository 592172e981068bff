package engine

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"

	"policykit/models"
)

// A starter kit is the first governance of a new community: its roles and base policies.
// A community always gets a platform and a constitution base policy, so nothing is ever
// ungoverned.
type Kit struct {
	Name        string
	Label       string
	Description string // one sentence, shown when choosing
	// CreatorRole is given to the community's creator ("" for none).
	CreatorRole string
	Roles       []models.Role
	Policies    []models.PolicyFields
}

// Kit names.
const (
	KitEverythingPasses = "everything_passes"
	KitDictator         = "benevolent_dictator"
	KitModerators       = "moderators"
	KitDemocracy        = "democracy"
	KitJury             = "jury"
)

// The kit policies are block programs (engine/blocks/kits.go) compiled into kitPolicy by
// go generate, so the builder can open and edit them like any policy built from blocks.
//go:generate go run ./blocks/internal/genkits

// withActionTypes sets the action types of a kit policy, in its fields and its blocks.
func withActionTypes(f models.PolicyFields, types []string) models.PolicyFields {
	f.ActionTypes = types
	var prog map[string]any
	if err := json.Unmarshal([]byte(f.Blocks), &prog); err != nil {
		panic(fmt.Sprintf("engine: kit policy %q has broken blocks: %v", f.Name, err)) // generated code
	}
	when, _ := prog["when"].(map[string]any)
	if when == nil {
		when = map[string]any{}
	}
	when["action_types"] = types
	prog["when"] = when
	raw, _ := json.Marshal(prog)
	f.Blocks = string(raw)
	return f
}

// Kits lists the starter kits, with the jury kit covering every rename type the registered
// platforms offer.
func (e *Engine) Kits() []Kit {
	platformPass := kitPolicy("Platform actions pass")
	var renames []string
	for _, t := range e.types.sorted() {
		if strings.HasSuffix(t.Name, ".rename_channel") {
			renames = append(renames, t.Name)
		}
	}
	jury := Kit{Name: KitJury, Label: "Jury",
		Description: "Renaming a channel goes to a random jury of three (2 yes within 2 days); other changes need a majority of members.",
		Policies:    []models.PolicyFields{platformPass, kitPolicy("Majority of members")}}
	if len(renames) > 0 {
		jury.Policies = append(jury.Policies, withActionTypes(kitPolicy("Jury for channel renames"), renames))
	}
	return []Kit{
		{Name: KitEverythingPasses, Label: "Everything passes",
			Description: "Every action and every change passes at once — for trying PolicyKit out.",
			Policies:    []models.PolicyFields{platformPass, kitPolicy("Constitution changes pass")}},
		{Name: KitDictator, Label: "Benevolent dictator", CreatorRole: "Dictator",
			Description: "You are the dictator: your changes pass at once and you approve or reject everyone else's.",
			Roles:       []models.Role{{Name: "Dictator", Description: "Decides on every change to governance."}},
			Policies:    []models.PolicyFields{platformPass, kitPolicy("Dictator approves changes")}},
		{Name: KitModerators, Label: "Moderators", CreatorRole: "Moderator",
			Description: "Moderators' changes pass at once; anyone else's change needs one moderator's approval.",
			Roles:       []models.Role{{Name: "Moderator", Description: "Approves or rejects changes to governance."}},
			Policies:    []models.PolicyFields{platformPass, kitPolicy("Moderator approves changes")}},
		{Name: KitDemocracy, Label: "Democracy",
			Description: "Changes to the rules need a majority of all members; everyday platform actions pass.",
			Policies:    []models.PolicyFields{platformPass, kitPolicy("Majority of members")}},
		jury,
	}
}

// KitByName finds a starter kit.
func (e *Engine) KitByName(name string) (Kit, error) {
	for _, k := range e.Kits() {
		if k.Name == name {
			return k, nil
		}
	}
	return Kit{}, models.Invalid("starter_kit", fmt.Sprintf("unknown starter kit %q", name))
}

// CreateCommunity creates a community with its creator as first member and installs a
// starter kit, all in one transaction. Installing a kit is the one change to governance
// that is not itself governed: before it there are no rules to decide it.
func (e *Engine) CreateCommunity(ctx context.Context, in models.NewCommunity, creator *models.Account, kitName string) (*models.Community, *models.Member, error) {
	kit, err := e.KitByName(kitName)
	if err != nil {
		return nil, nil, err
	}
	var c *models.Community
	var m *models.Member
	err = e.withTx(ctx, func(tx *models.Store) (bool, error) {
		var err error
		if c, m, err = tx.CreateCommunity(ctx, in, creator); err != nil {
			return false, err
		}
		return false, e.installKit(ctx, tx, c, m, kit)
	})
	if err != nil {
		return nil, nil, err
	}
	return c, m, nil
}

func (e *Engine) installKit(ctx context.Context, tx *models.Store, c *models.Community, creator *models.Member, kit Kit) error {
	base, err := tx.BaseRole(ctx, c.ID)
	if err != nil {
		return err
	}
	// Every member may propose anything; the policies decide.
	if err := tx.UpdateRole(ctx, base, []models.RolePermission{{ActionType: "*", Propose: true}}); err != nil {
		return err
	}
	for _, r := range kit.Roles {
		role := r
		role.CommunityID = c.ID
		if err := tx.CreateRole(ctx, &role, []models.RolePermission{{ActionType: "*", Propose: true}}); err != nil {
			return err
		}
		if role.Name == kit.CreatorRole {
			if err := tx.GrantRole(ctx, c.ID, creator.ID, role.ID); err != nil {
				return err
			}
		}
	}
	for _, f := range kit.Policies {
		if err := CheckPolicy(SourcesOf(&f)); err != nil {
			return fmt.Errorf("starter kit %s, policy %q: %w", kit.Name, f.Name, err)
		}
		if err := tx.SavePolicy(ctx, &models.Policy{CommunityID: c.ID, PolicyFields: f}, nil); err != nil {
			return err
		}
	}
	return tx.AppendAudit(ctx, c.ID, e.Now(), models.NewAuditEvent{Kind: "kit.installed", MemberID: &creator.ID,
		Payload: map[string]any{"kit": kit.Name}})
}
