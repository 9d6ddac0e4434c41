package directory

import (
	"strings"
	"testing"
)

// TestManifestGraphPermissions: Graph permissions are named, checked
// against the permissions the emulator knows, and become the app's
// RequiredResourceAccess with Graph's ids.
func TestManifestGraphPermissions(t *testing.T) {
	app := `{"uniqueName":"a","appId":"11111111-1111-4111-8111-111111111111"%s}`
	for _, tc := range []struct {
		name, extra, perms, wantErr string
	}{
		{"ok", "", `"a":{"delegated":["User.Read","openid"],"application":["User.Read.All"],"adminConsent":["openid"]}`, ""},
		{"a comment key is skipped", "", `"$comment":"x","a":{"delegated":["User.Read"]}`, ""},
		{"unknown permission", "", `"a":{"delegated":["User.Raed"]}`, `"User.Raed" is not a delegated permission`},
		{"application permission as delegated", "", `"a":{"delegated":["Application.Read.All"],"application":["Mail.Read"]}`, `"Mail.Read" is not a application permission`},
		{"admin consent of an undeclared permission", "", `"a":{"delegated":["User.Read"],"adminConsent":["User.Read.All"]}`, `adminConsent names "User.Read.All"`},
		{"an unknown app", "", `"b":{"delegated":["User.Read"]}`, `names no application "b"`},
		{"Graph by id in requiredResourceAccess", `,"requiredResourceAccess":[{"resourceAppId":"00000003-0000-0000-c000-000000000000","resourceAccess":[]}]`, `"a":{"delegated":["User.Read"]}`, "go in graphPermissions"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			doc := `{"applications":[` + strings.Replace(app, "%s", tc.extra, 1) + `],"graphPermissions":{` + tc.perms + `}}`
			m, err := ParseManifest([]byte(doc))
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err = %v, want %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			rra := m.Applications[0].RequiredResourceAccess
			if len(rra) != 1 || rra[0].ResourceAppID != GraphAppID || len(rra[0].ResourceAccess) == 0 {
				t.Fatalf("requiredResourceAccess = %+v", rra)
			}
			if tc.name == "ok" && (rra[0].ResourceAccess[0] != ResourceAccess{ID: "e1fe6dd8-ba31-4d61-89e7-88639da4683d", Type: "Scope"} ||
				rra[0].ResourceAccess[2] != ResourceAccess{ID: "df021288-bdef-4463-88db-98f22de89214", Type: "Role"}) {
				t.Errorf("ids: %+v", rra[0].ResourceAccess)
			}
		})
	}
}
