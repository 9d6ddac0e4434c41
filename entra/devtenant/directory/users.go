package directory

import (
	"bytes"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"fmt"
	"image"
	"image/color"
	"image/png"
	"strings"
)

// User is a directory user. Persona users have a password; their ids are
// derived from their alias, so they are the same on every start.
type User struct {
	ID                string
	UserPrincipalName string
	DisplayName       string
	GivenName         string
	Surname           string
	Mail              string
	JobTitle          string
	Department        string
	OfficeLocation    string
	UserType          string // "Member" or "Guest"
	AccountEnabled    bool
	// Admin users are Global Administrators: they may consent for the whole
	// organization.
	Admin bool
	// AppRoles are role values assigned to the user on the web app.
	AppRoles []string
	// Groups are ids of the security groups the user is a direct member of.
	Groups    []string
	ManagerID string
	// HomeTenantID is set for guests: the tenant they come from.
	HomeTenantID string
	// Photo is a PNG, or nil when the user has none.
	Photo []byte

	password string
}

// Group is a security group.
type Group struct {
	ID          string
	DisplayName string
	Description string
	Members     []string
}

// Persona is a user a person or a test signs in as; it is what the personas
// file holds.
type Persona struct {
	Username    string   `json:"username"`
	Password    string   `json:"password"`
	OID         string   `json:"oid"`
	DisplayName string   `json:"displayName"`
	Department  string   `json:"department,omitempty"`
	Roles       []string `json:"roles"`
	Enabled     bool     `json:"enabled"`
	Admin       bool     `json:"admin,omitempty"`
	Guest       bool     `json:"guest,omitempty"`
}

// DeterministicID derives a GUID (version 4 and variant bits set, so it looks
// like any other object id) from name.
func DeterministicID(name string) string {
	h := sha256.Sum256([]byte("entrakit-devtenant:" + name))
	return formatGUID(h[:])
}

type personaSpec struct {
	name, alias, title, department, city string
	roles                                []string
	groups                               []string
	photo                                bool
	disabled, admin, guest               bool
	manager                              string
}

