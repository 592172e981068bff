package handlers

import (
	"errors"
	"fmt"

	"github.com/gin-gonic/gin"

	"policykit/models"
)

// outcomeView is what a proposal came to, as every page shows it (templates/partials/
// status.html): its status, or "not carried out" with the reason when it passed but its
// action could not be carried out, and, on the proposal page, a retry where it can help.
type outcomeView struct {
	Status string // models.Outcome
	Reason string // why it was not carried out
	// Proposal page only.
	CanRetry bool
	RetryURL string
	CSRF     string
}

func outcomeOf(r models.ProposalListRow) outcomeView {
	o := outcomeView{Status: models.Outcome(r.Status, r.ActionStatus)}
	if o.Status == models.StatusNotCarriedOut {
		o.Reason = r.ActionNote
	}
	return o
}

// retryAction tries again to carry out a proposal's approved action, then shows the
// proposal: carried out, on its way, or still not, with the reason of today.
func (h *Handler) retryAction(c *gin.Context) {
	id, err := idParam(c, "id")
	if err != nil {
		h.pageFail(c, err)
		return
	}
	ctx := c.Request.Context()
	comm, me := currentCommunity(c), currentMember(c)
	p, err := h.store.ProposalByID(ctx, comm.ID, id)
	if err != nil {
		h.pageFail(c, err)
		return
	}
	if err := h.engine.RetryAction(ctx, comm.ID, p.ActionID, me.ID); err != nil && !errors.Is(err, models.ErrInvalid) {
		h.pageFail(c, err)
		return
	}
	redirect(c, fmt.Sprintf("/c/%s/proposals/%d", comm.Slug, id))
}
