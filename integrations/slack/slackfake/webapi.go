package slackfake

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"
)

// request is one authenticated Web API call as a handler sees it.
type request struct {
	who   principal
	token string
	form  url.Values
	http  *http.Request
}

// handler maps a Web API method to its implementation. Every handler runs
// with s.mu held.
func (s *Server) handler(method string) (func(*request) reply, bool) {
	switch method {
	case "auth.test":
		return s.authTest, true
	case "auth.revoke":
		return s.authRevoke, true
	case "chat.postMessage":
		return s.chatPostMessage, true
	case "chat.update":
		return s.chatUpdate, true
	case "chat.delete":
		return s.chatDelete, true
	case "chat.postEphemeral":
		return s.chatPostEphemeral, true
	case "conversations.rename":
		return s.conversationsRename, true
	case "conversations.setTopic":
		return s.conversationsSetTopic, true
	case "conversations.kick":
		return s.conversationsKick, true
	case "conversations.invite":
		return s.conversationsInvite, true
	case "conversations.info":
		return s.conversationsInfo, true
	case "conversations.members":
		return s.conversationsMembers, true
	case "conversations.list":
		return s.conversationsList, true
	case "conversations.open":
		return s.conversationsOpen, true
	case "pins.add":
		return s.pinsAdd, true
	case "pins.remove":
		return s.pinsRemove, true
	case "reactions.add":
		return s.reactionsAdd, true
	case "reactions.remove":
		return s.reactionsRemove, true
	case "reactions.get":
		return s.reactionsGet, true
	case "users.list":
		return s.usersList, true
	case "users.info":
		return s.usersInfo, true
	case "oauth.v2.access":
		return s.oauthV2Access, true
	case "apps.connections.open":
		return s.appsConnectionsOpen, true
	}
	return nil, false
}

func (s *Server) authTest(q *request) reply {
	u := s.users[q.who.userID]
	out := reply{
		"url":                   "https://policykit-test.slack.com/",
		"team":                  s.teamName,
		"user":                  u.Name,
		"team_id":               s.teamID,
		"user_id":               u.ID,
		"is_enterprise_install": false,
	}
	if q.who.bot {
		out["bot_id"] = s.botID
	}
	return success(out)
}

// authRevoke revokes the calling token (an app giving its tokens up), as Slack does.
func (s *Server) authRevoke(q *request) reply {
	s.revoke[q.token] = true
	return success(reply{"revoked": true})
}

// chatPostMessage posts as the token's owner. A user id as channel posts to
// the caller's DM with that user, as Slack does. The bot may post in public
// channels it has not joined (chat:write.public); users may not.
func (s *Server) chatPostMessage(q *request) reply {
	c, code := s.postTargetLocked(q.who, q.form.Get("channel"))
	if code != "" {
		return fail(code)
	}
	if !q.who.bot && !slices.Contains(c.Members, q.who.userID) {
		return fail("not_in_channel")
	}
	text := q.form.Get("text")
	blocks, code := normalizeBlocks(q.form.Get("blocks"))
	if code != "" {
		return fail(code)
	}
	if text == "" && blocks == nil && q.form.Get("attachments") == "" {
		return fail("no_text")
	}
	if len(text) > 40000 {
		return fail("msg_too_long")
	}
	m := s.postLocked(c, q.who, text, blocks, q.form.Get("thread_ts"))
	s.echoes = append(s.echoes, s.messageEventLocked(c, m))
	return success(reply{"channel": c.ID, "ts": m.TS, "message": s.messageJSON(m)})
}

func (s *Server) postTargetLocked(who principal, target string) (*channel, string) {
	if target == "" {
		return nil, "channel_not_found"
	}
	if u := s.users[target]; u != nil {
		if u.Deleted {
			return nil, "user_disabled"
		}
		c, _ := s.openDMLocked(who.userID, []string{target})
		return c, ""
	}
	if name, ok := strings.CutPrefix(target, "#"); ok {
		if c := s.channelByNameLocked(name); c != nil {
			target = c.ID
		}
	}
	return s.visibleChannelLocked(who, target)
}

