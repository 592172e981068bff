package engine

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"

	"policykit/models"
)

// Pre-flight: an action is checked against the community's current state when it is
// proposed (Submit), so a proposal that could never be carried out is refused with a
// message per field and nothing written; and checked again when it is carried out, since
// the world may have changed during the vote (then its outcome is "approved, but could not
// be carried out", models.StatusNotCarriedOut). Each rule lives in one place:
//   - a platform action needs its platform connected: preflight;
//   - what a parameter's type implies (a member must be a current member, a role one of the
//     community's roles, a channel one the platform knows): checkReferences;
//   - what only the action type knows (a name that must be free, a change that must change
//     something): the type's ActionType.Check.

// CheckFunc validates an action's normalised parameters against the community's current
// state, beyond what checkReferences already checked. It returns a *models.ValidationError
// whose messages read on their own ("a role named “Everyone” already exists"): they are shown
// next to the field and, if the check fails when the action is carried out, as the reason.
type CheckFunc func(ctx context.Context, s *State, p map[string]any) error

// State is what a pre-flight check reads: the community as it is now, in the transaction
// that proposes or carries out the action.
type State struct {
	Store     *models.Store // the governing transaction
	Community *models.Community
	// Connection is the platform's connection to the community (platform actions only).
	Connection *models.PlatformConnection
	// Origin is where the action came from. An action that happened on its platform
	// (models.OriginPlatform) is a fact: its channel exists, and what PolicyKit knows of the
	// platform's state may already show it (a rename already renamed) or not yet show our
	// revert, so checks comparing with that state apply only to proposed actions.
	Origin string
	e      *Engine
}

// Proposed tells whether the action was proposed on the website or the API rather than
// governed after it happened on its platform.
func (s *State) Proposed() bool { return s.Origin != models.OriginPlatform }

// Policies lists the community's active policies of a kind that would be considered for an
// action type, in priority order (a pre-flight check may refuse an action no policy can
// decide, such as an election when no policy opens a choice ballot).
func (s *State) Policies(ctx context.Context, kind, actionType string) ([]models.PolicyVersion, error) {
	vs, err := s.e.policyVersions.get(ctx, s.Store, s.Community, kind)
	if err != nil {
		return nil, err
	}
	out := make([]models.PolicyVersion, 0, len(vs))
	for _, v := range vs {
		if v.Covers(actionType) {
			out = append(out, v)
		}
	}
	return out, nil
}

// preflight runs every check of an action type on normalised parameters. proposing is
// true when the action is submitted, false when it is carried out. An action that happened
// on its platform arrives through that platform's connection, which its integration chose
// to govern, so the connection is not looked up then (a message posted costs no query).
func (e *Engine) preflight(ctx context.Context, tx *models.Store, c *models.Community, typ ActionType, p map[string]any, origin string, proposing bool) error {
	s := &State{Store: tx, Community: c, Origin: origin, e: e}
	if typ.Platform != ConstitutionPlatform && (origin != models.OriginPlatform || !proposing) {
		conn, err := tx.ConnectionOf(ctx, c.ID, typ.Platform)
		// Approved is connected, its set-up (listing members and channels) under way.
		if errors.Is(err, models.ErrNotFound) || (err == nil && conn.Status != models.ConnectionConnected && conn.Status != models.ConnectionApproved) {
			return models.Invalid("type", fmt.Sprintf("%s is not connected to this community, so “%s” cannot be carried out",
				PlatformLabel(typ.Platform), typ.Label))
		}
		if err != nil {
			return err
		}
		s.Connection = conn
	}
	if err := s.checkReferences(ctx, typ, p); err != nil {
		return err
	}
	if typ.Check != nil {
		return typ.Check(ctx, s, p)
	}
	return nil
}

