package handlers

import (
	_ "embed"
	"net/http"

	"github.com/gin-gonic/gin"
)

// openAPIDoc describes the JSON API. TestOpenAPIMatchesRouter keeps its paths and the
// router's routes equal, and validates real responses against its schemas.
//
//go:embed openapi.json
var openAPIDoc []byte

// OpenAPI returns the API description (for tests and tools).
func OpenAPI() []byte { return openAPIDoc }

func (h *Handler) openAPI(c *gin.Context) {
	c.Data(http.StatusOK, "application/json", openAPIDoc)
}