func (s *Server) postLocked(c *channel, who principal, text string, blocks json.RawMessage, threadTS string) *message {
	m := &message{Message: Message{
		Channel:  c.ID,
		TS:       s.nextTS(),
		ThreadTS: threadTS,
		User:     who.userID,
		Text:     text,
		Blocks:   blocks,
	}}
	if who.bot {
		m.BotID = s.botID
	}
	s.msgs[c.ID] = append(s.msgs[c.ID], m)
	return m
}

// chatUpdate edits a message. Slack lets only the author edit, admins
// included; the bot token edits the bot's messages.
func (s *Server) chatUpdate(q *request) reply {
	c, code := s.visibleChannelLocked(q.who, q.form.Get("channel"))
	if code != "" {
		return fail(code)
	}
	m := s.findMessageLocked(c.ID, q.form.Get("ts"))
	if m == nil {
		return fail("message_not_found")
	}
	if !s.isAuthor(q.who, m) {
		return fail("cant_update_message")
	}
	_, hasText := q.form["text"]
	_, hasBlocks := q.form["blocks"]
	if !hasText && !hasBlocks && q.form.Get("attachments") == "" {
		return fail("no_text")
	}
	blocks, code := normalizeBlocks(q.form.Get("blocks"))
	if code != "" {
		return fail(code)
	}
	before := m.snapshot()
	if hasText {
		m.Text = q.form.Get("text")
	}
	if hasBlocks {
		m.Blocks = blocks
	}
	m.Edited = true
	s.echoes = append(s.echoes, s.messageChangedEventLocked(c, before, m))
	return success(reply{"channel": c.ID, "ts": m.TS, "text": m.Text, "message": s.messageJSON(m)})
}

// chatDelete removes a message. A bot token may delete only the bot's own
// messages and a user only their own, but an admin user may delete any: the
// reason PolicyKit reverts posts with the installer admin's token.
func (s *Server) chatDelete(q *request) reply {
	c, code := s.visibleChannelLocked(q.who, q.form.Get("channel"))
	if code != "" {
		return fail(code)
	}
	m := s.findMessageLocked(c.ID, q.form.Get("ts"))
	if m == nil {
		return fail("message_not_found")
	}
	if !s.isAuthor(q.who, m) && !s.isAdmin(q.who) {
		return fail("cant_delete_message")
	}
	s.deleteMessageLocked(c, m)
	return success(reply{"channel": c.ID, "ts": m.TS})
}

func (s *Server) deleteMessageLocked(c *channel, m *message) {
	s.msgs[c.ID] = slices.DeleteFunc(s.msgs[c.ID], func(x *message) bool { return x == m })
	s.pins[c.ID] = slices.DeleteFunc(s.pins[c.ID], func(ts string) bool { return ts == m.TS })
	s.echoes = append(s.echoes, s.messageDeletedEventLocked(c, m))
}

func (s *Server) chatPostEphemeral(q *request) reply {
	c, code := s.postTargetLocked(q.who, q.form.Get("channel"))
	if code != "" {
		return fail(code)
	}
	if !q.who.bot && !slices.Contains(c.Members, q.who.userID) {
		return fail("not_in_channel")
	}
	target := q.form.Get("user")
	if s.users[target] == nil {
		return fail("user_not_found")
	}
	if !slices.Contains(c.Members, target) {
		return fail("user_not_in_channel")
	}
	text := q.form.Get("text")
	blocks, code := normalizeBlocks(q.form.Get("blocks"))
	if code != "" {
		return fail(code)
	}
	if text == "" && blocks == nil && q.form.Get("attachments") == "" {
		return fail("no_text")
	}
	ts := s.nextTS()
	s.ephem = append(s.ephem, Ephemeral{Channel: c.ID, User: target, PostedBy: q.who.userID, TS: ts, Text: text, Blocks: blocks})
	return success(reply{"message_ts": ts})
}