// The cast: Microsoft 365's sample-data people (see
// shared/reference/entra-protocol-facts.md §6), plus an administrator, a
// disabled account and a guest.
var personaSpecs = []personaSpec{
	{name: "Adele Vance", alias: "AdeleV", title: "Retail Manager", department: "Retail", city: "Bellevue", roles: []string{"Reader"}, groups: []string{"Retail", "All Company"}, photo: true, manager: "MiriamG"},
	{name: "Alex Wilber", alias: "AlexW", title: "Marketing Assistant", department: "Marketing", city: "San Diego", groups: []string{"Sales and Marketing", "All Company"}, photo: true, manager: "MeganB"},
	{name: "Diego Siciliani", alias: "DiegoS", title: "HR Manager", department: "HR", city: "Birmingham", groups: []string{"All Company"}, photo: true, manager: "PattiF"},
	{name: "Grady Archie", alias: "GradyA", title: "Designer", department: "R&D", city: "Bloomington", groups: []string{"Engineering", "All Company"}, manager: "LidiaH"},
	{name: "Henrietta Mueller", alias: "HenriettaM", title: "Developer", department: "R&D", city: "Fort Lauderdale", groups: []string{"Engineering", "All Company"}, photo: true, manager: "LidiaH"},
	{name: "Isaiah Langer", alias: "IsaiahL", title: "Sales Rep", department: "Sales", city: "Tulsa", groups: []string{"Sales and Marketing", "All Company"}, manager: "MiriamG"},
	{name: "Johanna Lorenz", alias: "JohannaL", title: "Senior Engineer", department: "Engineering", city: "Louisville", groups: []string{"Engineering", "All Company"}, photo: true, manager: "LidiaH"},
	{name: "Joni Sherman", alias: "JoniS", title: "Paralegal", department: "Legal", city: "Charlotte", groups: []string{"All Company"}, manager: "PattiF"},
	{name: "Lee Gu", alias: "LeeG", title: "Director", department: "Manufacturing", city: "Overland Park", groups: []string{"All Company"}, photo: true, manager: "PattiF"},
	{name: "Lidia Holloway", alias: "LidiaH", title: "Product Manager", department: "Engineering", city: "Tulsa", roles: []string{"Reader"}, groups: []string{"Engineering", "All Company"}, photo: true, manager: "PattiF"},
	{name: "Lynne Robbins", alias: "LynneR", title: "Planner", department: "Retail", city: "Tulsa", groups: []string{"Retail", "All Company"}, disabled: true, manager: "AdeleV"},
	{name: "Megan Bowen", alias: "MeganB", title: "Marketing Manager", department: "Marketing", city: "Pittsburgh", roles: []string{"Admin"}, groups: []string{"Sales and Marketing", "All Company"}, photo: true, manager: "MiriamG"},
	{name: "Miriam Graham", alias: "MiriamG", title: "Director", department: "Sales & Marketing", city: "San Diego", groups: []string{"Sales and Marketing", "All Company"}, photo: true, manager: "PattiF"},
	{name: "Nestor Wilke", alias: "NestorW", title: "Director", department: "Operations", city: "Seattle", groups: []string{"All Company"}, manager: "PattiF"},
	{name: "Patti Fernandez", alias: "PattiF", title: "President", department: "Executive Management", city: "Louisville", roles: []string{"Admin"}, groups: []string{"All Company"}, photo: true},
	{name: "Pradeep Gupta", alias: "PradeepG", title: "Accountant", department: "Finance", city: "Cairo", groups: []string{"All Company"}, manager: "PattiF"},
	{name: "MOD Administrator", alias: "admin", admin: true, roles: []string{"Admin"}, groups: []string{"All Company"}},
	{name: "Pat Guest", alias: "pat_fabrikam.com#EXT#", title: "Consultant", department: "External", guest: true, groups: []string{"Sales and Marketing"}},
}

// GuestHomeDomain is the verified domain of the guest's home tenant: its
// people sign in as alias@fabrikam.com.
const GuestHomeDomain = "fabrikam.com"

// fabrikamSpecs are the people of the guest's home tenant: Pat, who is a
// guest in Contoso, an administrator who can consent for Fabrikam, and a
// member who is nobody's guest.
var fabrikamSpecs = []personaSpec{
	{name: "Pat Guest", alias: "pat", title: "Consultant", department: "Consulting", city: "Redmond", groups: []string{"All Fabrikam"}},
	{name: "Kai Carter", alias: "kai", title: "Engineer", department: "Engineering", city: "Redmond", groups: []string{"All Fabrikam"}, manager: "admin"},
	{name: "Fabrikam Administrator", alias: "admin", admin: true, groups: []string{"All Fabrikam"}},
}

// newCast builds Contoso's personas, or Fabrikam's (guestHome).
func newCast(guestHome bool, domain string, password func() string) (map[string]*User, map[string]*Group) {
	if !guestHome {
		return newPersonas(domain, password)
	}
	return buildCast(fabrikamSpecs, []groupSpec{{"All Fabrikam", "Everyone in Fabrikam"}}, "fabrikam:", GuestHomeDomain, password)
}

type groupSpec struct{ name, description string }

var groupSpecs = []groupSpec{
	{"All Company", "Everyone in Contoso"},
	{"Engineering", "Engineering and R&D"},
	{"Sales and Marketing", "Sales and marketing teams"},
	{"Retail", "Retail stores"},
}

// newPersonas builds the persona users and their groups. Passwords come from
// password (random per start).
func newPersonas(domain string, password func() string) (map[string]*User, map[string]*Group) {
	return buildCast(personaSpecs, groupSpecs, "", domain, password)
}

