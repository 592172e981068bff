package engine

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"policykit/models"
)

// AuditReport is the result of verifying a community's audit log.
type AuditReport struct {
	Events     int      `json:"events"`
	ChainOK    bool     `json:"chain_ok"`
	BrokenAt   int64    `json:"broken_at,omitempty"` // sequence number of the first bad event
	Decisions  int      `json:"decisions"`           // decided proposals re-tallied
	Mismatches []string `json:"mismatches,omitempty"`
}

// OK tells whether the chain is intact and every re-tally agreed.
func (r *AuditReport) OK() bool { return r.ChainOK && len(r.Mismatches) == 0 }

// decisionRecord is the payload of a proposal.decided event: the inputs of the check stage.
type decisionRecord struct {
	Outcome string           `json:"outcome"`
	Now     time.Time        `json:"now"`
	Data    map[string]any   `json:"data"`
	Votes   []map[string]any `json:"votes"`
	Ballot  *models.Ballot   `json:"ballot"`
	Reads   *communityReads  `json:"reads,omitempty"` // absent when the check read no member list
}

// VerifyAudit recomputes a community's hash chain from the first event, and re-runs the
// check stage of every decided proposal on the inputs recorded with its decision, which must
// give the recorded outcome. Anyone in the community may run it.
func (e *Engine) VerifyAudit(ctx context.Context, communityID int64) (*AuditReport, error) {
	c, err := e.store.CommunityByID(ctx, communityID)
	if err != nil {
		return nil, err
	}
	events, err := e.store.AuditEvents(ctx, communityID, models.AuditFilter{})
	if err != nil {
		return nil, err
	}
	r := &AuditReport{Events: len(events), ChainOK: true}
	prev := ""
	var decided []models.AuditEvent
	for i, ev := range events {
		want := models.AuditHash(prev, ev.Seq, ev.Kind, ev.ProposalID, ev.ActionID, ev.MemberID, ev.Payload, ev.CreatedAt)
		if ev.PrevHash != prev || ev.Hash != want || ev.Seq != int64(i+1) {
			r.ChainOK, r.BrokenAt = false, ev.Seq
			break
		}
		prev = ev.Hash
		if ev.Kind == "proposal.decided" && ev.ProposalID != nil {
			decided = append(decided, ev)
		}
	}
	if r.ChainOK && prev != c.AuditHash {
		r.ChainOK, r.BrokenAt = false, c.AuditSeq
	}
	if err := e.retally(ctx, c, decided, r); err != nil {
		return nil, err
	}
	return r, nil
}

// retally re-runs the recorded decisions, loading their proposals, actions and policy
// versions set-wise.
func (e *Engine) retally(ctx context.Context, c *models.Community, decided []models.AuditEvent, r *AuditReport) error {
	if len(decided) == 0 {
		return nil
	}
	ids := make([]int64, len(decided))
	for i, ev := range decided {
		ids[i] = *ev.ProposalID
	}
	b, err := e.loadBatch(ctx, ids)
	if err != nil {
		return err
	}
	byID := make(map[int64]*models.Proposal, len(b.proposals))
	for i := range b.proposals {
		byID[b.proposals[i].ID] = &b.proposals[i]
	}
	view := newCommunityView(ctx, e.store, c, e.members)
	for _, ev := range decided {
		r.Decisions++
		var rec decisionRecord
		p := byID[*ev.ProposalID]
		if err := json.Unmarshal([]byte(ev.Payload), &rec); err != nil || p == nil {
			r.Mismatches = append(r.Mismatches, fmt.Sprintf("proposal %d: unreadable decision record", *ev.ProposalID))
			continue
		}
		a, v := b.actions[p.ActionID], b.versions[p.PolicyVersionID]
		progs, err := e.programs.get(v)
		if a == nil || v == nil || err != nil {
			r.Mismatches = append(r.Mismatches, fmt.Sprintf("proposal %d: its policy version cannot be loaded", p.ID))
			continue
		}
		replay := *p
		replay.Data, replay.Ballot = rec.Data, rec.Ballot
		var cast []castVote
		for _, v := range rec.Votes {
			cast = append(cast, castVote{member: oneIDSafe(v["member"]), value: v["value"]})
		}
		init := MemberInfo{}
		if a.InitiatorID != nil {
			m := b.members[*a.InitiatorID]
			init = MemberInfo{ID: int(m.ID), Name: m.DisplayName, Roles: m.Roles}
		}
		seen := view
		if rec.Reads != nil {
			seen = recordedView(ctx, e.store, c, rec.Reads)
			init.Roles = rec.Reads.InitiatorRoles
		}
		out, err := newEvaluation(rec.Now, a, &replay, v, seen, init, cast).run(StageCheck, progs.programs[StageCheck])
		if err != nil || out != rec.Outcome {
			r.Mismatches = append(r.Mismatches, fmt.Sprintf("proposal %d: recorded %s, re-tally gives %v (%v)", p.ID, rec.Outcome, out, err))
		}
	}
	return nil
}

func oneIDSafe(v any) int {
	if f, ok := v.(float64); ok {
		return int(f)
	}
	return 0
}
