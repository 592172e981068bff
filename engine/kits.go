package engine

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"

	"policykit/models"
)

// A starter kit is the first governance of a new community: its roles and base policies.
// A community always gets a platform and a constitution base policy, so nothing is ever
// ungoverned.
type Kit struct {
	Name  string
	Label string
	// Description is what the kit promises, sentence by sentence (its Promises' Says).
	Description string
	Promises    []Promise
	// CreatorRole is given to the community's creator ("" for none).
	CreatorRole string
	Roles       []models.Role
	Policies    []models.PolicyFields
}

// A Promise is one sentence of a kit's description with what it means, so that tests hold
// every kit to its word (engine/kits_test.go proposes an action of each promise and checks
// it is decided as said, on a web-only community and on one with a platform connected).
type Promise struct {
	Says string
	Kind string // the policies that keep it: models.KindConstitution or KindPlatform
	// Types are the action types it is about; none: every other action of its kind.
	Types []string
	// Decides is how they are decided: DecidedAtOnce, DecidedByRole (Role's yes or no;
	// Role's own pass at once), DecidedByMajority (of all members) or DecidedByJury.
	Decides string
	Role    string
	// JurySize and JuryYes: a jury of JurySize drawn from all members; JuryYes yes votes pass it.
	JurySize, JuryYes int
}

// How promises are decided.
const (
	DecidedAtOnce     = "at once"
	DecidedByRole     = "by a role"
	DecidedByMajority = "by a majority of members"
	DecidedByJury     = "by a jury"
)

func kit(name, label, creatorRole string, roles []models.Role, policies []models.PolicyFields, promises ...Promise) Kit {
	says := make([]string, len(promises))
	for i, p := range promises {
		says[i] = p.Says
	}
	return Kit{Name: name, Label: label, Description: strings.Join(says, " "), Promises: promises,
		CreatorRole: creatorRole, Roles: roles, Policies: policies}
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

// withActionTypes sets the action types of a kit policy, in its fields and its blocks, and
// says them in its rule.
func (e *Engine) withActionTypes(f models.PolicyFields, types []string) models.PolicyFields {
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
	labels := make([]string, len(types))
	for i, t := range types {
		labels[i] = e.types.types[t].Label
	}
	f.Rule = RuleCovering(f.Kind, labels, f.Rule)
	f.Description = f.Rule
	return f
}

// Kits lists the starter kits. What they say of platforms depends on the platforms this
// server runs with: none, and they say nothing of them; with some, they say what happens
// once one is connected (the platform policies are installed at once and govern as soon as
// it is). The jury kit's channel jury covers every rename type the platforms offer.
func (e *Engine) Kits() []Kit {
	platformPass := kitPolicy("Platform actions pass")
	var renames, platforms []string
	for _, t := range e.types.sorted() {
		if t.Platform == ConstitutionPlatform {
			continue
		}
		if !slices.Contains(platforms, PlatformLabel(t.Platform)) {
			platforms = append(platforms, PlatformLabel(t.Platform))
		}
		if strings.HasSuffix(t.Name, ".rename_channel") {
			renames = append(renames, t.Name)
		}
	}
	once := "Once " + joinOr(platforms) + " is connected"
	var platformPasses []Promise
	if len(platforms) > 0 {
		platformPasses = []Promise{{Says: once + ", everyday actions there pass at once.", Kind: models.KindPlatform, Decides: DecidedAtOnce}}
	}
	majority := Promise{Says: "Every change to governance (policies, roles, documents, settings) needs more than half of all members to vote yes, within 7 days.",
		Kind: models.KindConstitution, Decides: DecidedByMajority}
	approvedBy := func(role, article string) Promise {
		return Promise{Kind: models.KindConstitution, Decides: DecidedByRole, Role: role,
			Says: fmt.Sprintf("You are %s %s: changes to governance by a member with the role “%s” pass at once; anyone else's waits until one of them approves or rejects it.",
				article, strings.ToLower(role), role)}
	}

	docJury := kitPolicy("Jury for documents")
	jury := []Promise{
		{Says: "Adding, changing or removing a document goes to a random jury of three members: 2 yes votes within 2 days pass it (while the community has fewer than three members, they are the jury, and all must say yes).",
			Kind: models.KindConstitution, Types: docJury.ActionTypes, Decides: DecidedByJury, JurySize: 3, JuryYes: 2},
		{Says: "Every other change to governance needs more than half of all members to vote yes, within 7 days.",
			Kind: models.KindConstitution, Decides: DecidedByMajority},
	}
	juryPolicies := []models.PolicyFields{platformPass, kitPolicy("Majority of members"), docJury}
	if len(renames) > 0 {
		juryPolicies = append(juryPolicies, e.withActionTypes(kitPolicy("Jury for channel renames"), renames))
		jury = append(jury,
			Promise{Says: once + ", renaming a channel there goes to a jury of three the same way.",
				Kind: models.KindPlatform, Types: renames, Decides: DecidedByJury, JurySize: 3, JuryYes: 2},
			Promise{Says: "Other actions there pass at once.", Kind: models.KindPlatform, Decides: DecidedAtOnce})
	} else {
		jury = append(jury, platformPasses...)
	}
	return []Kit{
		kit(KitEverythingPasses, "Everything passes", "", nil,
			[]models.PolicyFields{platformPass, kitPolicy("Constitution changes pass")},
			append([]Promise{{Says: "Every change to governance passes at once, without a vote — for trying PolicyKit out.",
				Kind: models.KindConstitution, Decides: DecidedAtOnce}}, platformPasses...)...),
		kit(KitDictator, "Benevolent dictator", "Dictator",
			[]models.Role{{Name: "Dictator", Description: "Decides on every change to governance."}},
			[]models.PolicyFields{platformPass, kitPolicy("Dictator approves changes")},
			append([]Promise{approvedBy("Dictator", "the")}, platformPasses...)...),
		kit(KitModerators, "Moderators", "Moderator",
			[]models.Role{{Name: "Moderator", Description: "Approves or rejects changes to governance."}},
			[]models.PolicyFields{platformPass, kitPolicy("Moderator approves changes")},
			append([]Promise{approvedBy("Moderator", "the first")}, platformPasses...)...),
		kit(KitDemocracy, "Democracy", "", nil,
			[]models.PolicyFields{platformPass, kitPolicy("Majority of members")},
			append([]Promise{majority}, platformPasses...)...),
		kit(KitJury, "Jury", "", nil, juryPolicies, jury...),
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
