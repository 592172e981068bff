package models

import (
	jsonv2 "github.com/go-json-experiment/json"

	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"

	"gorm.io/gorm/clause"
)

// Where an action came from.
const (
	OriginPlatform = "platform" // it already happened on the platform; governing it may revert it
	OriginWeb      = "web"      // proposed on the website; executed only on pass
	OriginAPI      = "api"      // proposed through the JSON API; executed only on pass
)

// Action and proposal statuses.
const (
	StatusPending  = "pending"
	StatusPassed   = "passed"   // decided; its execution is recorded as an effect still to deliver
	StatusFailed   = "failed"   //
	StatusExecuted = "executed" // carried out (or, for a platform action that passed at once, left standing)
	// StatusNotCarriedOut: approved, but it could not be carried out (the world changed
	// between the proposal and the decision, or the platform refused); Action.Note says why.
	// Only actions take it: their proposal stays passed, since the vote did pass.
	StatusNotCarriedOut = "not_carried_out"
)

// Outcome is what a proposal came to, as pages, lists and the API show it: its status, or
// StatusNotCarriedOut when it passed but its action could not be carried out.
func Outcome(proposalStatus, actionStatus string) string {
	if proposalStatus == StatusPassed && actionStatus == StatusNotCarriedOut {
		return StatusNotCarriedOut
	}
	return proposalStatus
}

// Action is something a member did or proposes.
type Action struct {
	ID           int64
	CommunityID  int64
	Type         string // "<platform>.<verb>_<object>", e.g. constitution.add_document
	Kind         string // KindPlatform or KindConstitution
	Platform     string // "constitution" for the website itself
	InitiatorID  *int64
	Params       map[string]any    `gorm:"serializer:json"`
	Origin       string            //
	ExternalRefs map[string]string `gorm:"serializer:json"` // platform ids: channel, message ts...
	Status       string
	Reverted     bool   // we undid it on the platform (it happened there and is pending or failed)
	BundleID     *int64 // the election this action is a candidate of
	Note         string // why the engine decided as it did, when no proposal explains it
	CreatedAt    time.Time
	UpdatedAt    time.Time
}

// Ballot is the vote a policy opened on a proposal, with its electorate frozen at opening.
type Ballot struct {
	Kind     string            `json:"kind"` // yes_no, choice, approval, ranking, score, consensus
	Options  []string          `json:"options,omitempty"`
	Max      int               `json:"max,omitempty"` // highest score on a score ballot
	Eligible IDList            `json:"eligible"`
	OpenedAt time.Time         `json:"opened_at"`
	ClosedAt *time.Time        `json:"closed_at,omitempty"`
	DM       bool              `json:"dm,omitempty"` // ask each voter privately on the platform
	Refs     map[string]string `json:"refs,omitempty"`
}

// IDList is a list of ids stored as a JSON array. It decodes the plain "[1,2,3]" form by
// hand: every check pass decodes the electorate of every pending ballot, and reflection made
// that the largest cost of a pass.
type IDList []int64

// UnmarshalJSON implements json.Unmarshaler.
func (l *IDList) UnmarshalJSON(b []byte) error {
	s := strings.TrimSpace(string(b))
	if s == "null" {
		*l = nil
		return nil
	}
	inner, ok := strings.CutPrefix(s, "[")
	if inner, ok = strings.CutSuffix(inner, "]"); !ok {
		return fmt.Errorf("id list: want a JSON array, got %.20q", s)
	}
	out := make(IDList, 0, strings.Count(inner, ",")+1)
	for part := range strings.SplitSeq(inner, ",") {
		part = strings.TrimSpace(part)
		if part == "" {
			continue
		}
		n, err := strconv.ParseInt(part, 10, 64)
		if err != nil {
			var plain []int64 // 1e3 or 3.0: let encoding/json decide
			if err := json.Unmarshal(b, &plain); err != nil {
				return fmt.Errorf("id list: %w", err)
			}
			*l = plain
			return nil
		}
		out = append(out, n)
	}
	*l = out
	return nil
}

