package slackfake

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/gorilla/websocket"
)

// Socket Mode, as Slack plays it: the app calls apps.connections.open with its app-level
// token (a JSON POST with "Authorization: Bearer xapp-…") and gets a one-use websocket URL;
// it dials it (sending the Origin https://api.slack.com), Slack says hello, pings it, and
// sends envelopes (events_api, interactive) that the app acknowledges with their
// envelope_id. Slack asks the app to reconnect with a disconnect message (a refresh, or a
// warning before the connection is closed). Slack sends the app no signatures here: the app
// authenticated itself when it opened the connection.

// socketConn is one open Socket Mode connection.
type socketConn struct {
	ws  *websocket.Conn
	wmu sync.Mutex // gorilla allows one writer at a time
}

func (c *socketConn) write(v any) error {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	_ = c.ws.SetWriteDeadline(time.Now().Add(5 * time.Second))
	return c.ws.WriteJSON(v)
}

// AppToken is the app-level token ("xapp-…") for Socket Mode.
func (s *Server) AppToken() string { return s.appToken }

// SetSocketPingInterval sets how often the fake pings each Socket Mode connection (Slack's
// clients reconnect when pings stop). Default 5s.
func (s *Server) SetSocketPingInterval(d time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.pingEvery = d
}

// SocketConnections is how many Socket Mode connections are open now.
func (s *Server) SocketConnections() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.sockets)
}

// appsConnectionsOpen issues a one-use websocket URL (apps.connections.open). Only the
// app-level token may call it; dispatchLocked checked that.
func (s *Server) appsConnectionsOpen(q *request) reply {
	ticket := randomToken()[:24]
	s.tickets[ticket] = true
	return success(reply{"url": "ws" + strings.TrimPrefix(s.srv.URL, "http") + "/link/?ticket=" + ticket + "&app_id=" + s.appID})
}

// serveSocket is the websocket end of Socket Mode.
func (s *Server) serveSocket(w http.ResponseWriter, r *http.Request) {
	ticket := r.URL.Query().Get("ticket")
	s.mu.Lock()
	valid := s.tickets[ticket]
	delete(s.tickets, ticket)
	ping := s.pingEvery
	s.mu.Unlock()
	if !valid {
		http.Error(w, "invalid or used ticket", http.StatusUnauthorized)
		return
	}
	up := websocket.Upgrader{CheckOrigin: func(r *http.Request) bool { return r.Header.Get("Origin") == "https://api.slack.com" }}
	ws, err := up.Upgrade(w, r, nil)
	if err != nil {
		return // the upgrader has answered
	}
	c := &socketConn{ws: ws}
	err = c.write(map[string]any{"type": "hello", "num_connections": 1,
		"debug_info":      map[string]any{"host": "applink-fake", "build_number": 1, "approximate_connection_time": 18060},
		"connection_info": map[string]any{"app_id": s.appID}})
	if err != nil {
		ws.Close()
		return
	}
	s.mu.Lock()
	s.sockets = append(s.sockets, c)
	s.mu.Unlock()
	done := make(chan struct{})
	go func() { // Slack pings; slack-go reconnects when the pings stop
		t := time.NewTicker(ping)
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-t.C:
				if ws.WriteControl(websocket.PingMessage, []byte("ping"), time.Now().Add(5*time.Second)) != nil {
					return
				}
			}
		}
	}()
	defer func() {
		close(done)
		ws.Close()
		s.mu.Lock()
		for i, o := range s.sockets {
			if o == c {
				s.sockets = append(s.sockets[:i], s.sockets[i+1:]...)
				break
			}
		}
		s.mu.Unlock()
	}()
	for {
		_, msg, err := ws.ReadMessage()
		if err != nil {
			return
		}
		var ack struct {
			EnvelopeID string `json:"envelope_id"`
		}
		if json.Unmarshal(msg, &ack) != nil || ack.EnvelopeID == "" {
			continue
		}
		s.mu.Lock()
		s.acked[ack.EnvelopeID] = true
		s.mu.Unlock()
	}
}

// socket waits for an open Socket Mode connection.
func (s *Server) socket(ctx context.Context) (*socketConn, error) {
	for {
		s.mu.Lock()
		var c *socketConn
		if len(s.sockets) > 0 {
			c = s.sockets[len(s.sockets)-1]
		}
		s.mu.Unlock()
		if c != nil {
			return c, nil
		}
		select {
		case <-ctx.Done():
			return nil, errors.New("slackfake: no Socket Mode connection is open")
		case <-time.After(5 * time.Millisecond):
		}
	}
}

// sendEnvelope sends one Socket Mode envelope on the newest connection and waits for the
// app's acknowledgement.
func (s *Server) sendEnvelope(ctx context.Context, typ string, payload json.RawMessage, retry int) error {
	c, err := s.socket(ctx)
	if err != nil {
		return err
	}
	id := strings.ToLower(randomToken()[:8]) + "-" + strings.ToLower(randomToken()[:12])
	env := map[string]any{"envelope_id": id, "type": typ, "accepts_response_payload": false, "payload": payload}
	if retry > 0 {
		env["retry_attempt"], env["retry_reason"] = retry, "timeout"
	}
	if err := c.write(env); err != nil {
		return fmt.Errorf("slackfake: send %s envelope: %w", typ, err)
	}
	for {
		s.mu.Lock()
		acked := s.acked[id]
		s.mu.Unlock()
		if acked {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("slackfake: the app did not acknowledge %s envelope %s", typ, id)
		case <-time.After(2 * time.Millisecond):
		}
	}
}

// SendSocketEnvelope delivers an event_callback envelope over Socket Mode (an
// events_api envelope; RetryNum > 0 marks a redelivery) and waits for its acknowledgement.
func (s *Server) SendSocketEnvelope(ctx context.Context, env Envelope) error {
	return s.sendEnvelope(ctx, "events_api", env.Body, env.RetryNum)
}

// SendSocketEvent delivers event over Socket Mode in a fresh envelope and waits for its
// acknowledgement.
func (s *Server) SendSocketEvent(ctx context.Context, event any) (Envelope, error) {
	env, err := s.NewEnvelope(event)
	if err != nil {
		return env, err
	}
	return env, s.SendSocketEnvelope(ctx, env)
}

// SendSocketInteraction delivers an interactivity payload (an [Interaction]) over Socket
// Mode and waits for its acknowledgement.
func (s *Server) SendSocketInteraction(ctx context.Context, payload any) error {
	js, err := json.Marshal(payload)
	if err != nil {
		return fmt.Errorf("slackfake: marshal interaction: %w", err)
	}
	return s.sendEnvelope(ctx, "interactive", js, 0)
}

// SocketDisconnect asks every open Socket Mode connection to reconnect, as Slack does to
// refresh a connection ("refresh_requested") or before closing it ("warning").
func (s *Server) SocketDisconnect(reason string) {
	s.mu.Lock()
	conns := append([]*socketConn(nil), s.sockets...)
	s.mu.Unlock()
	for _, c := range conns {
		_ = c.write(map[string]any{"type": "disconnect", "reason": reason, "debug_info": map[string]any{"host": "applink-fake"}})
	}
}
