package slackfake_test

import (
	"errors"
	"testing"

	"github.com/slack-go/slack"

	"policykit/integrations/slack/slackfake"
)

// world is a small workspace most tests start from:
//
//	#general (general): admin, alice, bob, bot
//	#random:            admin, alice, bob, bot
//	#lounge:            admin, alice          (public, bot not a member)
//	#secret (private):  alice, bot
//
// carol is in the workspace but in no channel.
type world struct {
	fake                             *slackfake.Server
	alice, bob, carol                slackfake.User
	general, random, lounge, private slackfake.Channel
}

func newWorld(t *testing.T) *world {
	t.Helper()
	f := slackfake.New()
	t.Cleanup(f.Close)
	w := &world{fake: f}
	w.alice = f.AddUser(slackfake.User{Name: "alice", RealName: "Alice Liddell"})
	w.bob = f.AddUser(slackfake.User{Name: "bob", RealName: "Bob Builder"})
	w.carol = f.AddUser(slackfake.User{Name: "carol", RealName: "Carol Danvers"})
	admin, bot := f.AdminUserID(), f.BotUserID()
	w.general = f.AddChannel(slackfake.Channel{Name: "general", IsGeneral: true, Members: []string{admin, w.alice.ID, w.bob.ID, bot}})
	w.random = f.AddChannel(slackfake.Channel{Name: "random", Members: []string{admin, w.alice.ID, w.bob.ID, bot}})
	w.lounge = f.AddChannel(slackfake.Channel{Name: "lounge", Members: []string{admin, w.alice.ID}})
	w.private = f.AddChannel(slackfake.Channel{Name: "secret", IsPrivate: true, Members: []string{w.alice.ID, bot}})
	return w
}

// client is the real slack-go client pointed at the fake.
func (w *world) client(token string) *slack.Client {
	return slack.New(token, slack.OptionAPIURL(w.fake.APIURL()))
}

func (w *world) bot() *slack.Client   { return w.client(w.fake.BotToken()) }
func (w *world) admin() *slack.Client { return w.client(w.fake.AdminToken()) }
func (w *world) as(u slackfake.User) *slack.Client {
	return w.client(w.fake.UserToken(u.ID))
}

// post has user say text in channel through the fake and returns its ts.
func (w *world) post(t *testing.T, user, channel, text string) string {
	t.Helper()
	ev, err := w.fake.UserPosts(user, channel, text)
	if err != nil {
		t.Fatalf("UserPosts: %v", err)
	}
	return ev.TS()
}

// checkErr fails unless err carries Slack error code want ("" means no error).
func checkErr(t *testing.T, err error, want string) {
	t.Helper()
	if want == "" {
		if err != nil {
			t.Fatalf("unexpected error: %v", err)
		}
		return
	}
	var se slack.SlackErrorResponse
	if !errors.As(err, &se) {
		t.Fatalf("error = %v (%T), want Slack error %q", err, err, want)
	}
	if se.Err != want {
		t.Fatalf("Slack error = %q, want %q", se.Err, want)
	}
}
