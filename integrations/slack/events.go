package slack

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	slackapi "github.com/slack-go/slack"
	"github.com/slack-go/slack/slackevents"

	"policykit/engine"
	"policykit/models"
)

// handleEvent turns one Events API delivery into a governed action, if it is one. Events
// from workspaces no community connected, our own echoes, and message subtypes that are not
// actions (edits, deletions, bot messages) are dropped.
func (s *Slack) handleEvent(ctx context.Context, body []byte, receipt *engine.Receipt) error {
	var env envelope
	if err := json.Unmarshal(body, &env); err != nil {
		return fmt.Errorf("decode event: %w", err)
	}
	ws, err := s.workspaceByTeam(ctx, env.TeamID)
	if errors.Is(err, models.ErrNotFound) {
		s.log.Info("event from a Slack workspace no community has connected", "team", env.TeamID)
		return nil
	}
	if err != nil {
		return err
	}
	var head struct {
		Type string `json:"type"`
	}
	if err := json.Unmarshal(env.Event, &head); err != nil {
		return fmt.Errorf("decode event: %w", err)
	}
	if head.Type == "app_uninstalled" || head.Type == "tokens_revoked" {
		if ws.conn.Status == models.ConnectionDisconnecting {
			return nil // the community's disconnection is under way: it deletes the connection
		}
		return s.store.SetConnectionStatus(ctx, ws.conn.ID, "disconnected: the app was uninstalled from Slack")
	}
	// Before the community approves the workspace, what happens there is not governed: what
	// members do is refused (and counted on the workspace's page), the rest is dropped.
	switch {
	case ws.conn.Governed():
	case head.Type == "message" || head.Type == "member_joined_channel" || head.Type == "pin_added":
		_, err := s.eng.Governs(ctx, ws.conn)
		return err
	default:
		return nil
	}
	switch head.Type {
	case "message":
		var ev slackevents.MessageEvent
		if err := json.Unmarshal(env.Event, &ev); err != nil {
			return fmt.Errorf("decode message event: %w", err)
		}
		return s.onMessage(ctx, ws, &ev, receipt)
	case "member_joined_channel":
		var ev slackevents.MemberJoinedChannelEvent
		if err := json.Unmarshal(env.Event, &ev); err != nil {
			return fmt.Errorf("decode member_joined_channel: %w", err)
		}
		return s.onJoin(ctx, ws, &ev, receipt)
	case "pin_added":
		var ev slackevents.PinAddedEvent
		if err := json.Unmarshal(env.Event, &ev); err != nil {
			return fmt.Errorf("decode pin_added: %w", err)
		}
		return s.onPin(ctx, ws, &ev, receipt)
	case "team_join":
		var ev slackevents.TeamJoinEvent
		if err := json.Unmarshal(env.Event, &ev); err != nil {
			return fmt.Errorf("decode team_join: %w", err)
		}
		if ev.User == nil {
			return errors.New("team_join without a user")
		}
		_, err := s.store.AddPlatformMembers(ctx, ws.conn.CommunityID, PlatformName, ws.conn.ExternalID, syncable([]slackapi.User{*ev.User}, ws))
		return err
	case "channel_rename":
		var ev slackevents.ChannelRenameEvent
		if err := json.Unmarshal(env.Event, &ev); err != nil {
			return fmt.Errorf("decode channel_rename: %w", err)
		}
		return s.store.SetChannelName(ctx, ws.conn.ID, ev.Channel.ID, ev.Channel.Name)
	}
	return nil
}

// fromUs tells events caused by the bot token: they carry the bot's user id or a bot id.
func fromUs(ws *workspace, user, botID string) bool {
	return botID != "" || (user != "" && user == ws.conn.BotUserID)
}

// echoOf tells whether an event is the echo of a call we made with the admin's token, and
// forgets the expectation (each call excuses one event). An echo's delivery is consumed in
// the same transaction: processed again after a crash, the event is either still an echo or
// already done, never mistaken for a member's action.
func (s *Slack) echoOf(ctx context.Context, ws *workspace, key string, receipt *engine.Receipt) (bool, error) {
	var echo bool
	err := s.store.Tx(ctx, func(tx *models.Store) error {
		var err error
		if echo, err = tx.ConsumeEcho(ctx, ws.conn.ID, key, s.cfg.Now()); err != nil || !echo || receipt == nil {
			return err
		}
		_, err = tx.ConsumeDelivery(ctx, receipt.Platform, receipt.Key)
		return err
	})
	return echo, err
}

