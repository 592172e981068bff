package handlers

import (
	"net/http"

	"github.com/gin-gonic/gin"

	"policykit/engine"
	"policykit/models"
)

// roleColumn is one role of the permissions matrix, with its members' names.
type roleColumn struct {
	models.RoleWithDetail
	Members []models.MemberWithRoles
}

// matrixRow is one action type: what each role may do with it (propose, execute), in the
// order of the columns.
type matrixRow struct {
	Type  engine.ActionType
	Cells []matrixCell
}

type matrixCell struct {
	Propose, Execute bool
}

// roles shows the roles × action types matrix and the members of each role. Changing a
// role, its permissions or its members is a proposal (links lead to prefilled forms).
func (h *Handler) roles(c *gin.Context) {
	ctx := c.Request.Context()
	comm := currentCommunity(c)
	rs, err := h.store.Roles(ctx, comm.ID)
	if err != nil {
		h.pageFail(c, err)
		return
	}
	ms, err := h.store.Members(ctx, comm.ID)
	if err != nil {
		h.pageFail(c, err)
		return
	}
	byID := make(map[int64]models.MemberWithRoles, len(ms))
	for _, m := range ms {
		byID[m.ID] = m
	}
	cols := make([]roleColumn, len(rs))
	for i, r := range rs {
		cols[i] = roleColumn{RoleWithDetail: r}
		for _, id := range r.MemberIDs {
			if m, ok := byID[id]; ok {
				cols[i].Members = append(cols[i].Members, m)
			}
		}
	}
	types := h.engine.ActionTypes()
	rows := make([]matrixRow, len(types))
	for i, t := range types {
		rows[i] = matrixRow{Type: t, Cells: make([]matrixCell, len(rs))}
		for j, r := range rs {
			p, x := models.Allowed(r.Permissions, t.Name)
			rows[i].Cells[j] = matrixCell{Propose: p, Execute: x}
		}
	}
	h.render(c, http.StatusOK, "roles", gin.H{"Roles": cols, "Matrix": rows, "Members": ms})
}