// IsEligible tells whether a member may vote on the ballot.
func (b *Ballot) IsEligible(memberID int64) bool {
	for _, id := range b.Eligible {
		if id == memberID {
			return true
		}
	}
	return false
}

// Proposal is one action governed by one pinned policy version.
type Proposal struct {
	ID              int64
	CommunityID     int64
	ActionID        int64
	PolicyID        *int64
	PolicyVersionID int64
	Stage           int    // 0 for the first policy of a bundle, 1 for the next...
	ParentID        *int64 // the previous stage's proposal
	Status          string
	Data            map[string]any `gorm:"serializer:json"` // the policy's memory (get/set)
	Seed            int64          // seeds sample(): the same jury every time it is recomputed
	Rule            string         // the plain-language rule, frozen at creation
	Ballot          *Ballot        `gorm:"serializer:json"`
	Notified        bool
	Error           string // the latest evaluation error; the proposal stays pending while set
	ErrorKind       string // its kind (engine.ErrorKind), compared instead of the text
	ErrorAt         *time.Time
	CheckedAt       *time.Time
	DecidedAt       *time.Time
	CreatedAt       time.Time
	UpdatedAt       time.Time
}

// Vote is one member's ballot on a proposal; changeable until the proposal closes.
type Vote struct {
	ID          int64
	CommunityID int64
	ProposalID  int64
	MemberID    int64
	Value       string // JSON: "yes", "option", ["a","b"], {"a":3}
	Via         string // web, api, or the name of the platform the vote came from
	CreatedAt   time.Time
	UpdatedAt   time.Time
}

// ShadowDecision is what a dry-run policy would have decided about a proposal.
type ShadowDecision struct {
	ID              int64
	CommunityID     int64
	ProposalID      int64
	PolicyID        int64
	PolicyVersionID int64
	Outcome         string
	Data            map[string]any `gorm:"serializer:json"`
	Error           string
	DecidedAt       *time.Time
	UpdatedAt       time.Time
}

// InsertActions stores new actions (with their ids set) in multi-row statements.
func (s *Store) InsertActions(ctx context.Context, as []*Action) error {
	if err := insertRows(ctx, s, as, ""); err != nil {
		return fmt.Errorf("insert actions: %w", err)
	}
	return nil
}

// InsertProposals stores new proposals (with their ids set) in multi-row statements.
func (s *Store) InsertProposals(ctx context.Context, ps []*Proposal) error {
	if err := insertRows(ctx, s, ps, ""); err != nil {
		return fmt.Errorf("insert proposals: %w", err)
	}
	return nil
}

// UpdateAction stores an action's status, reverted flag, references and note.
func (s *Store) UpdateAction(ctx context.Context, a *Action) error {
	a.UpdatedAt = time.Now().UTC()
	return s.q(ctx).Model(&Action{}).Where("id = ?", a.ID).
		Select("status", "reverted", "external_refs", "note", "updated_at").Updates(a).Error
}

// ActionByID finds an action of a community.
func (s *Store) ActionByID(ctx context.Context, communityID, id int64) (*Action, error) {
	var a Action
	if err := s.q(ctx).Where("community_id = ? AND id = ?", communityID, id).First(&a).Error; err != nil {
		return nil, notFound(err, "action")
	}
	return &a, nil
}

// ActionsByID loads actions by id.
func (s *Store) ActionsByID(ctx context.Context, ids []int64) ([]Action, error) {
	var as []Action
	if len(ids) == 0 {
		return nil, nil
	}
	err := s.q(ctx).Where("id IN ?", ids).Find(&as).Error
	return as, err
}

// UpdateProposal stores a proposal's evaluation state.
func (s *Store) UpdateProposal(ctx context.Context, p *Proposal) error {
	p.UpdatedAt = time.Now().UTC()
	return s.q(ctx).Model(&Proposal{}).Where("id = ?", p.ID).
		Select("status", "data", "ballot", "notified", "error", "error_kind", "error_at", "checked_at", "decided_at", "updated_at").
		Updates(p).Error
}