func (s *Slack) onMessage(ctx context.Context, ws *workspace, ev *slackevents.MessageEvent, receipt *engine.Receipt) error {
	switch ev.SubType {
	case "": // a post
		if ev.ChannelType == "im" || ev.ChannelType == "mpim" || ev.User == "" || fromUs(ws, ev.User, ev.BotID) {
			return nil // direct messages are private conversations, not community actions
		}
		params := map[string]any{"channel": ev.Channel, "text": ev.Text, "channel_name": s.channelName(ctx, ws, ev.Channel)}
		if ev.ThreadTimeStamp != "" && ev.ThreadTimeStamp != ev.TimeStamp {
			params["thread_ts"] = ev.ThreadTimeStamp
		}
		return s.submit(ctx, ws, receipt, TypePostMessage, ev.User, params, map[string]string{"team": ws.conn.ExternalID, "user": ev.User, "ts": ev.TimeStamp})
	case slackapi.MsgSubTypeChannelName: // unlike channel_rename, this one says who renamed
		name, old := ev.Message.Name, ev.Message.OldName
		if err := s.store.SetChannelName(ctx, ws.conn.ID, ev.Channel, name); err != nil {
			return err
		}
		if fromUs(ws, ev.User, ev.BotID) || ev.User == "" {
			return nil
		}
		if echo, err := s.echoOf(ctx, ws, echoKey("rename", ev.Channel, name), receipt); err != nil || echo {
			return err
		}
		return s.submit(ctx, ws, receipt, TypeRenameChannel, ev.User, map[string]any{"channel": ev.Channel, "name": name, "previous_name": old},
			map[string]string{"team": ws.conn.ExternalID, "user": ev.User, "ts": ev.TimeStamp})
	case slackapi.MsgSubTypeChannelTopic:
		topic := ev.Message.Topic
		// The event does not say what the topic was: that is what we last saw.
		previous := ""
		if ch, err := s.store.ChannelByID(ctx, ws.conn.ID, ev.Channel); err == nil {
			previous = ch.Topic
		}
		if err := s.store.SetChannelTopic(ctx, ws.conn.ID, ev.Channel, topic); err != nil {
			return err
		}
		if fromUs(ws, ev.User, ev.BotID) || ev.User == "" {
			return nil
		}
		if echo, err := s.echoOf(ctx, ws, echoKey("topic", ev.Channel, topic), receipt); err != nil || echo {
			return err
		}
		return s.submit(ctx, ws, receipt, TypeSetTopic, ev.User, map[string]any{"channel": ev.Channel, "topic": topic, "previous_topic": previous,
			"channel_name": s.channelName(ctx, ws, ev.Channel)}, map[string]string{"team": ws.conn.ExternalID, "user": ev.User, "ts": ev.TimeStamp})
	}
	return nil // edits, deletions, joins, bot messages…: not governed
}

func (s *Slack) onJoin(ctx context.Context, ws *workspace, ev *slackevents.MemberJoinedChannelEvent, receipt *engine.Receipt) error {
	if ev.User == ws.conn.BotUserID {
		// The bot was added to a channel: its posts are governed from now on; learn its
		// name and topic so a topic change can be reverted.
		if info, err := ws.bot.GetConversationInfoContext(ctx, &slackapi.GetConversationInfoInput{ChannelID: ev.Channel}); err == nil {
			return s.store.SaveChannels(ctx, []models.PlatformChannel{{ConnectionID: ws.conn.ID, ChannelID: info.ID, Name: info.Name, Topic: info.Topic.Value}})
		}
		return nil
	}
	initiator := ev.User
	if ev.Inviter != "" {
		initiator = ev.Inviter
	}
	if fromUs(ws, initiator, "") {
		return nil
	}
	if echo, err := s.echoOf(ctx, ws, echoKey("join", ev.Channel, ev.User), receipt); err != nil || echo {
		return err
	}
	joined, err := s.memberFor(ctx, ws, ev.User)
	if err != nil {
		return err
	}
	params := map[string]any{"channel": ev.Channel, "member": joined.ID, "channel_name": s.channelName(ctx, ws, ev.Channel)}
	if ids, err := s.store.IdentitiesByMember(ctx, ws.conn.CommunityID, PlatformName, []int64{joined.ID}); err == nil && ids[joined.ID].Username != "" {
		params["username"] = ids[joined.ID].Username
	}
	return s.submit(ctx, ws, receipt, TypeJoinChannel, initiator, params, map[string]string{"team": ws.conn.ExternalID, "user": initiator, "joined_user": ev.User})
}

