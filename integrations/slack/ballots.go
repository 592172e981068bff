package slack

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strconv"
	"strings"

	slackapi "github.com/slack-go/slack"

	"policykit/engine"
	"policykit/models"
)

// Vote buttons carry action_id "pk_vote_<choice>" and value "<proposal id>:<choice>", where
// choice is a yes/no or consensus value, or "o<i>" for the i-th option of a choice ballot.
const voteActionPrefix = "pk_vote_"

// refusedPrefix marks a part Slack refused for good, so a retry skips it.
const refusedPrefix = "refused:"

// Post implements engine.Platform: post(text) writes in the action's channel.
func (s *Slack) Post(ctx context.Context, c engine.Call, text string) error {
	ws, err := s.workspaceOf(ctx, c.Community.ID)
	if err != nil {
		return err
	}
	parts, err := s.parts(ctx, c)
	if err != nil {
		return err
	}
	if parts["post"] != "" {
		return nil
	}
	ch := str(c.Action.Params, "channel")
	if ch == "" {
		return engine.Permanent(errors.New("the action has no channel to post in"))
	}
	postedIn, ts, err := ws.bot.PostMessageContext(ctx, ch, slackapi.MsgOptionText(s.withLink(c, text), false))
	if err != nil {
		return s.deliveryError(ctx, ws, "chat.postMessage", err)
	}
	s.sent(ctx, c, "post", messageRef(postedIn, ts))
	return nil
}

// Notify implements engine.Platform: notify(who, text) sends each member with a linked
// Slack account a direct message. Members without one are skipped: they see the proposal
// on the website. Each message sent is recorded, so a retry after a rate limit or an outage
// resumes with the members not yet reached.
func (s *Slack) Notify(ctx context.Context, c engine.Call, memberIDs []int64, text string) error {
	ws, err := s.workspaceOf(ctx, c.Community.ID)
	if err != nil {
		return err
	}
	_, err = s.direct(ctx, ws, c, "notify", memberIDs, slackapi.MsgOptionText(s.withLink(c, text), false))
	return err
}

// direct sends one direct message per member with a Slack identity, skipping the parts an
// earlier attempt sent, and returns the references of every message ("dm:<member>").
func (s *Slack) direct(ctx context.Context, ws *workspace, c engine.Call, part string, memberIDs []int64, opts ...slackapi.MsgOption) (map[string]string, error) {
	ids, err := s.store.IdentitiesByMember(ctx, c.Community.ID, PlatformName, memberIDs)
	if err != nil {
		return nil, err
	}
	done, err := s.parts(ctx, c)
	if err != nil {
		return nil, err
	}
	sorted := append([]int64(nil), memberIDs...)
	sort.Slice(sorted, func(i, j int) bool { return sorted[i] < sorted[j] })
	refs := map[string]string{}
	for _, m := range sorted {
		id, ok := ids[m]
		key := fmt.Sprintf("%s:%d", part, m)
		if !ok {
			continue
		}
		if ref := done[key]; ref != "" {
			if !strings.HasPrefix(ref, refusedPrefix) {
				refs[fmt.Sprintf("dm:%d", m)] = ref
			}
			continue
		}
		// Posting to a user id opens (or reuses) the bot's DM with them.
		ch, ts, err := ws.bot.PostMessageContext(ctx, id.ExternalID, opts...)
		if err != nil {
			derr := s.deliveryError(ctx, ws, "chat.postMessage", err)
			if !errors.Is(derr, engine.ErrPermanent) || authCode(slackCode(err)) {
				return nil, derr // retried later, resuming here
			}
			// Slack refuses this one person (deactivated, cannot be messaged): the others
			// still get theirs, and a retry does not ask again.
			s.log.Info("slack refused a direct message", "member", m, "err", err)
			s.sent(ctx, c, key, refusedPrefix+slackCode(err))
			continue
		}
		ref := messageRef(ch, ts)
		s.sent(ctx, c, key, ref)
		refs[fmt.Sprintf("dm:%d", m)] = ref
	}
	return refs, nil
}

func (s *Slack) withLink(c engine.Call, text string) string {
	if u := s.proposalURL(c); u != "" {
		return fmt.Sprintf("%s\n<%s|Open the proposal>", text, u)
	}
	return text
}