// ProposalByID finds a proposal of a community.
func (s *Store) ProposalByID(ctx context.Context, communityID, id int64) (*Proposal, error) {
	var p Proposal
	if err := s.q(ctx).Where("community_id = ? AND id = ?", communityID, id).First(&p).Error; err != nil {
		return nil, notFound(err, "proposal")
	}
	return &p, nil
}

// LockProposal reads a proposal and, on PostgreSQL, locks its row until the transaction
// ends, so two deciders never decide it twice. (SQLite transactions already take the
// database write lock at BEGIN.)
func (s *Store) LockProposal(ctx context.Context, id int64) (*Proposal, error) {
	var p Proposal
	q := s.q(ctx)
	if s.Dialect() == DialectPostgres {
		q = q.Clauses(clause.Locking{Strength: "UPDATE"})
	}
	if err := q.Where("id = ?", id).First(&p).Error; err != nil {
		return nil, notFound(err, "proposal")
	}
	return &p, nil
}

// ProposalsOfAction lists the proposals of an action, oldest first.
func (s *Store) ProposalsOfAction(ctx context.Context, actionID int64) ([]Proposal, error) {
	var ps []Proposal
	err := s.q(ctx).Where("action_id = ?", actionID).Order("id").Find(&ps).Error
	return ps, err
}

// ProposalFilter selects proposals of a community for listing.
type ProposalFilter struct {
	Status     string
	ActionType string
	PolicyID   int64
	BeforeID   int64 // keyset pagination: only ids below this
	Limit      int
}

// ProposalsByID loads proposals by id.
func (s *Store) ProposalsByID(ctx context.Context, ids []int64) ([]Proposal, error) {
	var ps []Proposal
	if len(ids) == 0 {
		return nil, nil
	}
	err := s.q(ctx).Where("id IN ?", ids).Order("id").Find(&ps).Error
	return ps, err
}

// UpsertVote records a member's vote, replacing an earlier one (one per member and proposal,
// enforced by a unique key, so concurrent votes never double).
func (s *Store) UpsertVote(ctx context.Context, v *Vote) (changed bool, err error) {
	now := time.Now().UTC()
	v.CreatedAt, v.UpdatedAt = now, now
	var prior int64
	if err := s.q(ctx).Model(&Vote{}).Where("proposal_id = ? AND member_id = ?", v.ProposalID, v.MemberID).Count(&prior).Error; err != nil {
		return false, err
	}
	err = s.q(ctx).Clauses(clause.OnConflict{
		Columns:   []clause.Column{{Name: "proposal_id"}, {Name: "member_id"}},
		DoUpdates: clause.AssignmentColumns([]string{"value", "via", "updated_at"}),
	}).Create(v).Error
	if err != nil {
		return false, fmt.Errorf("record vote: %w", err)
	}
	return prior > 0, nil
}

// VotesOf loads the votes on a set of proposals in one query, grouped by proposal.
func (s *Store) VotesOf(ctx context.Context, proposalIDs []int64) (map[int64][]Vote, error) {
	out := make(map[int64][]Vote, len(proposalIDs))
	if len(proposalIDs) == 0 {
		return out, nil
	}
	var vs []Vote
	if err := s.q(ctx).Where("proposal_id IN ?", proposalIDs).Order("id").Find(&vs).Error; err != nil {
		return nil, fmt.Errorf("load votes: %w", err)
	}
	for _, v := range vs {
		out[v.ProposalID] = append(out[v.ProposalID], v)
	}
	return out, nil
}

// SaveShadowDecision records (or updates) what a dry-run policy would decide.
func (s *Store) SaveShadowDecision(ctx context.Context, d *ShadowDecision) error {
	d.UpdatedAt = time.Now().UTC()
	return s.q(ctx).Clauses(clause.OnConflict{
		Columns:   []clause.Column{{Name: "proposal_id"}, {Name: "policy_version_id"}},
		DoUpdates: clause.AssignmentColumns([]string{"outcome", "data", "error", "decided_at", "updated_at"}),
	}).Create(d).Error
}

