package graphapi

import "github.com/microsoftgraph/msgraph-sdk-go/models"

// Profile is a user's directory profile as plain Go values, what Me and
// UsersPage return: the apps never see the SDK's models. Properties that
// were not selected, or that Graph left out, are "".
type Profile struct {
	ID                string
	DisplayName       string
	GivenName         string
	Surname           string
	UserPrincipalName string
	Mail              string
	JobTitle          string
	Department        string
	OfficeLocation    string
	MobilePhone       string
	PreferredLanguage string
	BusinessPhones    []string
}

// UserPage is one page of users (UsersPage).
type UserPage struct {
	Users []Profile
	// Next is Graph's opaque $skiptoken of the next page, "" on the last.
	Next string
}

// Member is one member of a group (GroupMembers).
type Member struct {
	ID string
	// Type is the member's @odata.type: "#microsoft.graph.user",
	// "#microsoft.graph.group", "#microsoft.graph.servicePrincipal", ...
	Type string
}

// profileOf copies the SDK's user into a Profile; nil gives the zero Profile.
func profileOf(u models.Userable) Profile {
	if u == nil {
		return Profile{}
	}
	return Profile{
		ID: deref(u.GetId()), DisplayName: deref(u.GetDisplayName()), GivenName: deref(u.GetGivenName()),
		Surname: deref(u.GetSurname()), UserPrincipalName: deref(u.GetUserPrincipalName()), Mail: deref(u.GetMail()),
		JobTitle: deref(u.GetJobTitle()), Department: deref(u.GetDepartment()), OfficeLocation: deref(u.GetOfficeLocation()),
		MobilePhone: deref(u.GetMobilePhone()), PreferredLanguage: deref(u.GetPreferredLanguage()),
		BusinessPhones: u.GetBusinessPhones(),
	}
}
