package handlers

import (
	"errors"
	"net/http"
	"strconv"
	"time"

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
	h.render(c, http.StatusOK, "signin", gin.H{"Form": signupInput{}, "Next": safeNext(c.Query("next")), "SlackSignIn": h.slack != nil})
}

func (h *Handler) signin(c *gin.Context) {
	var in signupInput
	if err := c.ShouldBind(&in); err != nil {
		h.pageFail(c, errBadRequest)
		return
	}
	device, _ := c.Cookie(deviceCookie)
	now := time.Now()
	acct, err := h.store.SignIn(c.Request.Context(), models.SignInAttempt{Email: in.Email, Password: in.Password, Address: c.ClientIP(), Device: device}, now)
	var throttled *models.ThrottledError
	switch {
	case errors.As(err, &throttled):
		c.Header("Retry-After", strconv.Itoa(int(throttled.Wait.Seconds())+1))
		h.render(c, http.StatusTooManyRequests, "signin", gin.H{"Form": in, "Error": throttled.Error(), "Next": safeNext(in.Next), "SlackSignIn": h.slack != nil})
		return
	case errors.Is(err, models.ErrUnauthorized):
		h.render(c, http.StatusUnauthorized, "signin", gin.H{"Form": in, "Error": "Wrong email or password.", "Next": safeNext(in.Next), "SlackSignIn": h.slack != nil})
		return
	case err != nil:
		h.pageFail(c, err)
		return
	}
	// This browser now knows the password: its later mistakes count against it alone, so a
	// guesser elsewhere cannot lock its owner out (models/signin.go).
	h.setCookie(c, deviceCookie, h.store.DeviceToken(acct.ID, now), int(deviceCookieLifetime.Seconds()))
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