// ShadowDecisions lists the dry-run results recorded for a proposal or a policy.
func (s *Store) ShadowDecisions(ctx context.Context, communityID int64, proposalID, policyID int64) ([]ShadowDecision, error) {
	q := s.q(ctx).Where("community_id = ?", communityID)
	if proposalID != 0 {
		q = q.Where("proposal_id = ?", proposalID)
	}
	if policyID != 0 {
		q = q.Where("policy_id = ?", policyID)
	}
	var ds []ShadowDecision
	err := q.Order("id").Find(&ds).Error
	return ds, err
}

// PendingBatch is one page of pending proposals and everything needed to re-check them,
// each read with one range query (no IN lists, so every statement is prepared once).
type PendingBatch struct {
	Proposals []Proposal
	Actions   []Action
	Votes     map[int64][]Vote
}

// NextPendingRange finds where the next batch of up to limit pending proposals after id
// `after` ends: the batch is the ids in (after, end]. It reads only the (status, id) index,
// so a pass can list its batches cheaply and load several at once. end is 0 when no pending
// proposal is left.
func (s *Store) NextPendingRange(ctx context.Context, after int64, limit int) (end int64, err error) {
	var last *int64
	err = s.q(ctx).Raw(`SELECT MAX(id) FROM (SELECT id FROM proposals WHERE status = '`+StatusPending+`' AND id > ?
		ORDER BY id LIMIT ?) AS batch`, after, limit).Row().Scan(&last)
	if err != nil {
		return 0, fmt.Errorf("find pending proposals: %w", err)
	}
	if last == nil {
		return 0, nil
	}
	return *last, nil
}