// OpenBallot implements engine.Platform: a Block Kit ballot in the action's channel, or a
// direct message to each eligible voter with a Slack account when the ballot is private
// (a jury). It returns the ballot messages' references ("channel", or "dm:<member>").
func (s *Slack) OpenBallot(ctx context.Context, c engine.Call) (map[string]string, error) {
	if c.Proposal == nil || c.Proposal.Ballot == nil {
		return nil, engine.Permanent(errors.New("the proposal has no ballot"))
	}
	ws, err := s.workspaceOf(ctx, c.Community.ID)
	if err != nil {
		return nil, err
	}
	blocks, fallback, err := s.ballotBlocks(ctx, c, "")
	if err != nil {
		return nil, err
	}
	opts := []slackapi.MsgOption{slackapi.MsgOptionText(fallback, false), slackapi.MsgOptionBlocks(blocks...)}
	if c.Proposal.Ballot.DM {
		return s.direct(ctx, ws, c, "ballot", c.Proposal.Ballot.Eligible, opts...)
	}
	parts, err := s.parts(ctx, c)
	if err != nil {
		return nil, err
	}
	if ref := parts["ballot"]; ref != "" {
		return map[string]string{"channel": ref}, nil
	}
	ch := str(c.Action.Params, "channel")
	if ch == "" {
		return nil, engine.Permanent(errors.New("the action has no channel to open the ballot in"))
	}
	postedIn, ts, err := ws.bot.PostMessageContext(ctx, ch, opts...)
	if err != nil {
		return nil, s.deliveryError(ctx, ws, "chat.postMessage", err)
	}
	ref := messageRef(postedIn, ts)
	s.sent(ctx, c, "ballot", ref)
	return map[string]string{"channel": ref}, nil
}

// UpdateBallot implements engine.Platform: every ballot message shows the new tally.
func (s *Slack) UpdateBallot(ctx context.Context, c engine.Call) error {
	return s.redraw(ctx, c, "")
}

// CloseBallot implements engine.Platform: the buttons go and the outcome shows.
func (s *Slack) CloseBallot(ctx context.Context, c engine.Call) error {
	outcome, _ := c.Effect.Payload["outcome"].(string)
	if outcome == "" && c.Proposal != nil {
		outcome = c.Proposal.Status
	}
	if outcome == "" || outcome == models.StatusPending {
		outcome = "closed"
	}
	return s.redraw(ctx, c, outcome)
}

// redraw rewrites every ballot message. chat.update is idempotent, so a retry simply
// writes the same content again; a message someone deleted is skipped.
func (s *Slack) redraw(ctx context.Context, c engine.Call, outcome string) error {
	if c.Proposal == nil || c.Proposal.Ballot == nil || len(c.Proposal.Ballot.Refs) == 0 {
		return nil // the ballot never reached Slack
	}
	ws, err := s.workspaceOf(ctx, c.Community.ID)
	if err != nil {
		return err
	}
	blocks, fallback, err := s.ballotBlocks(ctx, c, outcome)
	if err != nil {
		return err
	}
	keys := make([]string, 0, len(c.Proposal.Ballot.Refs))
	for k := range c.Proposal.Ballot.Refs {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		ch, ts, ok := splitRef(c.Proposal.Ballot.Refs[k])
		if !ok {
			continue
		}
		_, _, _, err := ws.bot.UpdateMessageContext(ctx, ch, ts, slackapi.MsgOptionText(fallback, false), slackapi.MsgOptionBlocks(blocks...))
		if code := slackCode(err); code == "message_not_found" || code == "channel_not_found" {
			continue
		}
		if err != nil {
			return s.deliveryError(ctx, ws, "chat.update", err)
		}
	}
	return nil
}