// conversationsRename renames a channel. Only the channel's creator or a
// workspace admin may; that is why PolicyKit renames back with the admin's
// user token.
func (s *Server) conversationsRename(q *request) reply {
	c, code := s.visibleChannelLocked(q.who, q.form.Get("channel"))
	if code != "" {
		return fail(code)
	}
	if c.IsIM || c.IsMpIM {
		return fail("method_not_supported_for_channel_type")
	}
	if !s.isAdmin(q.who) && c.Creator != q.who.userID {
		return fail("not_authorized")
	}
	if code := s.renameLocked(c, q.who.userID, q.form.Get("name"), true); code != "" {
		return fail(code)
	}
	return success(reply{"channel": s.channelJSON(c, q.who.userID, false)})
}

// renameLocked validates and applies a rename; echo records the events Slack
// would send the app.
func (s *Server) renameLocked(c *channel, by, name string, echo bool) string {
	if code := validChannelName(name); code != "" {
		return code
	}
	if name == c.Name {
		return ""
	}
	if s.channelByNameLocked(name) != nil {
		return "name_taken"
	}
	old := c.Name
	c.PreviousNames = append([]string{old}, c.PreviousNames...)
	c.Name = name
	if echo {
		ts := s.nextTS()
		s.echoes = append(s.echoes,
			s.decorateLocked(ChannelNameEvent(c.ID, by, old, name, ts), c),
			Event{"type": "channel_rename", "channel": map[string]any{
				"id": c.ID, "name": name, "name_normalized": name, "created": c.created,
				"is_channel": !c.IsPrivate, "is_mpim": false,
			}, "event_ts": ts},
		)
	}
	return ""
}

// validChannelName applies Slack's naming rules: lower-case letters, digits,
// hyphens and underscores, at most 80 characters, not only punctuation.
func validChannelName(name string) string {
	switch {
	case name == "":
		return "invalid_name_required"
	case utf8.RuneCountInString(name) > 80:
		return "invalid_name_maxlength"
	}
	for _, r := range name {
		lowerLetter := unicode.IsLetter(r) && !unicode.IsUpper(r)
		if !lowerLetter && !unicode.IsDigit(r) && r != '-' && r != '_' {
			return "invalid_name_specials"
		}
	}
	if strings.Trim(name, "-_") == "" {
		return "invalid_name_punctuation"
	}
	return ""
}

func (s *Server) conversationsSetTopic(q *request) reply {
	c, code := s.visibleChannelLocked(q.who, q.form.Get("channel"))
	if code != "" {
		return fail(code)
	}
	if code := s.setTopicLocked(c, q.who.userID, q.form.Get("topic"), true); code != "" {
		return fail(code)
	}
	return success(reply{"channel": s.channelJSON(c, q.who.userID, false)})
}

func (s *Server) setTopicLocked(c *channel, by, topic string, echo bool) string {
	if !slices.Contains(c.Members, by) {
		return "not_in_channel"
	}
	if utf8.RuneCountInString(topic) > 250 {
		return "too_long"
	}
	ts := s.nextTS()
	c.Topic, c.topicCreator, c.topicSet = topic, by, tsSeconds(ts)
	if echo {
		s.echoes = append(s.echoes, s.decorateLocked(ChannelTopicEvent(c.ID, by, topic, ts), c))
	}
	return ""
}

// conversationsKick answers {"ok":true,"errors":{}} on success, the odd shape
// real Slack sends and slack-go has a special type for.
func (s *Server) conversationsKick(q *request) reply {
	c, code := s.visibleChannelLocked(q.who, q.form.Get("channel"))
	if code != "" {
		return fail(code)
	}
	target := q.form.Get("user")
	switch {
	case c.IsIM || c.IsMpIM:
		return fail("method_not_supported_for_channel_type")
	case s.users[target] == nil:
		return fail("user_not_found")
	case target == q.who.userID:
		return fail("cant_kick_self")
	case c.IsGeneral:
		return fail("cant_kick_from_general")
	case !slices.Contains(c.Members, target):
		return fail("not_in_channel")
	}
	c.Members = slices.DeleteFunc(c.Members, func(m string) bool { return m == target })
	s.echoes = append(s.echoes, s.decorateLocked(Event{
		"type": "member_left_channel", "user": target, "channel": c.ID, "event_ts": s.nextTS(),
	}, c))
	return success(reply{"errors": map[string]any{}})
}

