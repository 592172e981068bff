package handlers

import (
	"net/http"

	"github.com/gin-gonic/gin"
)

// apiMe answers who the token belongs to and their communities.
func (h *Handler) apiMe(c *gin.Context) {
	acct := currentAccount(c)
	cs, err := h.store.CommunitiesOf(c.Request.Context(), acct.ID)
	if err != nil {
		h.apiFail(c, err)
		return
	}
	type community struct {
		Slug string `json:"slug"`
		Name string `json:"name"`
	}
	out := make([]community, len(cs))
	for i, x := range cs {
		out[i] = community{Slug: x.Slug, Name: x.Name}
	}
	c.JSON(http.StatusOK, gin.H{"id": acct.ID, "email": acct.Email, "name": acct.Name, "communities": out})
}

func (h *Handler) apiMembers(c *gin.Context) {
	ms, err := h.store.Members(c.Request.Context(), currentCommunity(c).ID)
	if err != nil {
		h.apiFail(c, err)
		return
	}
	type member struct {
		ID    int64    `json:"id"`
		Name  string   `json:"name"`
		Roles []string `json:"roles"`
	}
	out := make([]member, len(ms))
	for i, m := range ms {
		out[i] = member{ID: m.ID, Name: m.DisplayName, Roles: m.Roles}
	}
	c.JSON(http.StatusOK, gin.H{"members": out})
}

func (h *Handler) apiDocuments(c *gin.Context) {
	docs, err := h.store.Documents(c.Request.Context(), currentCommunity(c).ID)
	if err != nil {
		h.apiFail(c, err)
		return
	}
	type document struct {
		ID      int64  `json:"id"`
		Title   string `json:"title"`
		Version int    `json:"version"`
		Body    string `json:"body"`
	}
	out := make([]document, len(docs))
	for i, d := range docs {
		out[i] = document{ID: d.ID, Title: d.Title, Version: d.CurrentVersion, Body: d.Body}
	}
	c.JSON(http.StatusOK, gin.H{"documents": out})
}
