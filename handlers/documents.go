package handlers

import (
	"net/http"

	"github.com/gin-gonic/gin"

	"policykit/models"
)

// Documents are read here; every change is a proposal (constitution.add_document,
// change_document, remove_document) made with the propose form.

func (h *Handler) documents(c *gin.Context) {
	docs, err := h.store.Documents(c.Request.Context(), currentCommunity(c).ID)
	if err != nil {
		h.pageFail(c, err)
		return
	}
	h.render(c, http.StatusOK, "documents", gin.H{"Documents": docs})
}

// document shows a document's current text (or ?version=N), its history, and with
// ?from=N&to=M the changes between two versions.
func (h *Handler) document(c *gin.Context) {
	id, err := idParam(c, "id")
	if err != nil {
		h.pageFail(c, err)
		return
	}
	ctx := c.Request.Context()
	comm := currentCommunity(c)
	doc, err := h.store.DocumentByIDAny(ctx, comm.ID, id)
	if err != nil {
		h.pageFail(c, err)
		return
	}
	versions, err := h.store.DocumentVersions(ctx, comm.ID, id)
	if err != nil {
		h.pageFail(c, err)
		return
	}
	byNumber := make(map[int]models.DocumentVersion, len(versions))
	for _, v := range versions {
		byNumber[v.Version] = v
	}
	shown, err := queryVersion(c, "version", doc.CurrentVersion, byNumber)
	if err != nil {
		h.pageFail(c, err)
		return
	}
	data := gin.H{"Doc": doc, "Shown": shown, "Versions": versions}
	if c.Query("from") != "" || c.Query("to") != "" {
		from, err := queryVersion(c, "from", max(doc.CurrentVersion-1, 1), byNumber)
		if err != nil {
			h.pageFail(c, err)
			return
		}
		to, err := queryVersion(c, "to", doc.CurrentVersion, byNumber)
		if err != nil {
			h.pageFail(c, err)
			return
		}
		data["From"], data["To"] = from, to
		data["Diff"] = diffFields([]string{"title", "body"},
			map[string]string{"title": from.Title, "body": from.Body}, map[string]string{"title": to.Title, "body": to.Body})
	}
	h.render(c, http.StatusOK, "document", data)
}
