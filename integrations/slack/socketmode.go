package slack

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"strings"

	slackapi "github.com/slack-go/slack"
	"github.com/slack-go/slack/socketmode"

	"policykit/engine"
)

// Socket Mode: with an app-level token (SLACK_APP_TOKEN) the server connects out to Slack
// over a websocket (slack-go's socketmode client) and receives the same events and clicks as
// the Events API and interactivity endpoints would, so a server without a public URL (a
// laptop) can govern a workspace. One connection carries every workspace the app is
// installed in; it is an engine.Link, so one replica holds it at a time and another takes
// it over within seconds when that replica dies. Each event or click goes to the shared
// inbox before it is acknowledged; one not acknowledged is sent again by Slack.

// socketModeLink names the Socket Mode connection among the runtime's links.
const socketModeLink = PlatformName + ":socket-mode"

// Links implements engine.LinkHolder: the Socket Mode connection, when an app token is set.
func (s *Slack) Links(context.Context) ([]engine.Link, error) {
	if s.cfg.AppToken == "" {
		return nil, nil
	}
	return []engine.Link{{Key: socketModeLink, Run: s.runSocketMode}}, nil
}

// runSocketMode keeps the Socket Mode connection (slack-go reconnects when Slack asks it to
// or stops pinging) until ctx ends; it returns an error only when connecting failed for good
// (a revoked app token), and the runtime starts it again.
func (s *Slack) runSocketMode(ctx context.Context) error {
	api := slackapi.New("", slackapi.OptionAppLevelToken(s.cfg.AppToken), slackapi.OptionAPIURL(s.cfg.APIURL),
		slackapi.OptionHTTPClient(s.cfg.HTTPClient))
	opts := []socketmode.Option{socketmode.OptionLog(debugLog{s.log}), socketmode.OptionReadLimit(maxBody)}
	if s.cfg.PingInterval > 0 {
		opts = append(opts, socketmode.OptionPingInterval(s.cfg.PingInterval))
	}
	client := socketmode.New(api, opts...)
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	errc := make(chan error, 1)
	go func() { errc <- client.RunContext(ctx) }()
	for {
		select {
		case err := <-errc:
			if ctx.Err() != nil {
				return nil
			}
			return err
		case evt := <-client.Events:
			s.onSocketEvent(ctx, client, evt)
		}
	}
}

// onSocketEvent handles one thing the Socket Mode client reports: a request to put in the
// inbox and acknowledge, or news about the connection.
func (s *Slack) onSocketEvent(ctx context.Context, client *socketmode.Client, evt socketmode.Event) {
	switch evt.Type {
	case socketmode.EventTypeEventsAPI, socketmode.EventTypeInteractive:
		s.onSocketRequest(ctx, client, evt.Request)
	case socketmode.EventTypeErrorBadMessage:
		// slack-go could not parse an event type it does not know; the envelope is still
		// Slack's and is acknowledged like any other (Receive ignores what it does not govern).
		bad, ok := evt.Data.(*socketmode.ErrorBadMessage)
		var req socketmode.Request
		if !ok || json.Unmarshal(bad.Message, &req) != nil || req.EnvelopeID == "" {
			s.log.Warn("unreadable Socket Mode message", "data", evt.Data)
			return
		}
		s.onSocketRequest(ctx, client, &req)
	case socketmode.EventTypeSlashCommand:
		if evt.Request != nil {
			s.ack(ctx, client, evt.Request.EnvelopeID)
		}
	case socketmode.EventTypeConnected:
		s.log.Info("slack socket mode connected")
	case socketmode.EventTypeConnectionError:
		s.log.Warn("slack socket mode connection failed; retrying", "data", evt.Data)
	case socketmode.EventTypeInvalidAuth:
		s.log.Error("slack rejected the app-level token (SLACK_APP_TOKEN)")
	case socketmode.EventTypeDisconnect:
		s.log.Info("slack asked to reconnect socket mode")
	}
}

// onSocketRequest writes an events_api or interactive envelope's payload to the inbox and
// acknowledges it; left unacknowledged (the inbox is full), Slack sends it again.
func (s *Slack) onSocketRequest(ctx context.Context, client *socketmode.Client, req *socketmode.Request) {
	if req == nil || req.EnvelopeID == "" {
		return
	}
	status := http.StatusOK
	switch req.Type {
	case socketmode.RequestTypeEventsAPI:
		env, err := parseEnvelope(req.Payload)
		switch {
		case err != nil:
			s.log.Warn("malformed Socket Mode event", "err", err)
		case env.Type == "event_callback":
			status = s.accept(ctx, kindEvent, eventKey(env.TeamID, env.EventID), req.Payload)
		}
	case socketmode.RequestTypeInteractive:
		var cb slackapi.InteractionCallback
		if err := json.Unmarshal(req.Payload, &cb); err != nil || cb.Team.ID == "" {
			s.log.Warn("malformed Socket Mode interaction", "err", err)
		} else if cb.Type == slackapi.InteractionTypeBlockActions {
			status = s.accept(ctx, kindClick, clickKey(req.Payload), req.Payload)
		}
	}
	if status == http.StatusOK {
		s.ack(ctx, client, req.EnvelopeID)
	}
}

func (s *Slack) ack(ctx context.Context, client *socketmode.Client, envelopeID string) {
	if err := client.AckCtx(ctx, envelopeID, nil); err != nil && !errors.Is(err, context.Canceled) {
		s.log.Warn("acknowledge a Socket Mode envelope", "err", err)
	}
}

// debugLog sends slack-go's Socket Mode logging to slog at debug level.
type debugLog struct{ log *slog.Logger }

func (l debugLog) Output(_ int, msg string) error {
	l.log.Debug("slack socket mode: " + strings.TrimSpace(msg))
	return nil
}
