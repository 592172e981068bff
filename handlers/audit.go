package handlers

import (
	"context"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"github.com/gin-gonic/gin"

	"policykit/models"
)

// auditEvent is an audit event as the API and the exports show it.
type auditEvent struct {
	Seq        int64           `json:"seq"`
	Kind       string          `json:"kind"`
	ProposalID *int64          `json:"proposal_id"`
	ActionID   *int64          `json:"action_id"`
	MemberID   *int64          `json:"member_id"`
	Payload    json.RawMessage `json:"payload"`
	PrevHash   string          `json:"prev_hash"`
	Hash       string          `json:"hash"`
	CreatedAt  time.Time       `json:"created_at"`
}

func toAuditEvent(e models.AuditEvent) auditEvent {
	payload := json.RawMessage(e.Payload)
	if !json.Valid(payload) {
		payload = json.RawMessage("null")
	}
	return auditEvent{Seq: e.Seq, Kind: e.Kind, ProposalID: e.ProposalID, ActionID: e.ActionID, MemberID: e.MemberID,
		Payload: payload, PrevHash: e.PrevHash, Hash: e.Hash, CreatedAt: e.CreatedAt}
}

// auditQuery is the audit filter as a query string carries it; dates are YYYY-MM-DD (UTC),
// "until" inclusive.
type auditQuery struct {
	Proposal, Member, Before int64
	Kind, Since, Until       string
}

func parseAuditQuery(q url.Values) (auditQuery, models.AuditFilter, error) {
	var a auditQuery
	var f models.AuditFilter
	for key, dst := range map[string]*int64{"proposal": &a.Proposal, "member": &a.Member, "before": &a.Before} {
		if s := q.Get(key); s != "" {
			n, err := strconv.ParseInt(s, 10, 64)
			if err != nil || n < 0 {
				return a, f, fmt.Errorf("%s must be an id: %w", key, errBadRequest)
			}
			*dst = n
		}
	}
	a.Kind, a.Since, a.Until = q.Get("kind"), q.Get("since"), q.Get("until")
	f.ProposalID, f.MemberID, f.Kind = a.Proposal, a.Member, a.Kind
	if a.Since != "" {
		t, err := time.Parse(time.DateOnly, a.Since)
		if err != nil {
			return a, f, fmt.Errorf("since must be a date (YYYY-MM-DD): %w", errBadRequest)
		}
		f.Since = &t
	}
	if a.Until != "" {
		t, err := time.Parse(time.DateOnly, a.Until)
		if err != nil {
			return a, f, fmt.Errorf("until must be a date (YYYY-MM-DD): %w", errBadRequest)
		}
		t = t.Add(24 * time.Hour)
		f.Until = &t
	}
	return a, f, nil
}

const auditPageSize = 100

// audit shows the community's audit log, newest first, filtered.
func (h *Handler) audit(c *gin.Context) {
	h.renderAudit(c, nil)
}

func (h *Handler) renderAudit(c *gin.Context, report any) {
	a, f, err := parseAuditQuery(c.Request.URL.Query())
	if err != nil {
		h.pageFail(c, err)
		return
	}
	ctx := c.Request.Context()
	comm := currentCommunity(c)
	f.Limit = auditPageSize
	events, err := h.store.AuditPage(ctx, comm.ID, f, a.Before)
	if err != nil {
		h.pageFail(c, err)
		return
	}
	kinds, err := h.store.AuditKinds(ctx, comm.ID)
	if err != nil {
		h.pageFail(c, err)
		return
	}
	members, err := h.store.Members(ctx, comm.ID)
	if err != nil {
		h.pageFail(c, err)
		return
	}
	ids := map[int64]bool{}
	for _, e := range events {
		if e.MemberID != nil {
			ids[*e.MemberID] = true
		}
	}
	names, _, err := h.memberNames(ctx, comm.ID, ids)
	if err != nil {
		h.pageFail(c, err)
		return
	}
	type row struct {
		models.AuditEvent
		Text, Member string
	}
	rows := make([]row, len(events))
	for i, e := range events {
		rows[i] = row{AuditEvent: e, Text: describeEvent(e, names)}
		if e.MemberID != nil {
			rows[i].Member = names[*e.MemberID]
		}
	}
	q := c.Request.URL.Query()
	q.Del("before")
	filter := q.Encode()
	next := ""
	if len(events) == auditPageSize {
		q.Set("before", strconv.FormatInt(events[len(events)-1].Seq, 10))
		next = "?" + q.Encode()
	}
	h.render(c, http.StatusOK, "audit", gin.H{"Events": rows, "Query": a, "Kinds": kinds, "AllMembers": members,
		"Filter": filter, "Next": next, "Report": report})
}

