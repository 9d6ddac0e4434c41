package directory

import (
	"errors"
	"strings"
)

// AddGroup creates a security group (no members; add them with
// AddGroupMember) and returns it with its new id. Graph's groups list and
// delta see it.
func (d *Directory) AddGroup(displayName, description string) (Group, error) {
	if strings.TrimSpace(displayName) == "" {
		return Group{}, errors.New("devtenant: a group needs a display name")
	}
	tx := d.Lock()
	defer tx.Unlock()
	g := &Group{ID: NewObjectID(), DisplayName: displayName, Description: description}
	d.groups[g.ID] = g
	d.log.groupOrder = append(d.log.groupOrder, g.ID)
	d.log.created[g.ID] = d.now()
	tx.Changed('g', g.ID)
	return *g, nil
}
