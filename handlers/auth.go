package handlers

import (
	"errors"
	"net/http"

	"github.com/gin-gonic/gin"

	"policykit/models"
)

type signupInput struct {
	Email    string `form:"email"`
	Name     string `form:"name"`
	Password string `form:"password"`
	Next     string `form:"next"`
}

func (h *Handler) signupForm(c *gin.Context) {
	h.render(c, http.StatusOK, "signup", gin.H{"Form": signupInput{}, "Next": safeNext(c.Query("next"))})
}

func (h *Handler) signup(c *gin.Context) {
	var in signupInput
	if err := c.ShouldBind(&in); err != nil {
		h.pageFail(c, errBadRequest)
		return
	}
	acct, err := h.store.CreateAccount(c.Request.Context(), models.NewAccount{Email: in.Email, Name: in.Name, Password: in.Password})
	if errors.Is(err, models.ErrInvalid) {
		h.render(c, http.StatusUnprocessableEntity, "signup", gin.H{"Form": in, "Errors": models.FieldErrors(err), "Next": safeNext(in.Next)})
		return
	}
	if err != nil {
		h.pageFail(c, err)
		return
	}
	h.startSession(c, acct, in.Next)
}

func (h *Handler) signinForm(c *gin.Context) {
	if currentAccount(c) != nil {
		c.Redirect(http.StatusSeeOther, safeNext(c.Query("next")))
		return
	}
	h.render(c, http.StatusOK, "signin", gin.H{"Form": signupInput{}, "Next": safeNext(c.Query("next"))})
}

func (h *Handler) signin(c *gin.Context) {
	var in signupInput
	if err := c.ShouldBind(&in); err != nil {
		h.pageFail(c, errBadRequest)
		return
	}
	acct, err := h.store.Authenticate(c.Request.Context(), in.Email, in.Password)
	if errors.Is(err, models.ErrUnauthorized) {
		h.render(c, http.StatusUnauthorized, "signin", gin.H{"Form": in, "Error": "Wrong email or password.", "Next": safeNext(in.Next)})
		return
	}
	if err != nil {
		h.pageFail(c, err)
		return
	}
	h.startSession(c, acct, in.Next)
}

func (h *Handler) startSession(c *gin.Context, acct *models.Account, next string) {
	token, err := h.store.CreateSession(c.Request.Context(), acct.ID)
	if err != nil {
		h.pageFail(c, err)
		return
	}
	h.setCookie(c, sessionCookie, token, int(models.SessionLifetime.Seconds()))
	redirect(c, safeNext(next))
}

func (h *Handler) signout(c *gin.Context) {
	if token, err := c.Cookie(sessionCookie); err == nil {
		if err := h.store.DeleteSession(c.Request.Context(), token); err != nil {
			h.pageFail(c, err)
			return
		}
	}
	h.setCookie(c, sessionCookie, "", -1)
	redirect(c, "/")
}
