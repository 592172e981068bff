// Package slackfake is a stateful local Slack for tests.
//
// The real slack-go client talks to it through
// slack.New(token, slack.OptionAPIURL(fake.APIURL())), so integration tests
// exercise the same wire protocol production code uses: form-encoded POSTs
// carrying the token in the "token" field (falling back to
// "Authorization: Bearer"), HTTP 200 JSON replies with "ok" and "error", 429
// with Retry-After for rate limits and 5xx for outages.
//
// The fake keeps one workspace: users, channels with members and topics,
// messages per channel, pins, reactions, DMs, ephemeral messages and tokens.
// Permission rules that matter to a governance bot are modelled (a bot token
// may delete only the bot's own messages, only an admin or the creator may
// rename a channel, private channels are invisible to non-members) so that
// tests catch code that would fail against real Slack.
//
// It also plays Slack's side of the conversation: it signs and delivers
// Events API envelopes and block_actions interactions to the server under
// test, or sends them over Socket Mode (apps.connections.open with the
// app-level token, a websocket that says hello, pings, sends envelopes, reads
// acknowledgements and asks for reconnections; see socketmode.go), and it
// records the events its own Web API calls would have caused (see
// [Server.Echoes]) so that loop guards can be tested.
//
// A typical governance test:
//
//	fake := slackfake.New()
//	defer fake.Close()
//	alice := fake.AddUser(slackfake.User{Name: "alice"})
//	ch := fake.AddChannel(slackfake.Channel{Name: "random", Members: []string{alice.ID, fake.BotUserID()}})
//	ev, _ := fake.UserRenames(alice.ID, ch.ID, "watercooler") // state changes, event returned
//	resp, _ := fake.SendEvent(ctx, app.URL+"/slack/events", secret, ev)
//	// … the app reverts with the admin token; then:
//	got, _ := fake.Channel(ch.ID) // got.Name == "random"
//
// Knowingly simplified: OAuth scopes are not enforced (every token may call
// every method); there is no conversations.history or channel creation over
// the API; system messages (channel_name, channel_topic, channel_join) are
// delivered as events but not kept in Messages; reaction aliases
// ("thumbsup" = "+1") are not merged; response_url expiry is by use count
// (five) only, and its "used_url" code is our choice; Slack's automatic
// redelivery is not simulated (use [Envelope.Retry]); Socket Mode sends each
// envelope on the newest connection and does not resend unacknowledged ones.
package slackfake
