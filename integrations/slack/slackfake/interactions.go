package slackfake

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"slices"
)

// responseURLUses is how many times Slack accepts a response_url.
const responseURLUses = 5

// Interaction is an interactivity payload: the JSON Slack sends in the
// "payload" form field.
type Interaction map[string]any

// ResponseURL is the payload's response_url.
func (i Interaction) ResponseURL() string { s, _ := i["response_url"].(string); return s }

// ButtonClick describes a block_actions click for building payloads by hand,
// for example to click a button the fake never saw. Prefer
// [Server.ClickButton], which reads the button from the stored message.
type ButtonClick struct {
	TeamID      string
	AppID       string
	UserID      string
	UserName    string
	ChannelID   string
	ChannelName string
	MessageTS   string
	ActionID    string
	BlockID     string // required: without it slack-go parses the action as a legacy attachment action
	Value       string
	Text        string // the button's label
	ResponseURL string
	ActionTS    string
}

// Payload builds the block_actions payload with the fields slack-go's
// InteractionCallback reads.
func (b ButtonClick) Payload() Interaction {
	return Interaction{
		"type":                  "block_actions",
		"api_app_id":            b.AppID,
		"team":                  map[string]any{"id": b.TeamID, "domain": "policykit-test"},
		"user":                  map[string]any{"id": b.UserID, "username": b.UserName, "name": b.UserName, "team_id": b.TeamID},
		"is_enterprise_install": false,
		"container": map[string]any{
			"type": "message", "message_ts": b.MessageTS, "channel_id": b.ChannelID, "is_ephemeral": false,
		},
		"trigger_id":   fmt.Sprintf("%s.%s", b.ActionTS, randomToken()[:16]),
		"channel":      map[string]any{"id": b.ChannelID, "name": b.ChannelName},
		"message":      map[string]any{"type": "message", "ts": b.MessageTS},
		"state":        map[string]any{"values": map[string]any{}},
		"response_url": b.ResponseURL,
		"actions": []map[string]any{{
			"type":      "button",
			"action_id": b.ActionID,
			"block_id":  b.BlockID,
			"value":     b.Value,
			"text":      map[string]any{"type": "plain_text", "text": b.Text, "emoji": true},
			"action_ts": b.ActionTS,
		}},
	}
}

// ClickButton is user pressing the button actionID (with value, if value is
// not empty: vote buttons often share an action_id) on the stored message
// (channelID, ts). It fails if the user cannot see the message or the message
// has no such button, as a real user could not click it either. The payload's
// response_url points at this fake and may be used five times.
func (s *Server) ClickButton(user, channelID, ts, actionID, value string) (Interaction, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	c, code := s.actingLocked(user, channelID)
	var m *message
	if code == "" {
		if m = s.findMessageLocked(c.ID, ts); m == nil {
			code = "message_not_found"
		}
	}
	var blockID, label, val string
	if code == "" {
		var found bool
		blockID, label, val, found = findButton(m.Blocks, actionID, value)
		if !found {
			code = "button_not_found"
		}
	}
	if code != "" {
		return nil, &ActionError{"ClickButton", code}
	}
	id := randomToken()[:20]
	s.resp[id] = &responseTarget{channel: c.ID, ts: m.TS, user: user}
	u := s.users[user]
	name := c.Name
	if c.IsIM {
		name = "directmessage"
	}
	p := ButtonClick{
		TeamID: s.teamID, AppID: s.appID, UserID: u.ID, UserName: u.Name,
		ChannelID: c.ID, ChannelName: name, MessageTS: m.TS,
		ActionID: actionID, BlockID: blockID, Value: val, Text: label,
		ResponseURL: s.URL() + "/respond/" + id, ActionTS: s.nextTS(),
	}.Payload()
	p["token"] = s.verifyTok
	p["message"] = s.messageJSON(m)
	return p, nil
}

