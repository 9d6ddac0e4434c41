package directory

import (
	"fmt"
	"strings"
)

var (
	synthGiven   = []string{"Ada", "Ben", "Chloe", "Dmitri", "Elena", "Farid", "Grace", "Hiro", "Ines", "Jonas", "Kemal", "Lena", "Mateo", "Nora", "Omar", "Priya", "Quinn", "Rosa", "Sven", "Tara", "Uma", "Victor", "Wei", "Xenia", "Yusuf", "Zoe"}
	synthSurname = []string{"Abbott", "Baker", "Castro", "Dubois", "Eriksen", "Fischer", "Garcia", "Hansen", "Ito", "Jensen", "Kowalski", "Lopez", "Moreau", "Nakamura", "Okafor", "Petrov", "Quinlan", "Rossi", "Schmidt", "Tanaka", "Ueda", "Varga", "Weber", "Xu", "Yilmaz", "Zhang"}
	synthDepts   = []string{"Engineering", "Sales", "Marketing", "Finance", "HR", "Legal", "Operations", "Support", "Research", "Design"}
)

// GenerateDirectory adds n synthetic users (deterministic: the same n gives
// the same ids, names, departments and managers on every start), one group
// per department and a manager for each (every 10th user manages the next
// nine). It is for scale tests of Graph paging and delta; the users cannot
// sign in (no password).
func (d *Directory) GenerateDirectory(n int) error {
	if n < 0 || n > 1_000_000 {
		return fmt.Errorf("devtenant: GenerateDirectory: n must be 0..1,000,000, got %d", n)
	}
	now := d.now()
	tx := d.Lock()
	defer tx.Unlock()
	groups := map[string]*Group{}
	for _, dept := range synthDepts {
		id := DeterministicID("synthetic-group:" + dept)
		g := d.groups[id]
		if g == nil {
			g = &Group{ID: id, DisplayName: "Synthetic " + dept, Description: "Generated " + dept + " department"}
			d.groups[id] = g
			d.log.groupOrder = append(d.log.groupOrder, id)
			d.log.created[id] = now
		}
		groups[dept] = g
	}
	var manager string
	for i := 0; i < n; i++ {
		alias := fmt.Sprintf("user%06d", i)
		id := DeterministicID("synthetic-user:" + alias)
		if d.users[id] != nil || tx.DeletedUser(id) != nil { // a deleted one stays in the deleted items
			continue
		}
		given, surname := synthGiven[i%len(synthGiven)], synthSurname[(i/len(synthGiven))%len(synthSurname)]
		dept := synthDepts[i%len(synthDepts)]
		u := &User{
			ID: id, UserPrincipalName: alias + "@" + d.domain, DisplayName: given + " " + surname + " " + strings.TrimLeft(alias[4:], "0"),
			GivenName: given, Surname: surname, Mail: alias + "@" + d.domain, JobTitle: "Associate", Department: dept,
			OfficeLocation: "Building " + fmt.Sprint(i%7+1), UserType: "Member", AccountEnabled: i%97 != 0,
			Groups: []string{groups[dept].ID},
		}
		if i%10 == 0 {
			manager = id
			u.JobTitle = "Manager"
		} else {
			u.ManagerID = manager
		}
		d.users[id] = u
		d.upn[strings.ToLower(u.UserPrincipalName)] = id
		addMember(tx.d, groups[dept], id) // logged for members@delta
		d.log.userOrder = append(d.log.userOrder, id)
		d.log.created[id] = now
		tx.Changed('u', id)
	}
	for _, g := range groups {
		tx.Changed('g', g.ID)
	}
	return nil
}
