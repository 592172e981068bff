package blocks

import (
	"fmt"

	"policykit/models"
)

// CommunityFacts is what Validate needs to know about a community.
type CommunityFacts struct {
	Members int            // current members
	Roles   map[string]int // role name → how many current members hold it
	// Named holds the members the program names by id (MemberIDs), id → display name; an id
	// missing here is not a member.
	Named map[int64]string
	// ActionTypes maps every known action type to its policy kind; nil skips the check.
	ActionTypes map[string]string
}

// MemberIDs lists the member ids a program names, for the caller to look up.
func (p *Program) MemberIDs() []int64 {
	var ids []int64
	for _, d := range p.decisions() {
		if d.Deciders != nil && d.Deciders.Who == ByMember {
			ids = append(ids, d.Deciders.Member)
		}
	}
	for _, s := range append(append([]Step(nil), p.OnPass...), p.OnFail...) {
		if s.Member != 0 {
			ids = append(ids, s.Member)
		}
	}
	return ids
}

// Validate checks a program against a community: everything Check refuses, plus roles that
// do not exist, deciders nobody could be, numbers of votes more than the deciders could cast
// (a jury bigger than its pool is all of it), unknown members and action types. It returns a
// *models.ValidationError with a message per field, or nil.
func Validate(p *Program, f CommunityFacts) error {
	if err := p.Check(); err != nil {
		return err
	}
	v := &models.ValidationError{}
	role := func(field, name string) {
		if name == "" {
			return
		}
		if _, ok := f.Roles[name]; !ok {
			v.Add(field, fmt.Sprintf("there is no role named %s", quoted(name)))
		}
	}
	if w := p.When; w != nil {
		role("when.initiator_has_role", w.InitiatorHasRole)
		role("when.initiator_lacks_role", w.InitiatorLacksRole)
		if f.ActionTypes != nil {
			for _, t := range w.ActionTypes {
				if kind, ok := f.ActionTypes[t]; !ok {
					v.Add("when.action_types", fmt.Sprintf("unknown action type %s", t))
				} else if kind != p.kind() {
					v.Add("when.action_types", fmt.Sprintf("%s is not a %s action", t, p.kind()))
				}
			}
		}
	}
	if p.Skip != nil {
		for _, r := range p.Skip.Roles {
			role("skip.roles", r)
		}
	}
	for i, d := range p.decisions() {
		prefix := ""
		if i > 0 {
			prefix = fmt.Sprintf("stages[%d].", i-1)
		}
		validateDecision(v, f, prefix, d, role)
	}
	for _, list := range []struct {
		field string
		steps []Step
	}{{"on_pass", p.OnPass}, {"on_fail", p.OnFail}} {
		for i, s := range list.steps {
			field := fmt.Sprintf("%s[%d]", list.field, i)
			role(field+".role", s.Role)
			if s.Member != 0 {
				if _, ok := f.Named[s.Member]; !ok {
					v.Add(field+".member", fmt.Sprintf("member #%d is not a member of this community", s.Member))
				}
			}
		}
	}
	return v.OrNil()
}

// validateDecision checks one stage's deciders, and its numbers against how many could vote.
func validateDecision(v *models.ValidationError, f CommunityFacts, prefix string, d Decision, role func(field, name string)) {
	if d.How == nil {
		return
	}
	dc := d.Deciders
	known := func(name string) bool {
		_, ok := f.Roles[name]
		role(prefix+"deciders.role", name)
		return ok
	}
	has := func(who string, n int) string {
		return fmt.Sprintf("%s has only %s", who, plural(n, "member", "members"))
	}
	var pool int
	var limit string // why no more than pool can vote
	switch dc.Who {
	case Everyone:
		pool, limit = f.Members, has("the community", f.Members)
	case ByRole:
		if !known(dc.Role) {
			return
		}
		pool, limit = f.Roles[dc.Role], has("the role "+quoted(dc.Role), f.Roles[dc.Role])
		if pool == 0 {
			v.Add(prefix+"deciders.role", fmt.Sprintf("nobody has the role %s, so nobody could vote", quoted(dc.Role)))
			return
		}
	case ByJury:
		from, fromLimit := f.Members, has("the community", f.Members)
		if dc.Role != "" {
			if !known(dc.Role) {
				return
			}
			from, fromLimit = f.Roles[dc.Role], has("the role "+quoted(dc.Role), f.Roles[dc.Role])
			if from == 0 {
				v.Add(prefix+"deciders.role", fmt.Sprintf("nobody has the role %s, so no jury can be drawn", quoted(dc.Role)))
				return
			}
		}
		// A jury bigger than its pool is all of the pool, as the rule says ("all of them if
		// there are fewer"): communities grow, and the policy keeps working until they do.
		pool = min(dc.Size, from)
		limit = has("the jury", pool)
		if dc.Size > from {
			limit = fromLimit
		}
	case ByMember:
		if _, ok := f.Named[dc.Member]; !ok {
			v.Add(prefix+"deciders.member", fmt.Sprintf("member #%d is not a member of this community", dc.Member))
			return
		}
		pool, limit = 1, "only one member decides"
	}
	tooMany := func(field string, n int, what string) {
		if n > pool {
			v.Add(prefix+field, fmt.Sprintf("%s, so %s can never happen", limit, what))
		}
	}
	h := d.How
	switch h.Method {
	case Threshold:
		if dc.Who == ByJury {
			// A jury drawn smaller than the threshold needs every juror's yes (compile.go).
			if h.Yes > dc.Size {
				v.Add(prefix+"how.yes", fmt.Sprintf("the jury has only %s, so %s can never happen", plural(dc.Size, "member", "members"), plural(h.Yes, "yes vote", "yes votes")))
			}
		} else {
			tooMany("how.yes", h.Yes, plural(h.Yes, "yes vote", "yes votes"))
		}
		tooMany("how.fail_at_no", h.FailAtNo, plural(h.FailAtNo, "no vote", "no votes"))
	case Consensus:
		tooMany("how.min_agree", h.MinAgree, plural(h.MinAgree, "agreement", "agreements"))
	case LazyConsensus:
		tooMany("how.objections", h.Objections, plural(h.Objections, "objection", "objections")+" (it would always pass)")
	}
	if q := d.Quorum; q != nil && q.Votes > 0 {
		tooMany("quorum.votes", q.Votes, "a quorum of "+plural(q.Votes, "ballot", "ballots"))
	}
}