// ballotBlocks draws a ballot: what is decided, the rule, buttons for the ballot's kind
// (or, once closed, the outcome), the tally and a link to the proposal. It also returns the
// notification text Slack shows where blocks cannot be.
func (s *Slack) ballotBlocks(ctx context.Context, c engine.Call, outcome string) ([]slackapi.Block, string, error) {
	p, b := c.Proposal, c.Proposal.Ballot
	what := "this action"
	if t, ok := s.types[c.Action.Type]; ok {
		what = t.Describe(c.Action.Params)
	}
	by, err := s.authorOf(ctx, c)
	if err != nil {
		return nil, "", err
	}
	headline := fmt.Sprintf("*%s* is deciding: %s (by %s)", mrkdwnEscape(c.Community.Name), mrkdwnEscape(what), by)
	fallback := fmt.Sprintf("Vote: %s", what)
	blocks := []slackapi.Block{
		slackapi.NewSectionBlock(slackapi.NewTextBlockObject(slackapi.MarkdownType, headline, false, false), nil, nil),
	}
	if p.Rule != "" {
		blocks = append(blocks, slackapi.NewContextBlock("rule",
			slackapi.NewTextBlockObject(slackapi.PlainTextType, excerpt(p.Rule, 2900), false, false)))
	}
	if outcome != "" {
		icon, word := "", "Voting has closed"
		switch outcome {
		case models.StatusPassed:
			icon, word = ":white_check_mark: ", "Passed"
		case models.StatusFailed:
			icon, word = ":x: ", "Failed"
		case models.StatusNotCarriedOut:
			icon, word = ":warning: ", "Approved, but could not be carried out"
			if reason, _ := c.Effect.Payload["reason"].(string); reason != "" {
				word += ": " + mrkdwnEscape(reason)
			}
		}
		fallback = fmt.Sprintf("%s: %s", word, what)
		blocks = append(blocks, slackapi.NewSectionBlock(slackapi.NewTextBlockObject(slackapi.MarkdownType, icon+"*"+word+"*", false, false), nil, nil))
	} else if buttons := voteButtons(p.ID, b); len(buttons) > 0 {
		blocks = append(blocks, slackapi.NewActionBlock(fmt.Sprintf("pk_ballot_%d", p.ID), buttons...))
	} else {
		blocks = append(blocks, slackapi.NewSectionBlock(slackapi.NewTextBlockObject(slackapi.MarkdownType,
			"This kind of ballot is cast on the website.", false, false), nil, nil))
	}
	footer := tallyLine(c.Tally, b)
	if u := s.proposalURL(c); u != "" {
		footer += fmt.Sprintf(" · <%s|Open the proposal>", u)
	}
	blocks = append(blocks, slackapi.NewContextBlock("tally", slackapi.NewTextBlockObject(slackapi.MarkdownType, footer, false, false)))
	return blocks, fallback, nil
}

// voteChoices lists a ballot's buttons as (choice key, label); none for ballots a button
// cannot express (approval, ranking, score).
func voteChoices(b *models.Ballot) [][2]string {
	switch b.Kind {
	case engine.BallotYesNo:
		return [][2]string{{"yes", "Yes, approve"}, {"no", "No, reject"}, {"abstain", "Abstain"}}
	case engine.BallotConsensus:
		return [][2]string{{"agree", "Agree"}, {"abstain", "Stand aside"}, {"disagree", "Disagree"}, {"block", "Block"}}
	case engine.BallotChoice:
		if len(b.Options) > 25 { // an actions block holds 25 elements
			return nil
		}
		out := make([][2]string, len(b.Options))
		for i, o := range b.Options {
			out[i] = [2]string{"o" + strconv.Itoa(i), excerpt(o, 75)}
		}
		return out
	}
	return nil
}

func voteButtons(proposalID int64, b *models.Ballot) []slackapi.BlockElement {
	var out []slackapi.BlockElement
	for _, ch := range voteChoices(b) {
		btn := slackapi.NewButtonBlockElement(voteActionPrefix+ch[0], fmt.Sprintf("%d:%s", proposalID, ch[0]),
			slackapi.NewTextBlockObject(slackapi.PlainTextType, ch[1], false, false))
		switch ch[0] {
		case "yes", "agree":
			btn.Style = slackapi.StylePrimary
		case "no", "block":
			btn.Style = slackapi.StyleDanger
		}
		out = append(out, btn)
	}
	return out
}

// voteValue turns a pressed button's choice into the engine's vote value.
func voteValue(b *models.Ballot, choice string) (any, bool) {
	for _, ch := range voteChoices(b) {
		if ch[0] != choice {
			continue
		}
		if b.Kind == engine.BallotChoice {
			i, _ := strconv.Atoi(strings.TrimPrefix(choice, "o"))
			return b.Options[i], true
		}
		return choice, true
	}
	return nil, false
}

// tallyLine summarises the count: "Yes 2 · No 0 · Abstain 0 · 2 of 3 voted".
func tallyLine(t *engine.Tally, b *models.Ballot) string {
	if t == nil {
		return fmt.Sprintf("0 of %d voted", len(b.Eligible))
	}
	var parts []string
	for _, ch := range voteChoices(b) {
		label := ch[1]
		if i := strings.Index(label, ","); i > 0 {
			label = label[:i]
		}
		key := ch[0]
		if b.Kind == engine.BallotChoice {
			i, _ := strconv.Atoi(strings.TrimPrefix(key, "o"))
			key = b.Options[i]
		}
		parts = append(parts, fmt.Sprintf("%s %d", label, t.Counts[key]))
	}
	parts = append(parts, fmt.Sprintf("%d of %d voted", t.Voters, t.Eligible))
	return strings.Join(parts, " · ")
}

// mrkdwnEscape escapes the three characters Slack's mrkdwn treats as control characters.
func mrkdwnEscape(s string) string {
	return strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;").Replace(s)
}
