package handlers

import (
	"net/http"

	"github.com/gin-gonic/gin"
)

// runtimeStatus shows the check loop and the effect outbox of this server process to
// instance administrators (requireAdmin): server-wide figures are no member's business.
func (h *Handler) runtimeStatus(c *gin.Context) {
	counts, err := h.store.EffectCounts(c.Request.Context())
	if err != nil {
		h.pageFail(c, err)
		return
	}
	data := gin.H{"Effects": counts, "Running": h.runtime != nil}
	if h.runtime != nil {
		data["Status"] = h.runtime.Status()
	}
	h.render(c, http.StatusOK, "runtime", data)
}