func (s *Slack) onPin(ctx context.Context, ws *workspace, ev *slackevents.PinAddedEvent, receipt *engine.Receipt) error {
	if fromUs(ws, ev.User, "") || ev.User == "" || ev.Item.Type != "message" || ev.Item.Message == nil {
		return nil
	}
	ts := ev.Item.Message.Timestamp
	if echo, err := s.echoOf(ctx, ws, echoKey("pin", ev.Channel, ts), receipt); err != nil || echo {
		return err
	}
	return s.submit(ctx, ws, receipt, TypePinMessage, ev.User, map[string]any{"channel": ev.Channel, "ts": ts,
		"text": excerpt(ev.Item.Message.Text, 4000), "channel_name": s.channelName(ctx, ws, ev.Channel)},
		map[string]string{"team": ws.conn.ExternalID, "user": ev.User})
}

// submit governs an action that happened in Slack, by the member linked to slackUser.
func (s *Slack) submit(ctx context.Context, ws *workspace, receipt *engine.Receipt, typ, slackUser string, params map[string]any, refs map[string]string) error {
	m, err := s.memberFor(ctx, ws, slackUser)
	if err != nil {
		return err
	}
	res, err := s.eng.Submit(ctx, engine.Submission{CommunityID: ws.conn.CommunityID, Type: typ, InitiatorID: m.ID,
		Params: params, Origin: models.OriginPlatform, ExternalRefs: refs, Receipt: receipt})
	if err != nil {
		return fmt.Errorf("govern %s by %s: %w", typ, slackUser, err) // ErrAlreadyGoverned stays recognisable
	}
	s.log.Debug("governed a slack action", "type", typ, "action", res.Action.ID, "status", res.Action.Status)
	return nil
}

// memberFor returns the member linked to a Slack user, adding the user as a member first if
// the workspace sync has not seen them yet.
func (s *Slack) memberFor(ctx context.Context, ws *workspace, userID string) (*models.Member, error) {
	m, err := s.store.MemberByIdentity(ctx, ws.conn.CommunityID, PlatformName, userID)
	if !errors.Is(err, models.ErrNotFound) {
		return m, err
	}
	u, err := ws.bot.GetUserInfoContext(ctx, userID)
	if err != nil {
		return nil, fmt.Errorf("look up slack user %s: %w", userID, err)
	}
	users := syncable([]slackapi.User{*u}, ws)
	if len(users) == 0 {
		return nil, fmt.Errorf("slack user %s is a bot or deactivated: %w", userID, models.ErrForbidden)
	}
	if _, err := s.store.AddPlatformMembers(ctx, ws.conn.CommunityID, PlatformName, ws.conn.ExternalID, users); err != nil && !errors.Is(err, models.ErrConflict) {
		return nil, err
	}
	return s.store.MemberByIdentity(ctx, ws.conn.CommunityID, PlatformName, userID)
}

// channelName is a channel's last known name, asking Slack the first time. A failed lookup
// leaves the name empty rather than failing governance over a label.
func (s *Slack) channelName(ctx context.Context, ws *workspace, channelID string) string {
	if ch, err := s.store.ChannelByID(ctx, ws.conn.ID, channelID); err == nil && ch.Name != "" {
		return ch.Name
	}
	info, err := ws.bot.GetConversationInfoContext(ctx, &slackapi.GetConversationInfoInput{ChannelID: channelID})
	if err != nil {
		s.log.Info("look up channel name", "channel", channelID, "err", err)
		return ""
	}
	if err := s.store.SaveChannels(ctx, []models.PlatformChannel{{ConnectionID: ws.conn.ID, ChannelID: info.ID, Name: info.Name, Topic: info.Topic.Value}}); err != nil {
		s.log.Warn("remember channel", "channel", channelID, "err", err)
	}
	return info.Name
}

// syncable keeps the workspace users who are people: not bots, not deactivated, not Slackbot.
func syncable(users []slackapi.User, ws *workspace) []models.NewPlatformMember {
	var out []models.NewPlatformMember
	for _, u := range users {
		if u.IsBot || u.Deleted || u.ID == "USLACKBOT" || u.ID == ws.conn.BotUserID || u.IsAppUser {
			continue
		}
		name := u.RealName
		if name == "" {
			name = u.Profile.RealName
		}
		out = append(out, models.NewPlatformMember{ExternalID: u.ID, Username: u.Name, DisplayName: name})
	}
	return out
}
