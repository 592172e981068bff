package handlers_test

import (
	"strings"
	"testing"

	"policykit/engine/enginetest"
	"policykit/handlers/browsertest"
)

func TestScratchLook(t *testing.T) {
	app := newTestApp(t, enginetest.NewPlatform())
	s := browsertest.New(t, app.srv.URL)
	ada := s.Profile("ada")
	ada.Open("/signup")
	ada.Fill("Your name", "Ada")
	ada.Fill("Email", "ada@example.org")
	ada.Fill("Password (at least 8 characters)", "correct horse battery")
	ada.ClickButton("Sign up")
	ada.ClickLink("Create a community")
	ada.Fill("Name", "Channels")
	ada.Click("#kit-everything_passes")
	ada.ClickButton("Create")
	base := strings.TrimPrefix(ada.URL(), app.srv.URL)
	ada.Open(base + "/builder")
	ada.Click("#f-deciders-who-jury")
	ada.Fill("Jury size", "3")
	ada.WaitText("#builder-problems", "problem")
	t.Log(browsertest.Eval[float64](ada, `document.documentElement.scrollHeight`))
	t.Fatal("look")
}
