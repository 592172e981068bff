package slack

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"strconv"
	"strings"

	slackapi "github.com/slack-go/slack"

	"policykit/models"
)

// handleInteraction records the votes of a block_actions payload and answers the voter
// privately (an ephemeral reply through the payload's response_url). The ballot messages
// themselves are redrawn by the update_ballot effect the vote records, so every copy of a
// jury's ballot shows the same tally.
func (s *Slack) handleInteraction(ctx context.Context, payload []byte) error {
	var cb slackapi.InteractionCallback
	if err := json.Unmarshal(payload, &cb); err != nil {
		return fmt.Errorf("decode interaction: %w", err)
	}
	ws, err := s.workspaceByTeam(ctx, cb.Team.ID)
	if errors.Is(err, models.ErrNotFound) {
		s.log.Info("click from a Slack workspace no community has connected", "team", cb.Team.ID)
		return nil
	}
	if err != nil {
		return err
	}
	for _, a := range cb.ActionCallback.BlockActions {
		if !strings.HasPrefix(a.ActionID, voteActionPrefix) {
			continue
		}
		reply := s.vote(ctx, ws, cb.User.ID, a.Value)
		if err := s.respond(ctx, cb.ResponseURL, reply); err != nil {
			s.log.Info("answer a vote click", "err", err)
		}
	}
	return nil
}

// vote casts the vote a button stands for and returns what to tell the voter.
func (s *Slack) vote(ctx context.Context, ws *workspace, slackUser, value string) string {
	community := ws.conn.CommunityID
	pidText, choice, ok := strings.Cut(value, ":")
	pid, err := strconv.ParseInt(pidText, 10, 64)
	if !ok || err != nil {
		return "This button is not a PolicyKit ballot."
	}
	member, err := s.store.MemberByIdentity(ctx, community, PlatformName, slackUser)
	if errors.Is(err, models.ErrNotFound) {
		return fmt.Sprintf("Your Slack account is not linked to a member of this community, so your vote was not counted. "+
			"Sign in with Slack to link it: %s/integrations/slack/signin", s.baseURL)
	}
	if err != nil {
		s.log.Error("find voter", "err", err)
		return "Your vote could not be recorded. Please try again."
	}
	// Scoped by the workspace's community: a button naming another community's proposal
	// finds nothing.
	p, err := s.store.ProposalByID(ctx, community, pid)
	if err != nil || p.Ballot == nil {
		return "This ballot is not open in this workspace's community."
	}
	val, ok := voteValue(p.Ballot, choice)
	if !ok {
		return "That is not a choice on this ballot."
	}
	res, err := s.eng.CastVote(ctx, community, pid, member.ID, val, PlatformName)
	switch {
	case errors.Is(err, models.ErrForbidden):
		return "You are not eligible to vote on this proposal, so your vote was not counted."
	case errors.Is(err, models.ErrConflict), errors.Is(err, models.ErrInvalid):
		return "Your vote was not counted: " + err.Error() + "."
	case err != nil:
		s.log.Error("cast a slack vote", "proposal", pid, "err", err)
		return "Your vote could not be recorded. Please try again."
	}
	verb := "recorded"
	if res.Changed {
		verb = "changed"
	}
	return fmt.Sprintf("Your vote is %s: %v. You can change it until the vote closes.", verb, val)
}

// respond posts an ephemeral reply to a response_url. The URL comes from a signed payload;
// it is still only followed to Slack's hooks host or the configured API host, so a bug
// elsewhere cannot make the server post to arbitrary addresses.
func (s *Slack) respond(ctx context.Context, responseURL, text string) error {
	if responseURL == "" {
		return nil
	}
	u, err := url.Parse(responseURL)
	if err != nil {
		return fmt.Errorf("response_url: %w", err)
	}
	api, _ := url.Parse(s.cfg.APIURL)
	if !(u.Scheme == "https" && u.Host == "hooks.slack.com") && (api == nil || u.Host != api.Host) {
		return fmt.Errorf("response_url host %q is not Slack's", u.Host)
	}
	_, _, err = s.client("").PostMessageContext(ctx, "",
		slackapi.MsgOptionResponseURL(responseURL, slackapi.ResponseTypeEphemeral), slackapi.MsgOptionText(text, false))
	return err
}