// conversationsInvite adds users; the caller must be in the channel. Like
// Slack without force=true, one bad user fails the whole call.
func (s *Server) conversationsInvite(q *request) reply {
	c, code := s.visibleChannelLocked(q.who, q.form.Get("channel"))
	if code != "" {
		return fail(code)
	}
	if c.IsIM || c.IsMpIM {
		return fail("method_not_supported_for_channel_type")
	}
	if !slices.Contains(c.Members, q.who.userID) {
		return fail("not_in_channel")
	}
	var users []string
	for u := range strings.SplitSeq(q.form.Get("users"), ",") {
		if u = strings.TrimSpace(u); u != "" {
			users = append(users, u)
		}
	}
	if len(users) == 0 {
		return fail("no_user")
	}
	var errs []map[string]any
	for _, u := range users {
		code := ""
		switch {
		case s.users[u] == nil:
			code = "user_not_found"
		case s.users[u].Deleted:
			code = "user_is_inactive"
		case u == q.who.userID:
			code = "cant_invite_self"
		case slices.Contains(c.Members, u):
			code = "already_in_channel"
		}
		if code != "" {
			errs = append(errs, map[string]any{"ok": false, "error": code, "user": u})
		}
	}
	if len(errs) > 0 {
		out := fail(errs[0]["error"].(string))
		out["errors"] = errs
		return out
	}
	for _, u := range users {
		s.joinLocked(c, u, q.who.userID, true)
	}
	return success(reply{"channel": s.channelJSON(c, q.who.userID, false)})
}

func (s *Server) joinLocked(c *channel, user, inviter string, echo bool) Event {
	c.Members = append(c.Members, user)
	ev := s.decorateLocked(MemberJoinedChannelEvent(c.ID, user, inviter, s.nextTS()), c)
	if echo {
		s.echoes = append(s.echoes, ev)
	}
	return ev
}

func (s *Server) conversationsInfo(q *request) reply {
	c, code := s.visibleChannelLocked(q.who, q.form.Get("channel"))
	if code != "" {
		return fail(code)
	}
	return success(reply{"channel": s.channelJSON(c, q.who.userID, q.form.Get("include_num_members") == "true")})
}

func (s *Server) conversationsMembers(q *request) reply {
	c, code := s.visibleChannelLocked(q.who, q.form.Get("channel"))
	if code != "" {
		return fail(code)
	}
	page, next, code := paginate(c.Members, q.form.Get("cursor"), q.form.Get("limit"), 100)
	if code != "" {
		return fail(code)
	}
	return success(reply{"members": page, "response_metadata": map[string]any{"next_cursor": next}})
}

// conversationsList lists the conversations the caller can see, filtered by types
// ("public_channel" when none is given, as Slack does), paginated like users.list.
func (s *Server) conversationsList(q *request) reply {
	types := map[string]bool{}
	for t := range strings.SplitSeq(q.form.Get("types"), ",") {
		if t = strings.TrimSpace(t); t != "" {
			types[t] = true
		}
	}
	if len(types) == 0 {
		types["public_channel"] = true
	}
	var ids []string
	for _, id := range s.corder {
		c := s.chans[id]
		if _, code := s.visibleChannelLocked(q.who, id); code != "" {
			continue
		}
		kind := "public_channel"
		switch {
		case c.IsIM:
			kind = "im"
		case c.IsMpIM:
			kind = "mpim"
		case c.IsPrivate:
			kind = "private_channel"
		}
		if types[kind] {
			ids = append(ids, id)
		}
	}
	page, next, code := paginate(ids, q.form.Get("cursor"), q.form.Get("limit"), 1000)
	if code != "" {
		return fail(code)
	}
	chans := make([]map[string]any, 0, len(page))
	for _, id := range page {
		chans = append(chans, s.channelJSON(s.chans[id], q.who.userID, true))
	}
	return success(reply{"channels": chans, "response_metadata": map[string]any{"next_cursor": next}})
}

