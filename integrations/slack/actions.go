package slack

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"unicode/utf8"

	slackapi "github.com/slack-go/slack"

	"policykit/engine"
	"policykit/models"
)

// Governable Slack action types.
const (
	TypePostMessage   = "slack.post_message"
	TypeRenameChannel = "slack.rename_channel"
	TypeJoinChannel   = "slack.join_channel"
	TypePinMessage    = "slack.pin_message"
	TypeSetTopic      = "slack.set_topic"
)

// ActionTypes implements engine.Platform.
func (s *Slack) ActionTypes() []engine.ActionType { return actionTypes() }

func actionTypes() []engine.ActionType {
	channel := engine.Param{Name: "channel", Label: "Channel", Type: engine.ParamChannel, Required: true,
		Help: "The Slack channel id, like C0123ABCD (policies compare action.channel with it)."}
	channelName := engine.Param{Name: "channel_name", Label: "Channel name", Type: engine.ParamString, Max: 80,
		Help: "For people reading the proposal; filled in for actions that happen in Slack."}
	return []engine.ActionType{
		{Name: TypePostMessage, Label: "Post a message", Platform: PlatformName, Summary: summarizePost, Params: []engine.Param{
			channel,
			{Name: "text", Label: "Message", Type: engine.ParamText, Required: true, Max: 40000},
			channelName,
			{Name: "thread_ts", Label: "Thread", Type: engine.ParamString, Max: 40, Help: "Timestamp of the thread's first message, to reply in a thread."},
		}},
		{Name: TypeRenameChannel, Label: "Rename a channel", Platform: PlatformName, Summary: summarizeRename, Check: checkRename, Params: []engine.Param{
			channel,
			{Name: "name", Label: "New name", Type: engine.ParamString, Required: true, Max: 80},
			{Name: "previous_name", Label: "Previous name", Type: engine.ParamString, Max: 80},
		}},
		{Name: TypeJoinChannel, Label: "Join a channel", Platform: PlatformName, Summary: summarizeJoin, Check: checkJoin, Params: []engine.Param{
			channel,
			{Name: "member", Label: "Who joins", Type: engine.ParamMember, Required: true},
			{Name: "username", Label: "Their Slack handle", Type: engine.ParamString, Max: 80,
				Help: "For people reading the proposal; filled in for joins that happen in Slack."},
			channelName,
		}},
		{Name: TypePinMessage, Label: "Pin a message", Platform: PlatformName, Summary: summarizePin, Params: []engine.Param{
			channel,
			{Name: "ts", Label: "Message timestamp", Type: engine.ParamString, Required: true, Max: 40},
			{Name: "text", Label: "Message text", Type: engine.ParamText, Max: 4000, Help: "For people reading the proposal."},
			channelName,
		}},
		{Name: TypeSetTopic, Label: "Set a channel's topic", Platform: PlatformName, Summary: summarizeTopic, Check: checkTopic, Params: []engine.Param{
			channel,
			{Name: "topic", Label: "Topic", Type: engine.ParamString, Max: 250},
			{Name: "previous_topic", Label: "Previous topic", Type: engine.ParamString, Max: 250},
			channelName,
		}},
	}
}

func str(p map[string]any, k string) string { s, _ := p[k].(string); return s }

// channelNameRE is what Slack accepts as a channel name (conversations.rename answers
// invalid_name_specials otherwise).
var channelNameRE = regexp.MustCompile(`^[a-z0-9_-]{1,80}$`)

// checkRename refuses a name Slack would refuse, and renaming a channel to its own name.
func checkRename(ctx context.Context, s *engine.State, p map[string]any) error {
	name := str(p, "name")
	if !channelNameRE.MatchString(name) {
		return models.Invalid("name", "a Slack channel name has only lowercase letters, digits, hyphens and underscores (at most 80)")
	}
	if !s.Proposed() {
		return nil
	}
	ch, err := s.Store.ChannelByID(ctx, s.Connection.ID, str(p, "channel"))
	if err != nil {
		return err
	}
	if ch.Name == name {
		return models.Invalid("name", fmt.Sprintf("no change: the channel is already called #%s", name))
	}
	return nil
}

