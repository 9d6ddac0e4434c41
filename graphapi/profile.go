package graphapi

import "github.com/microsoftgraph/msgraph-sdk-go/models"

// Profile is a user's directory profile as plain Go values, for callers that
// should not depend on the SDK's models (absent properties are "").
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

// ProfileOf copies the SDK's user into a Profile; nil gives the zero Profile.
func ProfileOf(u models.Userable) Profile {
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