// conversationsOpen opens (or finds) the caller's DM with one user, or a
// group DM with several, or returns an existing conversation by id.
func (s *Server) conversationsOpen(q *request) reply {
	if id := q.form.Get("channel"); id != "" {
		c, code := s.visibleChannelLocked(q.who, id)
		if code != "" {
			return fail(code)
		}
		return success(reply{"channel": s.channelJSON(c, q.who.userID, false), "no_op": true, "already_open": true})
	}
	var users []string
	for u := range strings.SplitSeq(q.form.Get("users"), ",") {
		if u = strings.TrimSpace(u); u != "" {
			users = append(users, u)
		}
	}
	if len(users) == 0 {
		return fail("users_list_not_supplied")
	}
	for _, u := range users {
		if s.users[u] == nil {
			return fail("user_not_found")
		}
	}
	c, existed := s.openDMLocked(q.who.userID, users)
	ch := any(map[string]any{"id": c.ID})
	if q.form.Get("return_im") == "true" {
		ch = s.channelJSON(c, q.who.userID, false)
	}
	out := reply{"channel": ch}
	if existed {
		out["no_op"], out["already_open"] = true, true
	}
	return success(out)
}

func (s *Server) openDMLocked(caller string, others []string) (*channel, bool) {
	members := slices.Compact(slices.Sorted(slices.Values(append([]string{caller}, others...))))
	key := sortedKey(members)
	if id, ok := s.dms[key]; ok {
		return s.chans[id], true
	}
	c := &channel{Channel: Channel{Creator: caller, Members: members}, created: firstTS + s.clock}
	if len(members) <= 2 {
		c.ID, c.IsIM, c.IsPrivate = s.newID("D"), true, true
	} else {
		c.ID, c.IsMpIM, c.IsPrivate = s.newID("G"), true, true
		var names []string
		for _, m := range members {
			names = append(names, s.users[m].Name)
		}
		c.Name = "mpdm-" + strings.Join(names, "--") + "-1"
	}
	s.chans[c.ID] = c
	s.corder = append(s.corder, c.ID)
	s.dms[key] = c.ID
	return c, false
}

func (s *Server) pinsAdd(q *request) reply {
	c, m, code := s.itemLocked(q)
	if code != "" {
		return fail(code)
	}
	if code := s.pinLocked(c, m, q.who.userID, true); code != "" {
		return fail(code)
	}
	return success(nil)
}

func (s *Server) pinLocked(c *channel, m *message, by string, echo bool) string {
	if slices.Contains(s.pins[c.ID], m.TS) {
		return "already_pinned"
	}
	if len(s.pins[c.ID]) >= 100 {
		return "too_many_pins"
	}
	s.pins[c.ID] = append(s.pins[c.ID], m.TS)
	if echo {
		s.echoes = append(s.echoes, s.pinEventLocked("pin_added", c, m, by))
	}
	return ""
}

func (s *Server) pinsRemove(q *request) reply {
	c, m, code := s.itemLocked(q)
	if code == "message_not_found" {
		return fail("no_pin")
	}
	if code != "" {
		return fail(code)
	}
	if !slices.Contains(s.pins[c.ID], m.TS) {
		return fail("no_pin")
	}
	s.pins[c.ID] = slices.DeleteFunc(s.pins[c.ID], func(ts string) bool { return ts == m.TS })
	s.echoes = append(s.echoes, s.pinEventLocked("pin_removed", c, m, q.who.userID))
	return success(nil)
}

// itemLocked resolves the channel+timestamp pair pins.* and reactions.* take.
func (s *Server) itemLocked(q *request) (*channel, *message, string) {
	ts := q.form.Get("timestamp")
	if ts == "" {
		return nil, nil, "no_item_specified"
	}
	c, code := s.visibleChannelLocked(q.who, q.form.Get("channel"))
	if code != "" {
		return nil, nil, code
	}
	m := s.findMessageLocked(c.ID, ts)
	if m == nil {
		return nil, nil, "message_not_found"
	}
	return c, m, ""
}