// checkTopic refuses setting a channel's topic to the topic it has.
func checkTopic(ctx context.Context, s *engine.State, p map[string]any) error {
	if !s.Proposed() {
		return nil
	}
	ch, err := s.Store.ChannelByID(ctx, s.Connection.ID, str(p, "channel"))
	if err != nil {
		return err
	}
	if ch.Topic == str(p, "topic") {
		return models.Invalid("topic", fmt.Sprintf("no change: #%s already has this topic", ch.Name))
	}
	return nil
}

// checkJoin needs the joining member to have a Slack account linked to their membership
// (a join that happened in Slack names its Slack user).
func checkJoin(ctx context.Context, s *engine.State, p map[string]any) error {
	if !s.Proposed() {
		return nil
	}
	member := paramID(p, "member")
	ids, err := s.Store.IdentitiesByMember(ctx, s.Community.ID, PlatformName, []int64{member})
	if err != nil {
		return err
	}
	if _, ok := ids[member]; !ok {
		return models.Invalid("member", "this member has not linked a Slack account, so Slack cannot add them to a channel")
	}
	return nil
}

// paramID reads an id parameter: int64 when fresh, float64 or a JSON number once stored.
func paramID(p map[string]any, k string) int64 {
	switch v := p[k].(type) {
	case int64:
		return v
	case float64:
		return int64(v)
	case json.Number:
		n, _ := v.Int64()
		return n
	case string:
		n, _ := strconv.ParseInt(v, 10, 64)
		return n
	}
	return 0
}

func channelLabel(p map[string]any) string {
	if n := str(p, "channel_name"); n != "" {
		return "#" + n
	}
	return "channel " + str(p, "channel")
}

func excerpt(s string, n int) string {
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	return string([]rune(s)[:n-1]) + "…"
}

func summarizePost(p map[string]any) string {
	return fmt.Sprintf("post “%s” in %s", excerpt(str(p, "text"), 80), channelLabel(p))
}

func summarizeRename(p map[string]any) string {
	if prev := str(p, "previous_name"); prev != "" {
		return fmt.Sprintf("rename #%s to #%s", prev, str(p, "name"))
	}
	return fmt.Sprintf("rename channel %s to #%s", str(p, "channel"), str(p, "name"))
}

func summarizeJoin(p map[string]any) string {
	if u := str(p, "username"); u != "" {
		return fmt.Sprintf("@%s joins %s", u, channelLabel(p))
	}
	return fmt.Sprintf("member %d joins %s", paramID(p, "member"), channelLabel(p))
}

func summarizePin(p map[string]any) string {
	if t := str(p, "text"); t != "" {
		return fmt.Sprintf("pin “%s” in %s", excerpt(t, 80), channelLabel(p))
	}
	return "pin a message in " + channelLabel(p)
}

func summarizeTopic(p map[string]any) string {
	return fmt.Sprintf("set the topic of %s to “%s”", channelLabel(p), excerpt(str(p, "topic"), 80))
}

// echoKey names the event a call of ours will cause, as the event handler names the event.
func echoKey(kind, channel, value string) string {
	if kind == "topic" { // topics are long and free text
		sum := sha256.Sum256([]byte(value))
		value = hex.EncodeToString(sum[:12])
	}
	return kind + ":" + channel + ":" + value
}

// Execute implements engine.Platform: it carries out an approved action, or re-does one
// that happened in Slack and was reverted while it waited for a decision.
func (s *Slack) Execute(ctx context.Context, c engine.Call) (map[string]string, error) {
	ws, err := s.workspaceOf(ctx, c.Community.ID)
	if err != nil {
		return nil, err
	}
	p := c.Action.Params
	ch := str(p, "channel")
	switch c.Action.Type {
	case TypePostMessage:
		return s.postOnBehalf(ctx, ws, c)
	case TypeRenameChannel:
		if err := s.renameTo(ctx, ws, c, ch, str(p, "name")); err != nil {
			return nil, err
		}
		return map[string]string{"name": str(p, "name")}, nil
	case TypeJoinChannel:
		user, err := s.joiningUser(ctx, c)
		if err != nil {
			return nil, err
		}
		err = s.botThenAdmin(ctx, ws, echoKey("join", ch, user), func(cl *slackapi.Client) error {
			_, err := cl.InviteUsersToConversationContext(ctx, ch, user)
			return err
		})
		if slackCode(err) == "already_in_channel" {
			err = nil
		}
		return nil, s.deliveryError(ctx, ws, "conversations.invite", err)
	case TypePinMessage:
		ts := str(p, "ts")
		err := s.botThenAdmin(ctx, ws, echoKey("pin", ch, ts), func(cl *slackapi.Client) error {
			return cl.AddPinContext(ctx, ch, slackapi.NewRefToMessage(ch, ts))
		})
		if slackCode(err) == "already_pinned" {
			err = nil
		}
		return nil, s.deliveryError(ctx, ws, "pins.add", err)
	case TypeSetTopic:
		return nil, s.setTopic(ctx, ws, c, ch, str(p, "topic"))
	}
	return nil, engine.Permanent(fmt.Errorf("slack cannot execute %q", c.Action.Type))
}

