package blocks

import (
	"policykit/engine"
	"policykit/models"
)

// KitPolicy is one policy of the starter kits (engine/kits.go), as a block program.
type KitPolicy struct {
	Name     string
	Priority int
	Program  *Program
}

// Messages the kits send.
const (
	decisionNeeded = "A proposed change needs your decision."
	juryDrawn      = "You were drawn for a jury of three. Please deliberate, then vote on this channel rename."
	docJuryDrawn   = "You were drawn for a jury of three. Please read the proposed change to a document, then vote."
)

// DocumentTypes are the actions the jury kit's document jury decides.
var DocumentTypes = []string{engine.TypeAddDocument, engine.TypeChangeDocument, engine.TypeRemoveDocument}

// Kits returns the block programs of every starter kit policy, by policy name. The engine's
// kits use their compiled code and rules (engine/kits_blocks.go, written by
// `go generate ./engine`). The channel rename jury's action types are filled in by the
// engine with the rename types of the platforms it runs with.
func Kits() []KitPolicy {
	approvedBy := func(role string) KitPolicy {
		return KitPolicy{Name: role + " approves changes", Priority: 1000, Program: &Program{
			Version: Version, Kind: models.KindConstitution,
			Skip: &Skip{Roles: []string{role}},
			Decision: Decision{
				Deciders: &Deciders{Who: ByRole, Role: role},
				How:      &How{Method: Threshold, Yes: 1, FailAtNo: 1},
				Tell:     &Tell{Open: decisionNeeded},
			},
		}}
	}
	return []KitPolicy{
		{Name: "Platform actions pass", Priority: 1000, Program: &Program{Version: Version, Kind: models.KindPlatform}},
		{Name: "Constitution changes pass", Priority: 1000, Program: &Program{Version: Version, Kind: models.KindConstitution}},
		approvedBy("Dictator"),
		approvedBy("Moderator"),
		{Name: "Majority of members", Priority: 1000, Program: &Program{
			Version: Version, Kind: models.KindConstitution,
			Decision: Decision{
				Deciders: &Deciders{Who: Everyone},
				How:      &How{Method: Majority, Of: OfEligible},
				Deadline: &Deadline{After: "7d"},
			},
		}},
		{Name: "Jury for documents", Priority: 100, Program: &Program{
			Version: Version, Kind: models.KindConstitution,
			When: &When{ActionTypes: DocumentTypes},
			Decision: Decision{
				Deciders: &Deciders{Who: ByJury, Size: 3},
				How:      &How{Method: Threshold, Yes: 2},
				Deadline: &Deadline{After: "48h"},
				Tell:     &Tell{Open: docJuryDrawn},
			},
		}},
		{Name: "Jury for channel renames", Priority: 100, Program: &Program{
			Version: Version, Kind: models.KindPlatform,
			Decision: Decision{
				Deciders: &Deciders{Who: ByJury, Size: 3},
				How:      &How{Method: Threshold, Yes: 2},
				Deadline: &Deadline{After: "48h"},
				Tell:     &Tell{Open: juryDrawn, Private: true},
			},
		}},
	}
}