func (s *Server) reactionsAdd(q *request) reply {
	name := strings.Trim(q.form.Get("name"), ":")
	if name == "" {
		return fail("invalid_name")
	}
	c, m, code := s.itemLocked(q)
	if code != "" {
		return fail(code)
	}
	if code := s.reactLocked(c, m, q.who.userID, name, true); code != "" {
		return fail(code)
	}
	return success(nil)
}

func (s *Server) reactLocked(c *channel, m *message, by, name string, echo bool) string {
	i := slices.IndexFunc(m.reactions, func(r *Reaction) bool { return r.Name == name })
	if i < 0 {
		m.reactions = append(m.reactions, &Reaction{Name: name})
		i = len(m.reactions) - 1
	}
	if slices.Contains(m.reactions[i].Users, by) {
		return "already_reacted"
	}
	m.reactions[i].Users = append(m.reactions[i].Users, by)
	if echo {
		s.echoes = append(s.echoes, s.decorateLocked(ReactionAddedEvent(c.ID, by, m.User, m.TS, name, s.nextTS()), c))
	}
	return ""
}

func (s *Server) reactionsRemove(q *request) reply {
	name := strings.Trim(q.form.Get("name"), ":")
	if name == "" {
		return fail("invalid_name")
	}
	c, m, code := s.itemLocked(q)
	if code != "" {
		return fail(code)
	}
	i := slices.IndexFunc(m.reactions, func(r *Reaction) bool { return r.Name == name })
	if i < 0 || !slices.Contains(m.reactions[i].Users, q.who.userID) {
		return fail("no_reaction")
	}
	r := m.reactions[i]
	r.Users = slices.DeleteFunc(r.Users, func(u string) bool { return u == q.who.userID })
	if len(r.Users) == 0 {
		m.reactions = slices.Delete(m.reactions, i, i+1)
	}
	ev := ReactionAddedEvent(c.ID, q.who.userID, m.User, m.TS, name, s.nextTS())
	ev["type"] = "reaction_removed"
	s.echoes = append(s.echoes, s.decorateLocked(ev, c))
	return success(nil)
}

func (s *Server) reactionsGet(q *request) reply {
	c, m, code := s.itemLocked(q)
	if code != "" {
		return fail(code)
	}
	return success(reply{"type": "message", "channel": c.ID, "message": s.messageJSON(m)})
}

func (s *Server) usersList(q *request) reply {
	page, next, code := paginate(s.uorder, q.form.Get("cursor"), q.form.Get("limit"), 1000)
	if code != "" {
		return fail(code)
	}
	members := make([]map[string]any, 0, len(page))
	for _, id := range page {
		members = append(members, s.userJSON(s.users[id]))
	}
	return success(reply{"members": members, "cache_ts": firstTS, "response_metadata": map[string]any{"next_cursor": next}})
}

func (s *Server) usersInfo(q *request) reply {
	if list := q.form.Get("users"); list != "" {
		var users []map[string]any
		for id := range strings.SplitSeq(list, ",") {
			u := s.users[strings.TrimSpace(id)]
			if u == nil {
				return fail("user_not_found")
			}
			users = append(users, s.userJSON(u))
		}
		return success(reply{"users": users})
	}
	u := s.users[q.form.Get("user")]
	if u == nil {
		return fail("user_not_found")
	}
	return success(reply{"user": s.userJSON(u)})
}

// oauthV2Access exchanges a registered code, once, for the bot token and (when
// user scopes were granted) the installer's user token. Client credentials
// may come as form fields (what slack-go sends) or HTTP Basic auth.
func (s *Server) oauthV2Access(q *request) reply {
	clientID, secret := q.form.Get("client_id"), q.form.Get("client_secret")
	if id, sec, ok := q.http.BasicAuth(); ok {
		clientID, secret = id, sec
	}
	if clientID == "" {
		return fail("invalid_client_id")
	}
	g, ok := s.grants[q.form.Get("code")]
	if !ok {
		return fail("invalid_code")
	}
	switch {
	case g.ClientID != clientID:
		return fail("invalid_client_id")
	case g.ClientSecret != secret:
		return fail("bad_client_secret")
	case g.RedirectURI != "" && q.form.Get("redirect_uri") != g.RedirectURI:
		return fail("bad_redirect_uri")
	}
	delete(s.grants, g.Code)
	authed := map[string]any{"id": g.UserID}
	if g.UserScope != "" {
		authed["scope"] = g.UserScope
		authed["access_token"] = s.userTokenLocked(g.UserID)
		authed["token_type"] = "user"
	}
	return success(reply{
		"access_token":          s.botToken,
		"token_type":            "bot",
		"scope":                 g.Scope,
		"bot_user_id":           s.botUserID,
		"app_id":                s.appID,
		"team":                  map[string]any{"id": s.teamID, "name": s.teamName},
		"enterprise":            nil,
		"is_enterprise_install": false,
		"authed_user":           authed,
	})
}

