package engine

import (
	"context"
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

// passAll is a base policy under which every action of a kind passes.
func passAll(kind, name, rule string) models.PolicyFields {
	return models.PolicyFields{Kind: kind, Name: name, Mode: models.ModeEnforce, Active: true, Priority: 1000,
		Description: rule, Rule: rule, ActionTypes: []string{}, Stages: []int64{}}
}

// approvedByRole is a constitution base policy: members of role act at once; anything else
// waits for one of them to approve (yes) or reject (no).
func approvedByRole(role string) models.PolicyFields {
	q := fmt.Sprintf("%q", role)
	rule := fmt.Sprintf("Changes proposed by a %s pass at once. Any other change passes as soon as one %s votes yes, and fails as soon as one votes no.", role, role)
	return models.PolicyFields{
		Kind: models.KindConstitution, Name: role + " approves changes", Mode: models.ModeEnforce, Active: true, Priority: 1000,
		Description: rule, Rule: rule, ActionTypes: []string{}, Stages: []int64{},
		NotifySrc: fmt.Sprintf("start_vote(\"yes_no\", {among: with_role(%s)});\nnotify(with_role(%s), \"A proposed change needs your decision.\")", q, q),
		CheckSrc:  fmt.Sprintf("has_role(action.initiator, %s) ? PASSED\n  : yes(with_role(%s)) >= 1 ? PASSED\n  : no(with_role(%s)) >= 1 ? FAILED\n  : PENDING", q, q, q),
	}
}

// majorityOfMembers is a constitution base policy: a vote of all members, passing with more
// than half of them.
func majorityOfMembers() models.PolicyFields {
	rule := "A change passes when more than half of the members eligible when the vote opened vote yes. It fails as soon as that can no longer happen, and after 7 days."
	return models.PolicyFields{
		Kind: models.KindConstitution, Name: "Majority of members", Mode: models.ModeEnforce, Active: true, Priority: 1000,
		Description: rule, Rule: rule, ActionTypes: []string{}, Stages: []int64{},
		NotifySrc: "start_vote(\"yes_no\")",
		CheckSrc:  "majority({of: \"eligible\", deadline: \"7d\"})",
	}
}

// juryForRenames is the seed paper's example: a random jury of three decides a channel
// rename; two yes votes within two days pass it, otherwise it fails.
func juryForRenames(types []string) models.PolicyFields {
	rule := "Renaming a channel needs 2 yes votes from a jury of 3 members drawn at random when the rename happens. It fails when 2 jurors vote no, or when 2 days pass without 2 yes votes."
	return models.PolicyFields{
		Kind: models.KindPlatform, Name: "Jury for channel renames", Mode: models.ModeEnforce, Active: true, Priority: 100,
		Description: rule, Rule: rule, ActionTypes: types, Stages: []int64{},
		InitSrc:   "set(\"jury\", sample(members(), min(3, len(members()))))",
		NotifySrc: "start_vote(\"yes_no\", {among: get(\"jury\"), dm: true});\nnotify(get(\"jury\"), \"You were drawn for a jury of three. Please deliberate, then vote on this channel rename.\")",
		CheckSrc:  "threshold(2, {among: get(\"jury\"), deadline: \"48h\"})",
	}
}

// Kits lists the starter kits, with the jury kit covering every rename type the registered
// platforms offer.
func (e *Engine) Kits() []Kit {
	platformPass := passAll(models.KindPlatform, "Platform actions pass", "Every action on a connected platform stands.")
	var renames []string
	for _, t := range e.types.sorted() {
		if strings.HasSuffix(t.Name, ".rename_channel") {
			renames = append(renames, t.Name)
		}
	}
	jury := Kit{Name: KitJury, Label: "Jury",
		Description: "Renaming a channel goes to a random jury of three (2 yes within 2 days); other changes need a majority of members.",
		Policies:    []models.PolicyFields{platformPass, majorityOfMembers()}}
	if len(renames) > 0 {
		jury.Policies = append(jury.Policies, juryForRenames(renames))
	}
	return []Kit{
		{Name: KitEverythingPasses, Label: "Everything passes",
			Description: "Every action and every change passes at once — for trying PolicyKit out.",
			Policies: []models.PolicyFields{platformPass,
				passAll(models.KindConstitution, "Constitution changes pass", "Every change to governance passes at once.")}},
		{Name: KitDictator, Label: "Benevolent dictator", CreatorRole: "Dictator",
			Description: "You are the dictator: your changes pass at once and you approve or reject everyone else's.",
			Roles:       []models.Role{{Name: "Dictator", Description: "Decides on every change to governance."}},
			Policies:    []models.PolicyFields{platformPass, approvedByRole("Dictator")}},
		{Name: KitModerators, Label: "Moderators", CreatorRole: "Moderator",
			Description: "Moderators' changes pass at once; anyone else's change needs one moderator's approval.",
			Roles:       []models.Role{{Name: "Moderator", Description: "Approves or rejects changes to governance."}},
			Policies:    []models.PolicyFields{platformPass, approvedByRole("Moderator")}},
		{Name: KitDemocracy, Label: "Democracy",
			Description: "Changes to the rules need a majority of all members; everyday platform actions pass.",
			Policies:    []models.PolicyFields{platformPass, majorityOfMembers()}},
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