// findButton looks for a button in Block Kit JSON and returns its block_id,
// label and value.
func findButton(raw json.RawMessage, actionID, value string) (blockID, label, val string, ok bool) {
	var blocks []map[string]any
	if json.Unmarshal(raw, &blocks) != nil {
		return "", "", "", false
	}
	for _, b := range blocks {
		for _, el := range blockElements(b) {
			aid, _ := el["action_id"].(string)
			v, _ := el["value"].(string)
			if el["type"] != "button" || aid != actionID || (value != "" && v != value) {
				continue
			}
			blockID, _ = b["block_id"].(string)
			if t, ok := el["text"].(map[string]any); ok {
				label, _ = t["text"].(string)
			}
			return blockID, label, v, true
		}
	}
	return "", "", "", false
}

// responseMessage is what slack-go sends to a response_url (its Msg type,
// reduced to the fields Slack acts on).
type responseMessage struct {
	Text            string          `json:"text"`
	Blocks          json.RawMessage `json:"blocks"`
	ThreadTS        string          `json:"thread_ts"`
	ResponseType    string          `json:"response_type"`
	ReplaceOriginal bool            `json:"replace_original"`
	DeleteOriginal  bool            `json:"delete_original"`
}

// serveResponseURL answers /respond/{id}: replace or delete the message the
// button was on, or post a new message (ephemeral to the clicker unless
// response_type is "in_channel"). Unknown ids get 404, like Slack's hooks.
func (s *Server) serveResponseURL(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(io.LimitReader(r.Body, 1<<20))
	if err != nil {
		http.Error(w, "read body", http.StatusBadRequest)
		return
	}
	s.mu.Lock()
	if f := s.takeFaultLocked("response_url"); f != nil {
		s.calls = append(s.calls, Call{Method: "response_url", Body: body, Status: f.status})
		s.mu.Unlock()
		writeFault(w, f)
		return
	}
	t := s.resp[r.PathValue("id")]
	if t == nil {
		s.calls = append(s.calls, Call{Method: "response_url", Body: body, Status: http.StatusNotFound})
		s.mu.Unlock()
		http.Error(w, "no_service", http.StatusNotFound)
		return
	}
	s.calls = append(s.calls, Call{Method: "response_url", Body: body, Status: http.StatusOK})
	out := s.respondLocked(t, body)
	s.mu.Unlock()
	writeJSON(w, out)
}

func (s *Server) respondLocked(t *responseTarget, body []byte) reply {
	t.uses++
	if t.uses > responseURLUses {
		return fail("used_url")
	}
	var msg responseMessage
	if err := json.Unmarshal(body, &msg); err != nil {
		return fail("invalid_payload")
	}
	c := s.chans[t.channel]
	m := s.findMessageLocked(t.channel, t.ts)
	if msg.DeleteOriginal {
		if m == nil {
			return fail("message_not_found")
		}
		s.deleteMessageLocked(c, m)
		return success(nil)
	}
	blocks, code := normalizeBlocks(string(msg.Blocks))
	if code != "" {
		return fail(code)
	}
	if msg.Text == "" && blocks == nil {
		return fail("no_text")
	}
	bot := principal{userID: s.botUserID, bot: true}
	switch {
	case msg.ReplaceOriginal:
		if m == nil {
			return fail("message_not_found")
		}
		before := m.snapshot()
		m.Text, m.Blocks = msg.Text, blocks
		s.echoes = append(s.echoes, s.messageChangedEventLocked(c, before, m))
	case msg.ResponseType == "in_channel":
		nm := s.postLocked(c, bot, msg.Text, blocks, msg.ThreadTS)
		s.echoes = append(s.echoes, s.messageEventLocked(c, nm))
	default:
		s.ephem = append(s.ephem, Ephemeral{
			Channel: c.ID, User: t.user, PostedBy: s.botUserID, TS: s.nextTS(),
			Text: msg.Text, Blocks: slices.Clone(blocks),
		})
	}
	return success(nil)
}
