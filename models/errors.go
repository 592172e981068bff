package models

import (
	"errors"
	"fmt"
	"sort"
	"strings"
)

// Error kinds. Every error a caller can act on wraps exactly one of these, so the
// handlers map errors to HTTP statuses in one place (handlers/errors.go).
var (
	ErrNotFound     = errors.New("not found")
	ErrInvalid      = errors.New("invalid input")
	ErrConflict     = errors.New("conflict")
	ErrForbidden    = errors.New("forbidden")
	ErrUnauthorized = errors.New("unauthorized")
	ErrThrottled    = errors.New("too many attempts")
)

// IsDomainError tells whether err is one of the kinds above (bad input, a missing or
// conflicting record, a refusal): an answer about the request, not a failure of the
// database, which callers must not mistake for one.
func IsDomainError(err error) bool {
	return errors.Is(err, ErrNotFound) || errors.Is(err, ErrInvalid) || errors.Is(err, ErrConflict) ||
		errors.Is(err, ErrForbidden) || errors.Is(err, ErrUnauthorized)
}

// ValidationError lists what is wrong with each field of an input. It wraps ErrInvalid.
type ValidationError struct {
	Fields map[string]string
}

// Invalid builds a ValidationError for one field.
func Invalid(field, msg string) *ValidationError {
	return &ValidationError{Fields: map[string]string{field: msg}}
}

// Add records a problem with a field; the first message for a field wins.
func (e *ValidationError) Add(field, msg string) {
	if e.Fields == nil {
		e.Fields = map[string]string{}
	}
	if _, ok := e.Fields[field]; !ok {
		e.Fields[field] = msg
	}
}

// OrNil returns nil when no field has a problem, so validators can end with `return v.OrNil()`.
func (e *ValidationError) OrNil() error {
	if e == nil || len(e.Fields) == 0 {
		return nil
	}
	return e
}

func (e *ValidationError) Error() string {
	keys := make([]string, 0, len(e.Fields))
	for k := range e.Fields {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	parts := make([]string, 0, len(keys))
	for _, k := range keys {
		parts = append(parts, fmt.Sprintf("%s: %s", k, e.Fields[k]))
	}
	return strings.Join(parts, "; ")
}

// Unwrap makes errors.Is(err, ErrInvalid) true.
func (e *ValidationError) Unwrap() error { return ErrInvalid }

// FieldErrors returns the per-field messages of err, or nil when err is not a validation error.
func FieldErrors(err error) map[string]string {
	var v *ValidationError
	if errors.As(err, &v) {
		return v.Fields
	}
	return nil
}