// Revert implements engine.Platform: it undoes an action that happened in Slack while its
// proposal is pending, or for good when it failed.
func (s *Slack) Revert(ctx context.Context, c engine.Call) error {
	ws, err := s.workspaceOf(ctx, c.Community.ID)
	if err != nil {
		return err
	}
	p, refs := c.Action.Params, c.Action.ExternalRefs
	ch := str(p, "channel")
	switch c.Action.Type {
	case TypePostMessage:
		ts := refs["ts"]
		if ts == "" {
			return engine.Permanent(errors.New("the message's timestamp is unknown"))
		}
		// A bot token may delete only the bot's own messages; the admin's may delete any.
		err := s.asAdmin(ctx, ws, "", func(cl *slackapi.Client) error {
			_, _, err := cl.DeleteMessageContext(ctx, ch, ts)
			return err
		})
		if slackCode(err) == "message_not_found" {
			err = nil // already gone: deleted by an earlier attempt or by its author
		}
		return s.deliveryError(ctx, ws, "chat.delete", err)
	case TypeRenameChannel:
		prev := str(p, "previous_name")
		if prev == "" {
			return engine.Permanent(errors.New("the channel's previous name is unknown"))
		}
		return s.renameTo(ctx, ws, c, ch, prev)
	case TypeJoinChannel:
		user, err := s.joiningUser(ctx, c)
		if err != nil {
			return err
		}
		err = s.botThenAdmin(ctx, ws, "", func(cl *slackapi.Client) error {
			return cl.KickUserFromConversationContext(ctx, ch, user)
		})
		if slackCode(err) == "not_in_channel" {
			err = nil
		}
		return s.deliveryError(ctx, ws, "conversations.kick", err)
	case TypePinMessage:
		ts := str(p, "ts")
		err := s.botThenAdmin(ctx, ws, "", func(cl *slackapi.Client) error {
			return cl.RemovePinContext(ctx, ch, slackapi.NewRefToMessage(ch, ts))
		})
		if code := slackCode(err); code == "no_pin" || code == "message_not_found" {
			err = nil
		}
		return s.deliveryError(ctx, ws, "pins.remove", err)
	case TypeSetTopic:
		return s.setTopic(ctx, ws, c, ch, str(p, "previous_topic"))
	}
	return engine.Permanent(fmt.Errorf("slack cannot revert %q", c.Action.Type))
}

// renameTo renames a channel with the admin's token (Slack lets only admins and the
// channel's creator rename). A retried attempt first checks whether an earlier one already
// did it, so the rename and its echo happen once.
func (s *Slack) renameTo(ctx context.Context, ws *workspace, c engine.Call, channel, name string) error {
	if name == "" {
		return engine.Permanent(errors.New("no channel name to rename to"))
	}
	if c.Effect.Attempts > 1 {
		info, err := ws.bot.GetConversationInfoContext(ctx, &slackapi.GetConversationInfoInput{ChannelID: channel})
		if err != nil {
			return s.deliveryError(ctx, ws, "conversations.info", err)
		}
		if info.Name == name {
			return nil
		}
	}
	err := s.asAdmin(ctx, ws, echoKey("rename", channel, name), func(cl *slackapi.Client) error {
		_, err := cl.RenameConversationContext(ctx, channel, name)
		return err
	})
	return s.deliveryError(ctx, ws, "conversations.rename", err)
}

