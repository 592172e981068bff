package slackfake

import (
	"fmt"
	"slices"
)

// Event is the inner object of an Events API delivery: what Slack puts under
// "event" in an event_callback envelope. Field names are the ones
// slackevents.ParseEvent reads.
type Event map[string]any

// Type is the event's "type" ("message", "member_joined_channel", …).
func (e Event) Type() string { s, _ := e["type"].(string); return s }

// TS is the event's message timestamp ("ts"), or its "event_ts" if it has none.
func (e Event) TS() string {
	if s, _ := e["ts"].(string); s != "" {
		return s
	}
	s, _ := e["event_ts"].(string)
	return s
}

// MessageEvent is a plain message (no subtype), as delivered for
// message.channels.
func MessageEvent(channel, user, text, ts string) Event {
	return Event{
		"type": "message", "channel": channel, "user": user, "text": text,
		"ts": ts, "event_ts": ts, "channel_type": "channel",
	}
}

// ChannelNameEvent is the channel_name message Slack posts when user renames
// a channel. Unlike the channel_rename event it says who renamed it, which is
// why governance code reads this one.
func ChannelNameEvent(channel, user, oldName, newName, ts string) Event {
	return Event{
		"type": "message", "subtype": "channel_name", "channel": channel, "user": user,
		"name": newName, "old_name": oldName,
		"text": fmt.Sprintf("<@%s> renamed the channel from “%s” to “%s”", user, oldName, newName),
		"ts":   ts, "event_ts": ts, "channel_type": "channel",
	}
}

// ChannelTopicEvent is the channel_topic message Slack posts when user sets a
// channel's topic.
func ChannelTopicEvent(channel, user, topic, ts string) Event {
	return Event{
		"type": "message", "subtype": "channel_topic", "channel": channel, "user": user,
		"topic": topic, "text": fmt.Sprintf("<@%s> set the channel topic: %s", user, topic),
		"ts": ts, "event_ts": ts, "channel_type": "channel",
	}
}

// MemberJoinedChannelEvent is sent when user joins channel; inviter is set
// only when someone else added them.
func MemberJoinedChannelEvent(channel, user, inviter, eventTS string) Event {
	ev := Event{
		"type": "member_joined_channel", "user": user, "channel": channel,
		"channel_type": "C", "event_ts": eventTS,
	}
	if inviter != "" {
		ev["inviter"] = inviter
	}
	return ev
}

// PinAddedEvent is sent when user pins the message messageTS. Note Slack's
// field is "channel_id", not "channel".
func PinAddedEvent(channel, user, messageTS, eventTS string) Event {
	return Event{
		"type": "pin_added", "user": user, "channel_id": channel,
		"item": map[string]any{
			"type": "message", "channel": channel, "created_by": user,
			"message": map[string]any{"type": "message", "ts": messageTS, "pinned_to": []string{channel}},
		},
		"event_ts": eventTS,
	}
}

// ReactionAddedEvent is sent when user reacts to the message messageTS
// written by itemUser.
func ReactionAddedEvent(channel, user, itemUser, messageTS, reaction, eventTS string) Event {
	return Event{
		"type": "reaction_added", "user": user, "reaction": reaction, "item_user": itemUser,
		"item":     map[string]any{"type": "message", "channel": channel, "ts": messageTS},
		"event_ts": eventTS,
	}
}

// ActionError is why a simulated user action was refused, with the error code
// Slack would have given.
type ActionError struct {
	Action string
	Code   string
}

func (e *ActionError) Error() string { return "slackfake: " + e.Action + ": " + e.Code }

// UserPosts posts text as user (who must be in the channel) and returns the
// message event Slack would deliver.
func (s *Server) UserPosts(user, channelID, text string) (Event, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	c, code := s.actingLocked(user, channelID)
	if code == "" && !slices.Contains(c.Members, user) {
		code = "not_in_channel"
	}
	if code != "" {
		return nil, &ActionError{"UserPosts", code}
	}
	m := s.postLocked(c, principal{userID: user}, text, nil, "")
	ev := s.messageEventLocked(c, m)
	ev["client_msg_id"] = randomToken()[:32]
	return ev, nil
}

// UserRenames renames a channel as user did in the Slack client, and returns
// the channel_name message event. Renaming to the current name is refused
// with the (fake's own) code "name_unchanged", since Slack sends no event.
func (s *Server) UserRenames(user, channelID, newName string) (Event, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	c, code := s.actingLocked(user, channelID)
	if code == "" && (c.IsIM || c.IsMpIM) {
		code = "method_not_supported_for_channel_type"
	}
	if code == "" && newName == c.Name {
		code = "name_unchanged"
	}
	old := ""
	if code == "" {
		old = c.Name
		code = s.renameLocked(c, user, newName, false)
	}
	if code != "" {
		return nil, &ActionError{"UserRenames", code}
	}
	return s.decorateLocked(ChannelNameEvent(c.ID, user, old, newName, s.nextTS()), c), nil
}

// UserSetsTopic sets a channel's topic as user (who must be in the channel)
// and returns the channel_topic message event.
func (s *Server) UserSetsTopic(user, channelID, topic string) (Event, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	c, code := s.actingLocked(user, channelID)
	if code == "" {
		code = s.setTopicLocked(c, user, topic, false)
	}
	if code != "" {
		return nil, &ActionError{"UserSetsTopic", code}
	}
	return s.decorateLocked(ChannelTopicEvent(c.ID, user, topic, s.nextTS()), c), nil
}

