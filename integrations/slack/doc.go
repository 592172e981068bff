// Package slack connects Slack workspaces to PolicyKit: it governs what members do in Slack,
// carries decisions out there, and collects votes with Block Kit buttons. It uses the real
// slack-go client; tests point it at slackfake through Config.APIURL.
//
// # Connecting
//
// A workspace admin installs the app from the community's Slack page (OAuth v2, oauth.go).
// The bot token and the installing admin's user token are stored encrypted; the installer is
// verified to be an admin with users.info, because their token is what deletes other
// people's messages and renames channels. The workspace's people become members (and so do
// people who join later, on team_join, or who act before the sync saw them), each linked
// through a platform identity. "Sign in with Slack" signs a Slack user into their member,
// creating a password-less web login the first time; a member with a login links Slack to
// it from the same page.
//
// Connecting and disconnecting are changes to the community, decided by its constitution
// policies. Installing (a workspace admin's consent in Slack) stores the connection as
// "awaiting approval" and proposes constitution.connect_platform; until that passes, the
// workspace's events govern nothing and its people are not added. On approval the connection
// is set up (members and channels listed, by the install request when the approval is
// immediate, else by the inbound janitor) and marked connected. Disconnecting is proposed
// from the Slack page (constitution.disconnect_platform); on pass the tokens are deleted.
//
// # Inbound (inbound.go, events.go, interactions.go)
//
// POST /integrations/slack/events and /integrations/slack/interactions verify Slack's
// signature on the raw body (HMAC-SHA256 of "v0:timestamp:body" with the signing secret,
// timestamp within 5 minutes) before parsing anything, answer at once and leave the work to
// a bounded worker pool. Deliveries are deduplicated in the database (event ids for an hour,
// requests by timestamp and body hash for 15 minutes, against replays), so a retry, a duplicate or a second
// replica never governs an event twice. Our own actions echo back as events: those made with
// the bot token carry the bot's user id; those made with the admin's token are recorded
// before the call (platform_echoes) and each excuses exactly one matching event.
//
// # Governed actions
//
// Only channels the bot is a member of send events, so those are the governed channels.
//
//	type                 arrives as                             reverted by (pending, failed)         executed by (passed)
//	slack.post_message   message (no subtype)                   chat.delete, admin token              chat.postMessage as the bot, "on behalf of" the author
//	slack.rename_channel message/channel_name (names the user)  conversations.rename back, admin      conversations.rename again, admin
//	slack.join_channel   member_joined_channel (inviter or self) conversations.kick, bot then admin   conversations.invite, bot then admin
//	slack.pin_message    pin_added                              pins.remove                           pins.add
//	slack.set_topic      message/channel_topic                  conversations.setTopic to the last    conversations.setTopic
//	                                                            topic PolicyKit saw
//
// The same types can be proposed on the website; they are executed on pass.
//
// # Delivery guarantees
//
// The runtime retries failed deliveries (engine/deliver.go); a 429 becomes
// engine.RateLimitedError (rescheduled after Retry-After, not counted as a failure), a 5xx
// or network error is retried with backoff, and any other Slack error reply is permanent.
//
//   - Exactly once, by reconciliation: rename (a retry first reads the channel's name),
//     set topic (reads the topic), delete (message_not_found means done), kick
//     (not_in_channel), invite (already_in_channel), pin (already_pinned), unpin (no_pin),
//     ballot updates and closing (chat.update rewrites the same content).
//   - At least once: posts, notifications and ballot messages. Slack has no idempotency key
//     for chat.postMessage; each message is recorded as soon as Slack answers (effect_parts),
//     so a retry after a rate limit or an outage resumes with the messages not yet sent. A
//     duplicate needs a crash between Slack's answer and that record.
//   - Inbound events: governed exactly once. An event is written to the inbox
//     (inbound_deliveries, with its body) before Slack hears it was received, and claimed
//     for a minute; the engine consumes it in the transaction that governs its action
//     (engine.Submission.Receipt). An event left unprocessed by a crash is taken up by any
//     process once its claim expires (Inbound.Recover, every 15 s); one processed twice
//     governs nothing the second time. An event recognised as our own echo consumes the
//     expected echo and the delivery in one transaction. Processing that fails is tried 5
//     times.
//   - Button clicks: at most once. Slack does not retry them; a click lost in a crash is
//     clicked again by the voter, whose ballot did not change.
//
// # Ballots (ballots.go)
//
// start_vote posts a Block Kit ballot in the action's channel, or, with dm set (a jury), a
// direct message to each eligible voter who has a Slack account: the action, the policy's
// plain-language rule, buttons for the ballot's kind (yes/no/abstain, consensus, or up to 25
// choices; other kinds link to the website), the tally and a link to the proposal. A click
// casts the vote through engine.CastVote, which enforces eligibility; the voter gets a
// private reply, every copy of the ballot is redrawn with the tally, and it shows the
// outcome when the proposal is decided.
package slack