// buildCast makes users and groups from specs; ids derive from idPrefix and
// the alias or group name, so they are the same on every start.
func buildCast(people []personaSpec, groupList []groupSpec, idPrefix, domain string, password func() string) (map[string]*User, map[string]*Group) {
	users := map[string]*User{}
	groups := map[string]*Group{}
	byName := map[string]*Group{}
	for _, g := range groupList {
		grp := &Group{ID: DeterministicID(idPrefix + "group:" + g.name), DisplayName: g.name, Description: g.description}
		groups[grp.ID] = grp
		byName[g.name] = grp
	}
	for _, p := range people {
		given, surname, _ := strings.Cut(p.name, " ")
		u := &User{
			ID:                DeterministicID(idPrefix + "user:" + p.alias),
			UserPrincipalName: p.alias + "@" + domain,
			DisplayName:       p.name,
			GivenName:         given,
			Surname:           surname,
			Mail:              p.alias + "@" + domain,
			JobTitle:          p.title,
			Department:        p.department,
			OfficeLocation:    p.city,
			UserType:          "Member",
			AccountEnabled:    !p.disabled,
			Admin:             p.admin,
			AppRoles:          p.roles,
			password:          password(),
		}
		if p.guest {
			// A B2B guest signs in at home (Fabrikam), with that password;
			// mail is the address they were invited with.
			u.UserType = "Guest"
			u.HomeTenantID = GuestHomeTenantID
			u.Mail = "pat@" + GuestHomeDomain
			u.password = ""
		}
		if p.manager != "" {
			u.ManagerID = DeterministicID(idPrefix + "user:" + p.manager)
		}
		if p.photo {
			u.Photo = avatar(u.ID)
		}
		for _, g := range p.groups {
			grp := byName[g]
			grp.Members = append(grp.Members, u.ID)
			u.Groups = append(u.Groups, grp.ID)
		}
		users[u.ID] = u
	}
	return users, groups
}

// avatar draws a deterministic 96x96 PNG: a colour and a pattern from the id.
func avatar(id string) []byte {
	h := sha256.Sum256([]byte(id))
	bg := color.RGBA{h[0]/2 + 64, h[1]/2 + 64, h[2]/2 + 64, 255}
	fg := color.RGBA{255 - bg.R/2, 255 - bg.G/2, 255 - bg.B/2, 255}
	img := image.NewRGBA(image.Rect(0, 0, 96, 96))
	for y := 0; y < 96; y++ {
		for x := 0; x < 96; x++ {
			// A 6x6 symmetric identicon, like GitHub's.
			cx, cy := x/16, y/16
			if cx > 2 {
				cx = 5 - cx
			}
			if h[3+cy*3+cx]&1 == 1 {
				img.Set(x, y, fg)
			} else {
				img.Set(x, y, bg)
			}
		}
	}
	var buf bytes.Buffer
	_ = png.Encode(&buf, img) // encoding to memory cannot fail
	return buf.Bytes()
}

// CheckPassword reports, in constant time, whether password is the user's.
// A user without a password (synthetic users) never signs in.
func (u *User) CheckPassword(password string) bool {
	return u.password != "" && subtle.ConstantTimeCompare([]byte(password), []byte(u.password)) == 1
}

// HasPassword reports whether the user signs in with a password of their
// own: the personas and users added with one; not synthetic users, nor
// guests (they sign in at home).
func (u *User) HasPassword() bool { return u.password != "" }

// randomPassword is easy to type: "Dev-" and 16 letters and digits.
func randomPassword() string {
	return "Dev-" + rand.Text()[:16]
}

// NewObjectID is a random GUID, as Entra gives objects, requests and sessions.
func NewObjectID() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b) // crypto/rand never fails (Go 1.24+)
	return formatGUID(b)
}

// formatGUID sets the version 4 and variant bits of b (16 bytes or more) and
// formats its first 16 bytes as a GUID.
func formatGUID(b []byte) string {
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
}