// UserJoins adds user to a public channel on their own and returns the
// member_joined_channel event (no inviter).
func (s *Server) UserJoins(user, channelID string) (Event, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	c, code := s.actingLocked(user, channelID)
	switch {
	case code != "":
	case c.IsPrivate:
		code = "method_not_supported_for_channel_type"
	case slices.Contains(c.Members, user):
		code = "already_in_channel"
	}
	if code != "" {
		return nil, &ActionError{"UserJoins", code}
	}
	return s.joinLocked(c, user, "", false), nil
}

// UserInvites has inviter (a member) add user to a channel and returns the
// member_joined_channel event carrying the inviter.
func (s *Server) UserInvites(inviter, user, channelID string) (Event, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	c, code := s.actingLocked(inviter, channelID)
	switch {
	case code != "":
	case !slices.Contains(c.Members, inviter):
		code = "not_in_channel"
	case s.users[user] == nil || s.users[user].Deleted:
		code = "user_not_found"
	case slices.Contains(c.Members, user):
		code = "already_in_channel"
	}
	if code != "" {
		return nil, &ActionError{"UserInvites", code}
	}
	return s.joinLocked(c, user, inviter, false), nil
}

// UserPins pins the message ts as user and returns the pin_added event.
func (s *Server) UserPins(user, channelID, ts string) (Event, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	c, code := s.actingLocked(user, channelID)
	var m *message
	if code == "" {
		if m = s.findMessageLocked(c.ID, ts); m == nil {
			code = "message_not_found"
		}
	}
	if code == "" {
		code = s.pinLocked(c, m, user, false)
	}
	if code != "" {
		return nil, &ActionError{"UserPins", code}
	}
	return s.pinEventLocked("pin_added", c, m, user), nil
}

// UserReacts adds reaction (without colons, e.g. "+1") to the message ts as
// user and returns the reaction_added event.
func (s *Server) UserReacts(user, channelID, ts, reaction string) (Event, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	c, code := s.actingLocked(user, channelID)
	var m *message
	if code == "" {
		if m = s.findMessageLocked(c.ID, ts); m == nil {
			code = "message_not_found"
		}
	}
	if code == "" {
		code = s.reactLocked(c, m, user, reaction, false)
	}
	if code != "" {
		return nil, &ActionError{"UserReacts", code}
	}
	return s.decorateLocked(ReactionAddedEvent(c.ID, user, m.User, m.TS, reaction, s.nextTS()), c), nil
}

// actingLocked checks that user is an active member of the workspace and can
// see the channel.
func (s *Server) actingLocked(user, channelID string) (*channel, string) {
	if u := s.users[user]; u == nil || u.Deleted {
		return nil, "user_not_found"
	}
	return s.visibleChannelLocked(principal{userID: user}, channelID)
}

// decorateLocked adds what Slack adds to every event about a conversation:
// the team and the conversation type ("channel"/"group"/"im"/"mpim" on
// messages, "C"/"G" on membership events).
func (s *Server) decorateLocked(ev Event, c *channel) Event {
	ev["team"] = s.teamID
	switch ev.Type() {
	case "message":
		switch {
		case c.IsIM:
			ev["channel_type"] = "im"
		case c.IsMpIM:
			ev["channel_type"] = "mpim"
		case c.IsPrivate:
			ev["channel_type"] = "group"
		default:
			ev["channel_type"] = "channel"
		}
	case "member_joined_channel", "member_left_channel":
		ev["channel_type"] = "C"
		if c.IsPrivate {
			ev["channel_type"] = "G"
		}
	}
	return ev
}

func (s *Server) messageEventLocked(c *channel, m *message) Event {
	ev := MessageEvent(c.ID, m.User, m.Text, m.TS)
	if m.BotID != "" {
		ev["bot_id"], ev["app_id"] = m.BotID, s.appID
	}
	if m.Blocks != nil {
		ev["blocks"] = m.Blocks
	}
	if m.ThreadTS != "" {
		ev["thread_ts"] = m.ThreadTS
	}
	return s.decorateLocked(ev, c)
}

func (s *Server) messageChangedEventLocked(c *channel, before Message, m *message) Event {
	ts := s.nextTS()
	prev := &message{Message: before}
	return s.decorateLocked(Event{
		"type": "message", "subtype": "message_changed", "hidden": true, "channel": c.ID,
		"message": s.messageJSON(m), "previous_message": s.messageJSON(prev),
		"ts": ts, "event_ts": ts,
	}, c)
}

func (s *Server) messageDeletedEventLocked(c *channel, m *message) Event {
	ts := s.nextTS()
	return s.decorateLocked(Event{
		"type": "message", "subtype": "message_deleted", "hidden": true, "channel": c.ID,
		"deleted_ts": m.TS, "previous_message": s.messageJSON(m),
		"ts": ts, "event_ts": ts,
	}, c)
}

func (s *Server) pinEventLocked(typ string, c *channel, m *message, by string) Event {
	ev := PinAddedEvent(c.ID, by, m.TS, s.nextTS())
	ev["type"] = typ
	msg := s.messageJSON(m)
	msg["pinned_to"] = []string{c.ID}
	ev["item"].(map[string]any)["message"] = msg
	ev["item_user"] = m.User
	ev["pin_count"] = len(s.pins[c.ID])
	return s.decorateLocked(ev, c)
}
