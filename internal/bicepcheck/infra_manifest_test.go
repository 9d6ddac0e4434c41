package bicepcheck_test

// The checks of infra/app-registration.json against the vendored Microsoft
// Graph Bicep types: each application is a valid body of
// Microsoft.Graph/applications@v1.0, as main.bicep hands its fields over.

import (
	"bytes"
	"encoding/json"
	"fmt"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/entrakit/entrakit/internal/bicepcheck"
)

// readOnlyInManifest are the read-only properties of an application the
// manifest may carry, each with the reason. Any other read-only property
// fails the check.
var readOnlyInManifest = map[string]string{
	"$.appId": "the dev tenant registers each app under this client id, and the " +
		"clients name the web API by it; a real tenant assigns its own, so main.bicep " +
		"must never send it (TestMainBicep fails on a read-only property in Bicep)",
}

// manifestKeys are the manifest's top-level keys.
var manifestKeys = []string{"$comment", "applications", "graphPermissions"}

// graphPermissionLists are the lists of a graphPermissions entry.
var graphPermissionLists = []string{"delegated", "application", "adminConsent"}

// checkManifest checks an app-registration manifest: only known top-level
// keys; each application a valid Microsoft.Graph/applications@v1.0 value
// (bicepcheck.CheckValue: property names, value types, patterns, required
// properties, read-only ones only from readOnlyInManifest) with a unique
// uniqueName; graphPermissions keyed by those uniqueNames, each entry lists
// of permission names, adminConsent only among the requested ones.
func checkManifest(ts *bicepcheck.Types, data []byte) []string {
	var top map[string]json.RawMessage
	if err := json.Unmarshal(data, &top); err != nil {
		return []string{"not a JSON object: " + err.Error()}
	}
	var out []string
	for _, k := range sortedKeys(top) {
		if !slices.Contains(manifestKeys, k) {
			out = append(out, fmt.Sprintf("%q: unknown top-level key (want %s)", k, strings.Join(manifestKeys, ", ")))
		}
	}
	var apps []any
	if err := decode(top["applications"], &apps); err != nil || len(apps) == 0 {
		return append(out, fmt.Sprintf("applications: want a non-empty array (%v)", err))
	}
	body, ok := ts.Resource(applicationsType)
	if !ok {
		return append(out, "the types have no "+applicationsType)
	}
	names := map[string]int{}
	for i, app := range apps {
		obj, _ := app.(map[string]any)
		name, _ := obj["uniqueName"].(string)
		at := fmt.Sprintf("applications[%d] (%s)", i, name)
		if j, dup := names[name]; dup && name != "" {
			out = append(out, fmt.Sprintf("%s: uniqueName also at applications[%d]", at, j))
		}
		names[name] = i
		for _, p := range ts.CheckValue(body, app) {
			if p.Kind == bicepcheck.ReadOnlyProperty && readOnlyInManifest[p.Path] != "" {
				continue
			}
			out = append(out, at+" "+p.String())
		}
	}
	return append(out, checkGraphPermissions(top["graphPermissions"], names)...)
}

func checkGraphPermissions(raw json.RawMessage, apps map[string]int) []string {
	if raw == nil {
		return nil
	}
	var perms map[string]json.RawMessage
	if err := json.Unmarshal(raw, &perms); err != nil {
		return []string{"graphPermissions: want an object: " + err.Error()}
	}
	var out []string
	for _, name := range sortedKeys(perms) {
		if strings.HasPrefix(name, "$") {
			continue
		}
		at := "graphPermissions." + name
		if _, ok := apps[name]; !ok {
			out = append(out, at+": no application has this uniqueName")
		}
		var entry map[string]json.RawMessage
		if err := json.Unmarshal(perms[name], &entry); err != nil {
			out = append(out, at+": want an object: "+err.Error())
			continue
		}
		lists := map[string][]string{}
		broken := false
		for _, k := range sortedKeys(entry) {
			if !slices.Contains(graphPermissionLists, k) {
				out = append(out, fmt.Sprintf("%s.%s: unknown list (want %s)", at, k, strings.Join(graphPermissionLists, ", ")))
				continue
			}
			var l []string
			if err := json.Unmarshal(entry[k], &l); err != nil {
				out = append(out, fmt.Sprintf("%s.%s: want an array of permission names: %v", at, k, err))
				broken = true
				continue
			}
			for _, p := range l {
				if strings.TrimSpace(p) == "" || strings.ContainsAny(p, " ,") {
					out = append(out, fmt.Sprintf("%s.%s: %q is not a permission name", at, k, p))
				}
			}
			lists[k] = l
		}
		for _, p := range lists["adminConsent"] {
			if !broken && !slices.Contains(lists["delegated"], p) && !slices.Contains(lists["application"], p) {
				out = append(out, fmt.Sprintf("%s.adminConsent: %s is neither delegated nor application: consent to what is not asked for is dropped", at, p))
			}
		}
	}
	return out
}