// auditExport downloads every event matching the filter as JSON or CSV, streamed in
// batches so a long log never sits in memory at once.
func (h *Handler) auditExport(c *gin.Context) {
	a, f, err := parseAuditQuery(c.Request.URL.Query())
	if err != nil {
		h.pageFail(c, err)
		return
	}
	format := c.DefaultQuery("format", "json")
	if format != "json" && format != "csv" {
		h.pageFail(c, fmt.Errorf("format must be json or csv: %w", errBadRequest))
		return
	}
	comm := currentCommunity(c)
	name := fmt.Sprintf("%s-audit.%s", comm.Slug, format)
	c.Header("Content-Disposition", `attachment; filename="`+name+`"`)
	if format == "csv" {
		c.Header("Content-Type", "text/csv; charset=utf-8")
		w := csv.NewWriter(c.Writer)
		_ = w.Write([]string{"seq", "created_at", "kind", "proposal_id", "action_id", "member_id", "payload", "prev_hash", "hash"})
		err = h.eachAuditEvent(c.Request.Context(), comm.ID, f, a.Before, func(e models.AuditEvent) error {
			return w.Write([]string{strconv.FormatInt(e.Seq, 10), e.CreatedAt.UTC().Format(time.RFC3339Nano), e.Kind,
				optID(e.ProposalID), optID(e.ActionID), optID(e.MemberID), e.Payload, e.PrevHash, e.Hash})
		})
		w.Flush()
	} else {
		c.Header("Content-Type", "application/json")
		first := true
		_, _ = c.Writer.WriteString(`{"events":[`)
		err = h.eachAuditEvent(c.Request.Context(), comm.ID, f, a.Before, func(e models.AuditEvent) error {
			b, err := json.Marshal(toAuditEvent(e))
			if err != nil {
				return err
			}
			if !first {
				_, _ = c.Writer.WriteString(",")
			}
			first = false
			_, err = c.Writer.Write(b)
			return err
		})
		_, _ = c.Writer.WriteString("]}")
	}
	if err != nil {
		// Headers are sent; the truncated download is the signal, the log says why.
		h.log.ErrorContext(c.Request.Context(), "audit export", "err", err)
	}
}

func optID(id *int64) string {
	if id == nil {
		return ""
	}
	return strconv.FormatInt(*id, 10)
}

// eachAuditEvent visits matching events newest first, 1000 at a time.
func (h *Handler) eachAuditEvent(ctx context.Context, communityID int64, f models.AuditFilter, before int64, fn func(models.AuditEvent) error) error {
	f.Limit = 1000
	for {
		batch, err := h.store.AuditPage(ctx, communityID, f, before)
		if err != nil {
			return err
		}
		for _, e := range batch {
			if err := fn(e); err != nil {
				return err
			}
		}
		if len(batch) < f.Limit {
			return nil
		}
		before = batch[len(batch)-1].Seq
	}
}

// auditVerify recomputes the hash chain and re-tallies every decision, and shows the result.
func (h *Handler) auditVerify(c *gin.Context) {
	report, err := h.engine.VerifyAudit(c.Request.Context(), currentCommunity(c).ID)
	if err != nil {
		h.pageFail(c, err)
		return
	}
	if isHTMX(c) {
		h.renderFragment(c, http.StatusOK, "audit_report", gin.H{"Report": report})
		return
	}
	h.renderAudit(c, report)
}