// visibleChannelLocked resolves a conversation id as who sees it: private
// channels and DMs a caller is not in do not exist for it, so Slack answers
// channel_not_found rather than a permission error.
func (s *Server) visibleChannelLocked(who principal, id string) (*channel, string) {
	c := s.chans[id]
	if c == nil {
		return nil, "channel_not_found"
	}
	if c.IsPrivate && !slices.Contains(c.Members, who.userID) {
		return nil, "channel_not_found"
	}
	return c, ""
}

func (s *Server) isAdmin(who principal) bool {
	u := s.users[who.userID]
	return !who.bot && u != nil && (u.IsAdmin || u.IsOwner)
}

// isAuthor reports whether who wrote m: the bot token owns messages carrying
// the bot id, a user token owns that user's own (non-bot) messages.
func (s *Server) isAuthor(who principal, m *message) bool {
	if who.bot {
		return m.BotID == s.botID
	}
	return m.BotID == "" && m.User == who.userID
}

func (s *Server) messageJSON(m *message) map[string]any {
	out := map[string]any{"type": "message", "text": m.Text, "ts": m.TS, "user": m.User, "team": s.teamID}
	if m.BotID != "" {
		out["bot_id"], out["app_id"] = m.BotID, s.appID
	}
	if m.Blocks != nil {
		out["blocks"] = m.Blocks
	}
	if m.ThreadTS != "" {
		out["thread_ts"] = m.ThreadTS
	}
	if m.Edited {
		out["edited"] = map[string]any{"user": m.User, "ts": m.TS}
	}
	if len(m.reactions) > 0 {
		var rs []map[string]any
		for _, r := range m.reactions {
			rs = append(rs, map[string]any{"name": r.Name, "count": len(r.Users), "users": r.Users})
		}
		out["reactions"] = rs
	}
	return out
}

func (s *Server) channelJSON(c *channel, viewer string, withCount bool) map[string]any {
	out := map[string]any{
		"id":              c.ID,
		"created":         c.created,
		"creator":         c.Creator,
		"is_archived":     false,
		"is_shared":       false,
		"is_ext_shared":   false,
		"is_org_shared":   false,
		"context_team_id": s.teamID,
		"is_member":       slices.Contains(c.Members, viewer),
		"is_private":      c.IsPrivate,
		"is_im":           c.IsIM,
		"is_mpim":         c.IsMpIM,
		"is_channel":      !c.IsIM && !c.IsMpIM,
		"is_group":        false,
	}
	if c.IsIM {
		for _, m := range c.Members {
			if m != viewer || len(c.Members) == 1 {
				out["user"] = m
			}
		}
		out["is_open"] = true
	} else {
		out["name"], out["name_normalized"] = c.Name, c.Name
		out["is_general"] = c.IsGeneral
		out["topic"] = map[string]any{"value": c.Topic, "creator": c.topicCreator, "last_set": c.topicSet}
		out["purpose"] = map[string]any{"value": "", "creator": "", "last_set": 0}
		out["previous_names"] = slices.Clone(c.PreviousNames)
	}
	if withCount {
		out["num_members"] = len(c.Members)
	}
	return out
}

