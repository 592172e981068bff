package handlers

import (
	"errors"
	"fmt"
	"log/slog"
	"net/http"

	"github.com/gin-gonic/gin"

	"policykit/models"
)

// apiError is the JSON body of every API error: a stable code and a human message.
type apiError struct {
	Code    string            `json:"code"`
	Message string            `json:"message"`
	Fields  map[string]string `json:"fields,omitempty"`
}

// classify maps an error to its HTTP status and stable code. This is the only place that
// decides statuses; everything else returns error kinds from models.
func classify(err error) (int, string) {
	switch {
	case errors.Is(err, models.ErrNotFound):
		return http.StatusNotFound, "not_found"
	case errors.Is(err, models.ErrInvalid):
		return http.StatusUnprocessableEntity, "invalid"
	case errors.Is(err, models.ErrConflict):
		return http.StatusConflict, "conflict"
	case errors.Is(err, models.ErrForbidden):
		return http.StatusForbidden, "forbidden"
	case errors.Is(err, models.ErrUnauthorized):
		return http.StatusUnauthorized, "unauthorized"
	case errors.Is(err, models.ErrThrottled):
		return http.StatusTooManyRequests, "too_many_requests"
	case errors.Is(err, errTooLarge):
		return http.StatusRequestEntityTooLarge, "too_large"
	case errors.Is(err, errBadRequest):
		return http.StatusBadRequest, "bad_request"
	default:
		return http.StatusInternalServerError, "internal"
	}
}

var (
	errTooLarge   = errors.New("request body too large")
	errBadRequest = errors.New("malformed request")
)

// bodyError classifies a failure to read a request body: past the size limit is 413,
// anything else (malformed form or JSON) is 400, with the parser's message.
func bodyError(err error) error {
	var tooLarge *http.MaxBytesError
	if errors.As(err, &tooLarge) {
		return fmt.Errorf("the body is larger than %d bytes: %w", tooLarge.Limit, errTooLarge)
	}
	return fmt.Errorf("%v: %w", err, errBadRequest)
}

// publicMessage is what a user may read about an error: internal errors are logged, not shown.
func publicMessage(status int, err error) string {
	if status == http.StatusInternalServerError {
		return "Something went wrong on our side. It has been logged."
	}
	return err.Error()
}

// logIfInternal logs errors the user cannot fix.
func (h *Handler) logIfInternal(c *gin.Context, status int, err error) {
	if status >= 500 {
		h.log.ErrorContext(c.Request.Context(), "request failed", slog.String("path", redactedURL(c)), slog.Any("err", err))
	}
}

// apiFail answers an API request with the JSON error for err.
func (h *Handler) apiFail(c *gin.Context, err error) {
	status, code := classify(err)
	h.logIfInternal(c, status, err)
	c.AbortWithStatusJSON(status, gin.H{"error": apiError{Code: code, Message: publicMessage(status, err), Fields: models.FieldErrors(err)}})
}

// pageFail answers a page request with an error page for err.
func (h *Handler) pageFail(c *gin.Context, err error) {
	status, _ := classify(err)
	h.logIfInternal(c, status, err)
	h.render(c, status, "error", gin.H{"Status": status, "Message": publicMessage(status, err)})
	c.Abort()
}