// LoadPendingBatch reads the pending proposals with ids in (lo, hi], their actions and their
// votes, in three range queries. The status is written into the SQL rather than bound: pgx
// prepares statements and PostgreSQL soon plans them generically, and a generic plan can
// only use an index on (status, id) well when it knows the status.
func (s *Store) LoadPendingBatch(ctx context.Context, lo, hi int64) (*PendingBatch, error) {
	// Every row is scanned by hand, reading only the columns a re-check uses: a pass reads
	// every pending proposal, and reflection-based scanning cost several times the queries.
	b := &PendingBatch{Votes: map[int64][]Vote{}}
	rows, err := s.q(ctx).Raw(`SELECT id, community_id, action_id, policy_id, policy_version_id, stage, status, data, seed,
		ballot, notified, error, error_kind, created_at FROM proposals WHERE status = '`+StatusPending+`' AND id > ? AND id <= ? ORDER BY id`,
		lo, hi).Rows()
	if err != nil {
		return nil, fmt.Errorf("load pending proposals: %w", err)
	}
	for rows.Next() {
		var p Proposal
		var data string
		var ballot *string
		if err := rows.Scan(&p.ID, &p.CommunityID, &p.ActionID, &p.PolicyID, &p.PolicyVersionID, &p.Stage, &p.Status, &data,
			&p.Seed, &ballot, &p.Notified, &p.Error, &p.ErrorKind, &p.CreatedAt); err != nil {
			rows.Close()
			return nil, fmt.Errorf("read proposal: %w", err)
		}
		if err := decodeJSON(data, &p.Data); err != nil {
			rows.Close()
			return nil, fmt.Errorf("proposal %d data: %w", p.ID, err)
		}
		if ballot != nil && *ballot != "" && *ballot != "null" {
			p.Ballot = &Ballot{}
			if err := decodeJSON(*ballot, p.Ballot); err != nil {
				rows.Close()
				return nil, fmt.Errorf("proposal %d ballot: %w", p.ID, err)
			}
		}
		b.Proposals = append(b.Proposals, p)
	}
	rows.Close()
	if err := rows.Err(); err != nil || len(b.Proposals) == 0 {
		return b, err
	}
	rows, err = s.q(ctx).Raw(`SELECT actions.id, actions.community_id, actions.type, actions.kind, actions.platform,
		actions.initiator_id, actions.params, actions.origin, actions.status, actions.reverted, actions.created_at
		FROM actions JOIN proposals ON proposals.action_id = actions.id
		WHERE proposals.status = '`+StatusPending+`' AND proposals.id > ? AND proposals.id <= ?`, lo, hi).Rows()
	if err != nil {
		return nil, fmt.Errorf("load actions: %w", err)
	}
	for rows.Next() {
		var a Action
		var params string
		if err := rows.Scan(&a.ID, &a.CommunityID, &a.Type, &a.Kind, &a.Platform, &a.InitiatorID, &params, &a.Origin,
			&a.Status, &a.Reverted, &a.CreatedAt); err != nil {
			rows.Close()
			return nil, fmt.Errorf("read action: %w", err)
		}
		if err := decodeJSON(params, &a.Params); err != nil {
			rows.Close()
			return nil, fmt.Errorf("action %d params: %w", a.ID, err)
		}
		b.Actions = append(b.Actions, a)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, err
	}
	// Votes by their own index range (both databases plan this well without statistics).
	rows, err = s.q(ctx).Raw(`SELECT votes.proposal_id, votes.member_id, votes.value FROM votes
		JOIN proposals ON proposals.id = votes.proposal_id
		WHERE proposals.status = '`+StatusPending+`' AND votes.proposal_id > ? AND votes.proposal_id <= ?`, lo, hi).Rows()
	if err != nil {
		return nil, fmt.Errorf("load votes: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var v Vote
		if err := rows.Scan(&v.ProposalID, &v.MemberID, &v.Value); err != nil {
			return nil, fmt.Errorf("read vote: %w", err)
		}
		b.Votes[v.ProposalID] = append(b.Votes[v.ProposalID], v)
	}
	return b, rows.Err()
}

// decodeJSON reads a JSON column; empty text is the zero value.
func decodeJSON(raw string, into any) error {
	if raw == "" {
		return nil
	}
	return jsonv2.Unmarshal([]byte(raw), into)
}

// MarkActionExecuted records that an action's execute effect was delivered, merging the
// platform references it returned (the id of a re-posted message...) into the loaded action.
func (s *Store) MarkActionExecuted(ctx context.Context, a *Action, refs map[string]string) error {
	if a.ExternalRefs == nil {
		a.ExternalRefs = map[string]string{}
	}
	for k, v := range refs {
		a.ExternalRefs[k] = v
	}
	if a.Status == StatusPassed {
		a.Status = StatusExecuted
	}
	return s.UpdateAction(ctx, a)
}

// SetBallotRefs stores where a proposal's ballot was posted on its platform.
func (s *Store) SetBallotRefs(ctx context.Context, proposalID int64, refs map[string]string) error {
	return s.Tx(ctx, func(tx *Store) error {
		p, err := tx.LockProposal(ctx, proposalID)
		if err != nil {
			return err
		}
		if p.Ballot == nil {
			return nil
		}
		if p.Ballot.Refs == nil {
			p.Ballot.Refs = map[string]string{}
		}
		for k, v := range refs {
			p.Ballot.Refs[k] = v
		}
		return tx.q(ctx).Model(&Proposal{}).Where("id = ?", p.ID).Select("ballot").Updates(p).Error
	})
}

// TryLockProposal locks a proposal row unless another transaction holds it (PostgreSQL's
// SKIP LOCKED): ok is false when a replica is deciding it right now. On SQLite the
// transaction already holds the database lock.
func (s *Store) TryLockProposal(ctx context.Context, id int64) (*Proposal, bool, error) {
	if s.Dialect() != DialectPostgres {
		p, err := s.LockProposal(ctx, id)
		return p, err == nil, err
	}
	var ps []Proposal
	err := s.q(ctx).Clauses(clause.Locking{Strength: "UPDATE", Options: "SKIP LOCKED"}).Where("id = ?", id).Limit(1).Find(&ps).Error
	if err != nil {
		return nil, false, err
	}
	if len(ps) == 0 {
		return nil, false, nil
	}
	return &ps[0], true, nil
}
