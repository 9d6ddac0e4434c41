package daemon

// GraphPermissions are the Microsoft Graph application permissions (app
// roles) each built-in job needs (api-usage needs none of Graph's: it
// calls the web API with its Reports.Read.All role), the least that Graph's documentation
// names for the calls it makes. infra/app-registration.json must declare
// them for the daemon, and an administrator grant them; a test
// (internal/infracheck) checks the declaration.
func GraphPermissions() map[string][]string {
	return map[string][]string{
		// GET /users/delta and /groups/delta with members.
		"directory-sync": {"User.Read.All", "GroupMember.Read.All"},
		// GET /applications with their password and key credentials.
		"expiring-credentials": {"Application.Read.All"},
		// GET /groups/{id}/transitiveMembers.
		"group-snapshot": {"GroupMember.Read.All"},
	}
}