func (s *Server) userJSON(u *User) map[string]any {
	profile := map[string]any{
		"real_name":               u.RealName,
		"real_name_normalized":    u.RealName,
		"display_name":            u.Name,
		"display_name_normalized": u.Name,
		"team":                    s.teamID,
		"image_24":                "https://a.slack-edge.com/avatars/" + u.ID + "_24.png",
		"image_48":                "https://a.slack-edge.com/avatars/" + u.ID + "_48.png",
	}
	if u.ID == s.botUserID {
		profile["bot_id"], profile["api_app_id"] = s.botID, s.appID
	}
	return map[string]any{
		"id":                  u.ID,
		"team_id":             s.teamID,
		"name":                u.Name,
		"real_name":           u.RealName,
		"deleted":             u.Deleted,
		"is_admin":            u.IsAdmin,
		"is_owner":            u.IsOwner,
		"is_primary_owner":    u.IsOwner && u.ID == s.adminID,
		"is_bot":              u.IsBot,
		"is_app_user":         false,
		"is_restricted":       false,
		"is_ultra_restricted": false,
		"tz":                  "Europe/London",
		"tz_label":            "Greenwich Mean Time",
		"tz_offset":           0,
		"updated":             firstTS,
		"profile":             profile,
	}
}

// paginate pages through ids with Slack-style opaque cursors
// (base64 of "user:<next id>").
func paginate(ids []string, cursor, limitStr string, maxLimit int) (page []string, next string, code string) {
	limit, _ := strconv.Atoi(limitStr)
	if limit <= 0 || limit > maxLimit {
		limit = maxLimit
	}
	start := 0
	if cursor != "" {
		raw, err := base64.StdEncoding.DecodeString(cursor)
		id, ok := strings.CutPrefix(string(raw), "user:")
		start = slices.Index(ids, id)
		if err != nil || !ok || start < 0 {
			return nil, "", "invalid_cursor"
		}
	}
	end := min(start+limit, len(ids))
	if end < len(ids) {
		next = base64.StdEncoding.EncodeToString([]byte("user:" + ids[end]))
	}
	return slices.Clone(ids[start:end]), next, ""
}

// normalizeBlocks checks Block Kit JSON the way Slack rejects it (not an
// array, more than 50 blocks, a block without a type, duplicate block_ids,
// duplicate action_ids within a block) and, like Slack, gives every block
// without a block_id a generated one. "[]" and "" mean no blocks.
func normalizeBlocks(raw string) (json.RawMessage, string) {
	if strings.TrimSpace(raw) == "" || strings.TrimSpace(raw) == "null" {
		return nil, ""
	}
	var blocks []map[string]any
	if err := json.Unmarshal([]byte(raw), &blocks); err != nil {
		return nil, "invalid_blocks_format"
	}
	if len(blocks) == 0 {
		return nil, ""
	}
	if len(blocks) > 50 {
		return nil, "invalid_blocks"
	}
	seen := map[string]bool{}
	for i, b := range blocks {
		if t, _ := b["type"].(string); t == "" {
			return nil, "invalid_blocks"
		}
		id, _ := b["block_id"].(string)
		if id == "" {
			id = fmt.Sprintf("fk%02d%s", i, randomToken()[:4])
			b["block_id"] = id
		}
		if seen[id] {
			return nil, "invalid_blocks"
		}
		seen[id] = true
		actions := map[string]bool{}
		for _, el := range blockElements(b) {
			if aid, _ := el["action_id"].(string); aid != "" {
				if actions[aid] {
					return nil, "invalid_blocks"
				}
				actions[aid] = true
			}
		}
	}
	out, err := json.Marshal(blocks)
	if err != nil {
		return nil, "invalid_blocks"
	}
	return out, ""
}

// blockElements returns the interactive elements of a block: an actions
// block's elements or a section's accessory.
func blockElements(b map[string]any) []map[string]any {
	var out []map[string]any
	if els, ok := b["elements"].([]any); ok && b["type"] == "actions" {
		for _, e := range els {
			if m, ok := e.(map[string]any); ok {
				out = append(out, m)
			}
		}
	}
	if acc, ok := b["accessory"].(map[string]any); ok {
		out = append(out, acc)
	}
	return out
}

func tsSeconds(ts string) int64 {
	sec, _, _ := strings.Cut(ts, ".")
	n, _ := strconv.ParseInt(sec, 10, 64)
	return n
}
