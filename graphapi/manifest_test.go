package graphapi_test

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"testing"

	absser "github.com/microsoft/kiota-abstractions-go/serialization"
	jsonser "github.com/microsoft/kiota-serialization-json-go"
	"github.com/microsoftgraph/msgraph-sdk-go/models"

	"github.com/entrakit/entrakit/infra"
)

// applicationProblems parses each application of an app-registration
// manifest as msgraph-sdk-go's models.Application, the way kiota reads a
// Graph response, and reports what the SDK does not take: a parse error (a
// value of the wrong type) or a property kiota leaves in additional data,
// on the application or on any object inside it.
//
// The objects inside are reached without reflection: serializing the
// application calls the writer's OnBeforeSerialization hook for every
// Parsable in it, collection items included (the parse node's hooks skip
// those).
func applicationProblems(manifest []byte) []string {
	var m struct {
		Applications []json.RawMessage `json:"applications"`
	}
	if err := json.Unmarshal(manifest, &m); err != nil {
		return []string{"manifest: " + err.Error()}
	}
	if len(m.Applications) == 0 {
		return []string{"manifest: no applications"}
	}
	var out []string
	for i, raw := range m.Applications {
		at := fmt.Sprintf("applications[%d]", i)
		node, err := jsonser.NewJsonParseNode(raw)
		if err != nil {
			out = append(out, at+": "+err.Error())
			continue
		}
		v, err := node.GetObjectValue(models.CreateApplicationFromDiscriminatorValue)
		if err != nil {
			out = append(out, at+": models.Application: "+err.Error())
			continue
		}
		app, ok := v.(models.Applicationable)
		if !ok {
			out = append(out, fmt.Sprintf("%s: parsed as %T", at, v))
			continue
		}
		if name := app.GetUniqueName(); name != nil {
			at += " (" + *name + ")"
		}
		w := jsonser.NewJsonSerializationWriter()
		w.SetOnBeforeSerialization(func(p absser.Parsable) error {
			holder, ok := p.(absser.AdditionalDataHolder)
			if !ok {
				return nil
			}
			var keys []string
			for k := range holder.GetAdditionalData() {
				keys = append(keys, k)
			}
			slices.Sort(keys)
			for _, k := range keys {
				out = append(out, fmt.Sprintf("%s: %s has no property %q", at, strings.TrimPrefix(fmt.Sprintf("%T", p), "*"), k))
			}
			return nil
		})
		if err := w.WriteObjectValue("", app); err != nil {
			out = append(out, at+": serializing: "+err.Error())
		}
	}
	return out
}

// TestManifestIsApplication: every application of infra's manifest is a
// models.Application with nothing left over, so what the dev tenant and
// main.bicep read is what Graph's SDK (and Graph) know.
func TestManifestIsApplication(t *testing.T) {
	for _, p := range applicationProblems(infra.AppRegistration()) {
		t.Errorf("infra/app-registration.json: %s", p)
	}
}

func TestManifestIsApplicationFails(t *testing.T) {
	const good = `{"uniqueName": "a", "displayName": "A", "isFallbackPublicClient": false,
		"web": {"redirectUris": ["https://localhost/cb"], "implicitGrantSettings": {"enableIdTokenIssuance": false}},
		"api": {"requestedAccessTokenVersion": 2, "oauth2PermissionScopes": [{"id": "7b9e2c4d-1f3a-4b5c-8d6e-9f0a1b2c3d4e", "value": "x", "type": "User"}]},
		"appRoles": [{"id": "a1b2c3d4-e5f6-4a7b-8c9d-0e1f2a3b4c5d", "value": "Admin", "allowedMemberTypes": ["User"]}],
		"requiredResourceAccess": [{"resourceAppId": "00000003-0000-0000-c000-000000000000", "resourceAccess": [{"id": "e1fe6dd8-ba31-4d61-89e7-88639da4683d", "type": "Scope"}]}],
		"passwordCredentials": [{"displayName": "s", "endDateTime": "2027-11-25T00:00:00Z"}]}`
	tests := []struct {
		name string
		app  string // replaces old in good
		old  string
		want []string
	}{
		{"valid", "", "", nil},
		{"misspelled property in web", `"redirectUri"`, `"redirectUris"`,
			[]string{`applications[0] (a): models.WebApplication has no property "redirectUri"`}},
		{"$comment in the application", `"$comment": "x", "uniqueName"`, `"uniqueName"`,
			[]string{`applications[0] (a): models.Application has no property "$comment"`}},
		{"unknown property in a collection item", `"resourceAccess": [{"$comment": "User.Read", "id"`, `"resourceAccess": [{"id"`,
			[]string{`applications[0] (a): models.ResourceAccess has no property "$comment"`}},
		{"unknown property two collections down", `"oauth2PermissionScopes": [{"name": "x", "id"`, `"oauth2PermissionScopes": [{"id"`,
			[]string{`applications[0] (a): models.PermissionScope has no property "name"`}},
		{"wrong value type", `"isFallbackPublicClient": "yes"`, `"isFallbackPublicClient": false`,
			[]string{"applications[0]: models.Application: type '*string' is not compatible with type bool"}},
		{"not a GUID", `"id": "admin"`, `"id": "a1b2c3d4-e5f6-4a7b-8c9d-0e1f2a3b4c5d"`,
			[]string{"applications[0]: models.Application: "}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			app := good
			if tt.old != "" {
				if !strings.Contains(good, tt.old) {
					t.Fatalf("the good application has no %s", tt.old)
				}
				app = strings.Replace(good, tt.old, tt.app, 1)
			}
			got := applicationProblems([]byte(`{"applications": [` + app + `]}`))
			if len(got) != len(tt.want) {
				t.Fatalf("%d problems, want %d:\n%s", len(got), len(tt.want), strings.Join(got, "\n"))
			}
			for i, w := range tt.want {
				if !strings.Contains(got[i], w) {
					t.Errorf("problem %d = %s\nwant it to contain %s", i, got[i], w)
				}
			}
		})
	}
}
