package handlers

import (
	"errors"
	"fmt"
	"net/http"
	"strconv"

	"github.com/gin-gonic/gin"

	"policykit/models"
)

type documentInput struct {
	Title string `form:"title" json:"title"`
	Body  string `form:"body" json:"body"`
}

func (h *Handler) documents(c *gin.Context) {
	docs, err := h.store.Documents(c.Request.Context(), currentCommunity(c).ID)
	if err != nil {
		h.pageFail(c, err)
		return
	}
	h.render(c, http.StatusOK, "documents", gin.H{"Documents": docs, "Form": documentInput{}})
}

func (h *Handler) document(c *gin.Context) {
	id, err := idParam(c, "id")
	if err != nil {
		h.pageFail(c, err)
		return
	}
	versions, err := h.store.DocumentVersions(c.Request.Context(), currentCommunity(c).ID, id)
	if err != nil {
		h.pageFail(c, err)
		return
	}
	h.render(c, http.StatusOK, "document", gin.H{"Doc": versions[0], "Versions": versions, "DocID": id})
}

func (h *Handler) createDocument(c *gin.Context) {
	var in documentInput
	if err := c.ShouldBind(&in); err != nil {
		h.pageFail(c, errBadRequest)
		return
	}
	comm := currentCommunity(c)
	d, err := h.store.CreateDocument(c.Request.Context(), comm.ID, in.Title, in.Body, &currentMember(c).ID)
	if errors.Is(err, models.ErrInvalid) {
		docs, _ := h.store.Documents(c.Request.Context(), comm.ID)
		h.render(c, http.StatusUnprocessableEntity, "documents", gin.H{"Documents": docs, "Form": in, "Errors": models.FieldErrors(err)})
		return
	}
	if err != nil {
		h.pageFail(c, err)
		return
	}
	redirect(c, fmt.Sprintf("/c/%s/documents/%d", comm.Slug, d.ID))
}

func (h *Handler) updateDocument(c *gin.Context) {
	id, err := idParam(c, "id")
	if err != nil {
		h.pageFail(c, err)
		return
	}
	var in documentInput
	if err := c.ShouldBind(&in); err != nil {
		h.pageFail(c, errBadRequest)
		return
	}
	comm := currentCommunity(c)
	err = h.store.UpdateDocument(c.Request.Context(), comm.ID, id, in.Title, in.Body, &currentMember(c).ID)
	if err != nil {
		h.pageFail(c, err)
		return
	}
	redirect(c, fmt.Sprintf("/c/%s/documents/%d", comm.Slug, id))
}

// idParam reads a numeric id from the path; anything else is not found.
func idParam(c *gin.Context, name string) (int64, error) {
	id, err := strconv.ParseInt(c.Param(name), 10, 64)
	if err != nil || id <= 0 {
		return 0, fmt.Errorf("%s %q: %w", name, c.Param(name), models.ErrNotFound)
	}
	return id, nil
}
