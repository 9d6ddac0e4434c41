package devtenant

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
func (s *Server) GenerateDirectory(n int) error {
	if n < 0 || n > 1_000_000 {
		return fmt.Errorf("devtenant: GenerateDirectory: n must be 0..1,000,000, got %d", n)
	}
	now := s.now()
	s.mu.Lock()
	defer s.mu.Unlock()
	groups := map[string]*Group{}
	for _, d := range synthDepts {
		id := deterministicID("synthetic-group:" + d)
		g := s.groups[id]
		if g == nil {
			g = &Group{ID: id, DisplayName: "Synthetic " + d, Description: "Generated " + d + " department"}
			s.groups[id] = g
			s.graph.groupOrder = append(s.graph.groupOrder, id)
			s.graph.created[id] = now
		}
		groups[d] = g
	}
	var manager string
	for i := 0; i < n; i++ {
		alias := fmt.Sprintf("user%06d", i)
		id := deterministicID("synthetic-user:" + alias)
		if s.users[id] != nil {
			continue
		}
		given, surname := synthGiven[i%len(synthGiven)], synthSurname[(i/len(synthGiven))%len(synthSurname)]
		dept := synthDepts[i%len(synthDepts)]
		u := &User{
			ID: id, UserPrincipalName: alias + "@" + s.domain, DisplayName: given + " " + surname + " " + strings.TrimLeft(alias[4:], "0"),
			GivenName: given, Surname: surname, Mail: alias + "@" + s.domain, JobTitle: "Associate", Department: dept,
			OfficeLocation: "Building " + fmt.Sprint(i%7+1), UserType: "Member", AccountEnabled: i%97 != 0,
			Groups: []string{groups[dept].ID},
		}
		if i%10 == 0 {
			manager = id
			u.JobTitle = "Manager"
		} else {
			u.ManagerID = manager
		}
		s.users[id] = u
		s.upn[strings.ToLower(u.UserPrincipalName)] = id
		groups[dept].Members = append(groups[dept].Members, id)
		s.graph.userOrder = append(s.graph.userOrder, id)
		s.graph.created[id] = now
		s.graph.changed('u', id)
	}
	for _, g := range groups {
		s.graph.changed('g', g.ID)
	}
	return nil
}
