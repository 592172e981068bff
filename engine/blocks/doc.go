// Package blocks compiles block programs — policies assembled from small forms by people
// who do not write code — into the six expr stage programs of a policy (filter, initialize,
// notify, check, pass, fail) and one exact plain-language rule. The generated code is what a
// person would write with the engine's environment (engine/env.go) and vote methods
// (engine/votes); it is shown beside the form and may be edited, which detaches the policy
// from its blocks until Detect recognises the code again.
//
// # Block program JSON (version 1)
//
// A program is one object with a section per block; an absent section is an unused block.
//
//	{
//	  "version": 1,
//	  "kind": "platform",                       // or "constitution" (default platform)
//	  "when": {                                 // which actions (all optional)
//	    "action_types": ["slack.rename_channel"], // empty: every action of the kind
//	    "channels": ["C01"],                    // the channel is one of
//	    "initiator_has_role": "Newcomer",
//	    "initiator_lacks_role": "Moderator",
//	    "text_contains": "http",                // capitals matter
//	    "text_matches": "^\\[vote\\]"           // RE2 pattern
//	  },
//	  "skip": {"roles": ["Moderator"]},         // their actions pass at once
//	  "deciders": {"who": "jury", "size": 3, "role": "Juror"},
//	        // who: "everyone" | "role" (+ role) | "jury" (+ size, optional role: the pool)
//	        //      | "member" (+ member: an id)
//	  "how": {"method": "threshold", "yes": 2},
//	        // "majority"                       of: "cast" (default) | "eligible"
//	        // "supermajority", "fraction": "2/3", of
//	        // "unanimity"                      of
//	        // "threshold", "yes": k, optional "fail_at_no": n
//	        // "consensus", "min_agree": k      (agree/abstain/disagree/block ballot)
//	        // "lazy_consensus", "objections": n
//	        // "ranked_choice" | "approval"     (elections: constitution.hold_election only)
//	  "quorum": {"votes": 3},                   // or {"share": "1/2"} of the eligible voters
//	  "deadline": {"after": "48h", "then": "fail", "cool_off": "1h"},
//	        // after: "90m" | "48h" | "2d"; then: "decide" (default) | "pass" | "fail"
//	  "tell": {"open": "Please vote", "private": true, "remind_before": "6h", "remind": "…"},
//	  "on_pass": [{"do": "execute"}, {"do": "post", "text": "Done"},
//	              {"do": "grant_role", "role": "Member", "member": 0}],  // 0: the initiator
//	  "on_fail": [{"do": "post", "text": "Not this time"}],
//	  "stages": [{"deciders": {…}, "how": {…}, "quorum": {…}, "deadline": {…}, "tell": {…}}]
//	}
//
// Without "deciders" and "how" every action passes at once. An absent or empty "on_pass"
// means [{"do": "execute"}]; a list without "execute" passes without carrying the action
// out. Each entry of "stages" is a later stage of a policy bundle: it decides only after the
// previous stage passed; "on_pass" runs after the last stage, "on_fail" after any failed
// stage, and "skip" lets its roles through every stage.
//
// Stage policies: the engine runs a bundle as a policy whose stages list names further
// policies (engine/govern.go nextStage), each with its own proposal, ballot and votes — a
// second vote cannot share the first one's ballot, since a member votes once per proposal.
// So CompilePolicy returns each later stage as its own sources and rule; they are saved as
// inactive policies (nextStage runs a stage whether or not it is active, and an inactive
// policy never governs an action alone) and their ids listed in the first policy's stages.
// One governed action does both: add_policy and change_policy take them as the
// stage_policies parameter (engine/stagepolicies.go).
//
// # Safety
//
// Decode refuses unknown fields, other versions and trailing data; Check validates every
// value and combination with a message per field (JSON paths such as "how.fraction").
// Compile writes form values into code only as strconv.Quote'd string literals (expr reads
// Go escapes back exactly), integers printed by strconv, durations and fractions that match
// fixed patterns, and words chosen by switch statements, so no value can become code.
// Validate adds the checks that need the community (role names and sizes, member count).
package blocks