// decode reads JSON keeping numbers as written (1 and 1.5 stay apart).
func decode(b []byte, v any) error {
	d := json.NewDecoder(bytes.NewReader(b))
	d.UseNumber()
	return d.Decode(v)
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

func TestManifest(t *testing.T) {
	for _, p := range checkManifest(graphTypes(t), readInfra(t, manifestFile)) {
		t.Errorf("infra/%s: %s", manifestFile, p)
	}
}

// testManifest is a small valid manifest; TestManifestCheckFails breaks it
// one way per case.
const testManifest = `{
  "$comment": "test",
  "applications": [
    {
      "uniqueName": "app-a",
      "appId": "3f6c7b1a-9e2d-4c8f-a5b3-7d1e0f2c4a6b",
      "displayName": "A",
      "signInAudience": "AzureADMyOrg",
      "isFallbackPublicClient": false,
      "web": {"redirectUris": ["https://localhost/cb"], "implicitGrantSettings": {"enableIdTokenIssuance": false}},
      "api": {"requestedAccessTokenVersion": 2},
      "appRoles": [{"id": "a1b2c3d4-e5f6-4a7b-8c9d-0e1f2a3b4c5d", "value": "Admin", "allowedMemberTypes": ["User"], "isEnabled": true}],
      "passwordCredentials": [{"displayName": "secret", "endDateTime": "2027-11-25T00:00:00Z"}]
    },
    {"uniqueName": "app-b", "appId": "b8d2e4f6-1a3c-4e5f-8a9b-0c1d2e3f4a5b", "displayName": "B"}
  ],
  "graphPermissions": {
    "$comment": "test",
    "app-a": {"delegated": ["User.Read", "openid"], "adminConsent": ["openid"]},
    "app-b": {"application": ["User.Read.All"], "adminConsent": ["User.Read.All"]}
  }
}`

func TestManifestCheckFails(t *testing.T) {
	ts := graphTypes(t)
	app := func(m map[string]any, i int) map[string]any { return m["applications"].([]any)[i].(map[string]any) }
	tests := []struct {
		name   string
		mutate func(m map[string]any)
		want   []string
	}{
		{"valid", func(m map[string]any) {}, nil},
		{"misspelled property in web", func(m map[string]any) {
			web := app(m, 0)["web"].(map[string]any)
			web["redirectUri"] = web["redirectUris"]
			delete(web, "redirectUris")
		}, []string{`applications[0] (app-a) $.web.redirectUri: unknown property: MicrosoftGraphWebApplication has no property "redirectUri" (did you mean "redirectUris"?)`}},
		{"wrong value type", func(m map[string]any) { app(m, 0)["isFallbackPublicClient"] = "yes" },
			[]string{`applications[0] (app-a) $.isFallbackPublicClient: wrong type: want bool, got string "yes"`}},
		{"fraction for an integer", func(m map[string]any) { app(m, 0)["api"].(map[string]any)["requestedAccessTokenVersion"] = 2.5 },
			[]string{"$.api.requestedAccessTokenVersion: wrong type: want int, got number 2.5"}},
		{"outside the union's members", func(m map[string]any) { app(m, 1)["nativeAuthenticationApisEnabled"] = true },
			[]string{"applications[1] (app-b) $.nativeAuthenticationApisEnabled: wrong type: want 'none' | 'all' | string, got bool true"}},
		{"app role id not a GUID", func(m map[string]any) { app(m, 0)["appRoles"].([]any)[0].(map[string]any)["id"] = "admin" },
			[]string{`$.appRoles[0].id: constraint: "admin": length 5 outside 36..36`, `$.appRoles[0].id: constraint: "admin" does not match`}},
		{"read-only property not allowed", func(m map[string]any) { app(m, 1)["publisherDomain"] = "contoso.com" },
			[]string{"applications[1] (app-b) $.publisherDomain: read-only property"}},
		{"a secret in the manifest", func(m map[string]any) {
			app(m, 0)["passwordCredentials"].([]any)[0].(map[string]any)["secretText"] = "s3cret"
		}, []string{"$.passwordCredentials[0].secretText: read-only property"}},
		{"$comment inside an application", func(m map[string]any) { app(m, 1)["$comment"] = "no" },
			[]string{`applications[1] (app-b) $.$comment: unknown property`}},
		{"missing required", func(m map[string]any) { delete(app(m, 1), "displayName") },
			[]string{"applications[1] (app-b) $: missing required: Microsoft.Graph/applications requires displayName"}},
		{"duplicate uniqueName", func(m map[string]any) { app(m, 1)["uniqueName"] = "app-a" },
			[]string{"applications[1] (app-a): uniqueName also at applications[0]", "graphPermissions.app-b: no application has this uniqueName"}},
		{"unknown top-level key", func(m map[string]any) { m["aplications"] = m["applications"]; delete(m, "applications") },
			[]string{`"aplications": unknown top-level key`, "applications: want a non-empty array"}},
		{"graphPermissions: unknown list", func(m map[string]any) {
			m["graphPermissions"].(map[string]any)["app-a"].(map[string]any)["delegate"] = []any{"x"}
		}, []string{"graphPermissions.app-a.delegate: unknown list"}},
		{"graphPermissions: consent to what is not asked for", func(m map[string]any) {
			m["graphPermissions"].(map[string]any)["app-b"].(map[string]any)["adminConsent"] = []any{"User.Read.All", "Group.Read.All"}
		}, []string{"graphPermissions.app-b.adminConsent: Group.Read.All is neither delegated nor application"}},
		{"graphPermissions: two names in one", func(m map[string]any) {
			m["graphPermissions"].(map[string]any)["app-a"].(map[string]any)["delegated"] = []any{"User.Read openid", "openid"}
		}, []string{`graphPermissions.app-a.delegated: "User.Read openid" is not a permission name`}},
		{"graphPermissions: not strings", func(m map[string]any) {
			m["graphPermissions"].(map[string]any)["app-a"].(map[string]any)["delegated"] = []any{"openid", 1}
		}, []string{"graphPermissions.app-a.delegated: want an array of permission names"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var m map[string]any
			if err := json.Unmarshal([]byte(testManifest), &m); err != nil {
				t.Fatal(err)
			}
			tt.mutate(m)
			data, err := json.Marshal(m)
			if err != nil {
				t.Fatal(err)
			}
			got := checkManifest(ts, data)
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