// setTopic sets a channel's topic, checking first on a retried attempt.
func (s *Slack) setTopic(ctx context.Context, ws *workspace, c engine.Call, channel, topic string) error {
	if c.Effect.Attempts > 1 {
		info, err := ws.bot.GetConversationInfoContext(ctx, &slackapi.GetConversationInfoInput{ChannelID: channel})
		if err != nil {
			return s.deliveryError(ctx, ws, "conversations.info", err)
		}
		if info.Topic.Value == topic {
			return nil
		}
	}
	err := s.botThenAdmin(ctx, ws, echoKey("topic", channel, topic), func(cl *slackapi.Client) error {
		_, err := cl.SetTopicOfConversationContext(ctx, channel, topic)
		return err
	})
	return s.deliveryError(ctx, ws, "conversations.setTopic", err)
}

// postOnBehalf re-posts an approved message as the bot, saying whose it is. Slack offers no
// idempotency key for posts: the posted message is recorded as soon as Slack answers, so a
// retry after a later failure does not post it again.
func (s *Slack) postOnBehalf(ctx context.Context, ws *workspace, c engine.Call) (map[string]string, error) {
	parts, err := s.parts(ctx, c)
	if err != nil {
		return nil, err
	}
	if ch, ts, ok := splitRef(parts["post"]); ok {
		return map[string]string{"posted_channel": ch, "posted_ts": ts}, nil
	}
	p := c.Action.Params
	text := str(p, "text")
	author, err := s.authorOf(ctx, c)
	if err != nil {
		return nil, err
	}
	note := fmt.Sprintf("Posted by PolicyKit on behalf of %s, as %s decided.", author, c.Community.Name)
	opts := []slackapi.MsgOption{slackapi.MsgOptionText(text, false)}
	if utf8.RuneCountInString(text) <= 3000 { // a section's text limit; longer ones go as plain text
		opts = append(opts, slackapi.MsgOptionBlocks(
			slackapi.NewSectionBlock(slackapi.NewTextBlockObject(slackapi.MarkdownType, text, false, false), nil, nil),
			slackapi.NewContextBlock("", slackapi.NewTextBlockObject(slackapi.MarkdownType, note, false, false)),
		))
	}
	if thread := str(p, "thread_ts"); thread != "" {
		opts = append(opts, slackapi.MsgOptionTS(thread))
	}
	ch, ts, err := ws.bot.PostMessageContext(ctx, str(p, "channel"), opts...)
	if err != nil {
		return nil, s.deliveryError(ctx, ws, "chat.postMessage", err)
	}
	s.sent(ctx, c, "post", messageRef(ch, ts))
	return map[string]string{"posted_channel": ch, "posted_ts": ts}, nil
}

// authorOf names an action's initiator for Slack: a mention when they have a Slack account.
func (s *Slack) authorOf(ctx context.Context, c engine.Call) (string, error) {
	if u := c.Action.ExternalRefs["user"]; u != "" {
		return "<@" + u + ">", nil
	}
	if c.Action.InitiatorID == nil {
		return "a former member", nil
	}
	ids, err := s.store.IdentitiesByMember(ctx, c.Community.ID, PlatformName, []int64{*c.Action.InitiatorID})
	if err != nil {
		return "", err
	}
	if id, ok := ids[*c.Action.InitiatorID]; ok {
		return "<@" + id.ExternalID + ">", nil
	}
	m, err := s.store.MemberByID(ctx, c.Community.ID, *c.Action.InitiatorID)
	if errors.Is(err, models.ErrNotFound) {
		return "a former member", nil
	}
	if err != nil {
		return "", err
	}
	return m.DisplayName, nil
}

// joiningUser is the Slack user a join action is about.
func (s *Slack) joiningUser(ctx context.Context, c engine.Call) (string, error) {
	if u := c.Action.ExternalRefs["joined_user"]; u != "" {
		return u, nil
	}
	member := paramID(c.Action.Params, "member")
	ids, err := s.store.IdentitiesByMember(ctx, c.Community.ID, PlatformName, []int64{member})
	if err != nil {
		return "", err
	}
	id, ok := ids[member]
	if !ok {
		return "", engine.Permanent(fmt.Errorf("member %d has no linked Slack account", member))
	}
	return id.ExternalID, nil
}
