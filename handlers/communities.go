package handlers

import (
	"errors"
	"net/http"

	"github.com/gin-gonic/gin"

	"policykit/models"
)

// home is the landing page for visitors and the list of communities for members.
func (h *Handler) home(c *gin.Context) {
	acct := currentAccount(c)
	if acct == nil {
		h.render(c, http.StatusOK, "landing", nil)
		return
	}
	cs, err := h.store.CommunitiesOf(c.Request.Context(), acct.ID)
	if err != nil {
		h.pageFail(c, err)
		return
	}
	h.render(c, http.StatusOK, "home", gin.H{"Communities": cs})
}

type communityInput struct {
	Name string `form:"name"`
	Slug string `form:"slug"`
}

func (h *Handler) newCommunityForm(c *gin.Context) {
	h.render(c, http.StatusOK, "community_new", gin.H{"Form": communityInput{}})
}

func (h *Handler) createCommunity(c *gin.Context) {
	var in communityInput
	if err := c.ShouldBind(&in); err != nil {
		h.pageFail(c, errBadRequest)
		return
	}
	comm, _, err := h.store.CreateCommunity(c.Request.Context(), models.NewCommunity{Name: in.Name, Slug: in.Slug}, currentAccount(c))
	if errors.Is(err, models.ErrInvalid) {
		h.render(c, http.StatusUnprocessableEntity, "community_new", gin.H{"Form": in, "Errors": models.FieldErrors(err)})
		return
	}
	if err != nil {
		h.pageFail(c, err)
		return
	}
	redirect(c, "/c/"+comm.Slug)
}

func (h *Handler) communityHome(c *gin.Context) {
	ctx := c.Request.Context()
	comm := currentCommunity(c)
	count, err := h.store.CountMembers(ctx, comm.ID)
	if err != nil {
		h.pageFail(c, err)
		return
	}
	docs, err := h.store.Documents(ctx, comm.ID)
	if err != nil {
		h.pageFail(c, err)
		return
	}
	h.render(c, http.StatusOK, "community", gin.H{"MemberCount": count, "Documents": docs})
}

func (h *Handler) members(c *gin.Context) {
	ms, err := h.store.Members(c.Request.Context(), currentCommunity(c).ID)
	if err != nil {
		h.pageFail(c, err)
		return
	}
	h.render(c, http.StatusOK, "members", gin.H{"Members": ms})
}

// createInvite makes an invite link and shows it (as an htmx fragment or on the members page).
func (h *Handler) createInvite(c *gin.Context) {
	inv, err := h.store.CreateInvite(c.Request.Context(), currentCommunity(c).ID, currentMember(c))
	if err != nil {
		h.pageFail(c, err)
		return
	}
	link := h.cfg.BaseURL + "/invite/" + inv.Code
	if isHTMX(c) {
		h.renderFragment(c, http.StatusOK, "invite_link", gin.H{"Link": link})
		return
	}
	ms, err := h.store.Members(c.Request.Context(), currentCommunity(c).ID)
	if err != nil {
		h.pageFail(c, err)
		return
	}
	h.render(c, http.StatusOK, "members", gin.H{"Members": ms, "Link": link})
}

func (h *Handler) inviteForm(c *gin.Context) {
	_, comm, err := h.store.InviteByCode(c.Request.Context(), c.Param("code"))
	if err != nil {
		h.pageFail(c, err)
		return
	}
	h.render(c, http.StatusOK, "invite", gin.H{"Invited": comm, "Code": c.Param("code")})
}

func (h *Handler) acceptInvite(c *gin.Context) {
	comm, _, err := h.store.AcceptInvite(c.Request.Context(), c.Param("code"), currentAccount(c))
	if err != nil {
		h.pageFail(c, err)
		return
	}
	redirect(c, "/c/"+comm.Slug)
}