// checkReferences checks what parameter types imply: ids name live things of this community.
func (s *State) checkReferences(ctx context.Context, typ ActionType, p map[string]any) error {
	v := &models.ValidationError{}
	cid := s.Community.ID
	for _, par := range typ.Params {
		raw, ok := p[par.Name]
		if !ok {
			continue
		}
		id, _ := raw.(int64)
		var err error
		var msg string
		switch par.Type {
		case ParamMember:
			var m *models.Member
			if m, err = s.Store.MemberByID(ctx, cid, id); err == nil && m.LeftAt != nil {
				err = models.ErrNotFound
			}
			msg = "this member is not (or no longer) a member of the community"
		case ParamRole:
			_, err = s.Store.RoleByID(ctx, cid, id)
			msg = "this role does not exist (any more)"
		case ParamPolicy:
			_, err = s.Store.PolicyByID(ctx, cid, id)
			msg = "this policy does not exist"
		case ParamDocument:
			_, err = s.Store.DocumentByID(ctx, cid, id)
			msg = "this document does not exist (any more)"
		case ParamIDs:
			for _, pid := range raw.([]int64) {
				if _, err = s.Store.PolicyByID(ctx, cid, pid); err != nil {
					msg = fmt.Sprintf("policy #%d is not a policy of this community", pid)
					break
				}
			}
		case ParamChannel:
			if s.Connection == nil || !s.Proposed() {
				continue // it happened in that channel, which therefore exists
			}
			ch, _ := raw.(string)
			_, err = s.Store.ChannelByID(ctx, s.Connection.ID, ch)
			msg = fmt.Sprintf("%s has no channel %q that PolicyKit can see (invite PolicyKit to it first)", PlatformLabel(typ.Platform), ch)
		}
		if errors.Is(err, models.ErrNotFound) {
			v.Add(par.Name, msg)
		} else if err != nil {
			return err
		}
	}
	return v.OrNil()
}

// Reason turns a pre-flight or carrying-out error into the words shown after "could not be
// carried out: ".
func Reason(err error) string {
	fields := models.FieldErrors(err)
	if fields == nil {
		return err.Error()
	}
	keys := make([]string, 0, len(fields))
	for k := range fields {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	msgs := make([]string, len(keys))
	for i, k := range keys {
		msgs[i] = fields[k]
	}
	return strings.Join(msgs, "; ")
}

// PlatformLabel is a platform's name for people ("slack" → "Slack").
func PlatformLabel(name string) string {
	if name == "" {
		return name
	}
	return strings.ToUpper(name[:1]) + name[1:]
}

// ConnectedPlatforms tells which platforms are connected to a community (their actions can
// be proposed and carried out).
func (e *Engine) ConnectedPlatforms(ctx context.Context, communityID int64) (map[string]bool, error) {
	cs, err := e.store.Connections(ctx, communityID)
	if err != nil {
		return nil, err
	}
	out := map[string]bool{}
	for _, c := range cs {
		if c.Status == models.ConnectionConnected {
			out[c.Platform] = true
		}
	}
	return out, nil
}

// noChange is the refusal of a change that changes nothing.
func noChange(field, what string) error {
	return models.Invalid(field, "no change: "+what)
}

// checkAgain runs an approved action's pre-flight once more, before carrying it out, and
// returns its normalised parameters (stored JSON turns numbers into floats).
func (e *Engine) checkAgain(ctx context.Context, tx *models.Store, c *models.Community, a *models.Action) (map[string]any, error) {
	typ, err := e.types.lookup(a.Type)
	if err != nil {
		return nil, err
	}
	p, err := typ.normalize(a.Params)
	if err != nil {
		return nil, err
	}
	return p, e.preflight(ctx, tx, c, typ, p, a.Origin, false)
}

// notCarriedOut records that an approved action could not be carried out, and why. An
// error that is not an answer about the action (the database failed) is returned instead:
// then nothing is decided.
func (t *txn) notCarriedOut(a *models.Action, err error) error {
	if !models.IsDomainError(err) {
		return fmt.Errorf("carry out %s: %w", a.Type, err)
	}
	t.recordNotCarriedOut(a, err)
	return nil
}

// recordNotCarriedOut records the outcome whatever the error (a platform's refusal).
func (t *txn) recordNotCarriedOut(a *models.Action, err error) {
	a.Status = models.StatusNotCarriedOut
	a.Note = Reason(err)
	t.event("action.not_carried_out", nil, a, nil, map[string]any{"reason": a.Note})
}
