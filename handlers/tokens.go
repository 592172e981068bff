package handlers

import (
	"errors"
	"net/http"

	"github.com/gin-gonic/gin"

	"policykit/models"
)

// Personal API tokens: a token is shown in clear once, when created; afterwards only its
// prefix, so a person can tell tokens apart and revoke one.

type tokenInput struct {
	Name string `form:"name"`
}

func (h *Handler) tokens(c *gin.Context) {
	h.renderTokens(c, http.StatusOK, tokenInput{}, nil, "")
}

func (h *Handler) renderTokens(c *gin.Context, status int, in tokenInput, errs map[string]string, created string) {
	ts, err := h.store.APITokens(c.Request.Context(), currentAccount(c).ID)
	if err != nil {
		h.pageFail(c, err)
		return
	}
	h.render(c, status, "tokens", gin.H{"Tokens": ts, "Form": in, "Errors": errs, "Created": created, "BaseURL": h.cfg.BaseURL})
}

func (h *Handler) createToken(c *gin.Context) {
	var in tokenInput
	if err := c.ShouldBind(&in); err != nil {
		h.pageFail(c, bodyError(err))
		return
	}
	_, clear, err := h.store.CreateAPIToken(c.Request.Context(), currentAccount(c).ID, in.Name)
	if errors.Is(err, models.ErrInvalid) {
		h.renderTokens(c, http.StatusUnprocessableEntity, in, models.FieldErrors(err), "")
		return
	}
	if err != nil {
		h.pageFail(c, err)
		return
	}
	// Rendered, not redirected: the clear token must not travel in a URL or survive a reload.
	c.Header("Cache-Control", "no-store")
	h.renderTokens(c, http.StatusOK, tokenInput{}, nil, clear)
}

func (h *Handler) revokeToken(c *gin.Context) {
	id, err := idParam(c, "id")
	if err != nil {
		h.pageFail(c, err)
		return
	}
	if err := h.store.RevokeAPIToken(c.Request.Context(), currentAccount(c).ID, id); err != nil {
		h.pageFail(c, err)
		return
	}
	redirect(c, "/account/tokens")
}
