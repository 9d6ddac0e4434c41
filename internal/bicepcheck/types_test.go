package bicepcheck_test

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/entrakit/entrakit/internal/bicepcheck"
)

// widgets loads testdata/types: a made-up extension with the cases Graph's
// types lack (a closed union of literals, an integer range, an array
// length, a required property below the top, a read-only resource type).
func widgets(t *testing.T) *bicepcheck.Types {
	t.Helper()
	ts, err := bicepcheck.Load("testdata/types")
	if err != nil {
		t.Fatal(err)
	}
	return ts
}

func TestLoad(t *testing.T) {
	ts := widgets(t)
	if ts.Name != "Widgets" || ts.Version != "0.1.0" {
		t.Errorf("settings = %q %q", ts.Name, ts.Version)
	}
	if got := strings.Join(ts.ResourceTypes(), " "); got != "Test.Widgets/gadgets@v1 Test.Widgets/widgets@v1" {
		t.Errorf("resource types = %s", got)
	}
	if _, ok := ts.Resource("Test.Widgets/widgets@v2"); ok {
		t.Error("found a resource type the index does not have")
	}
	tests := []struct {
		path  string
		ok    bool
		kind  bicepcheck.Kind
		flags bicepcheck.Flags
		desc  string
	}{
		{"name", true, bicepcheck.StringKind, bicepcheck.Required | bicepcheck.DeployTimeConstant | bicepcheck.Identifier, "string"},
		{"id", true, bicepcheck.StringKind, bicepcheck.ReadOnly, "string"},
		{"type", true, bicepcheck.StringLiteralKind, bicepcheck.ReadOnly | bicepcheck.DeployTimeConstant, "'Test.Widgets/widgets'"},
		{"kind", true, bicepcheck.UnionKind, 0, "'small' | 'large'"},
		{"tags", true, bicepcheck.ArrayKind, 0, "string[]"},
		{"child.parts", true, bicepcheck.ArrayKind, 0, "WidgetPart[]"},
		{"child.parts.n", true, bicepcheck.IntegerKind, 0, "int"}, // through the array to its items
		{"child.parts.secret", true, bicepcheck.StringKind, bicepcheck.ReadOnly, "string"},
		{"extra.anything.below", true, bicepcheck.AnyKind, 0, "any"},
		{"child.nope", false, "", 0, ""},
		{"size.n", false, "", 0, ""},
	}
	for _, tt := range tests {
		t.Run(tt.path, func(t *testing.T) {
			r, flags, ok := ts.Property("Test.Widgets/widgets@v1", strings.Split(tt.path, "."))
			if ok != tt.ok {
				t.Fatalf("ok = %v", ok)
			}
			if !ok {
				return
			}
			if k := ts.Type(r).Kind; k != tt.kind || flags != tt.flags || ts.Describe(r) != tt.desc {
				t.Errorf("got %s %s %s, want %s %s %s", k, flags, ts.Describe(r), tt.kind, tt.flags, tt.desc)
			}
		})
	}
	if got := (bicepcheck.Required | bicepcheck.Identifier | 64).String(); got != "Required|Identifier|64" {
		t.Errorf("Flags.String = %s", got)
	}
}

func TestParseTypesFails(t *testing.T) {
	index := `{"resources": {"A/b@v1": {"$ref": "types.json#/1"}}}`
	tests := []struct {
		name, index, types, want string
	}{
		{"ref out of range", index, `[{"$type": "ObjectType", "properties": {"x": {"type": {"$ref": "#/9"}}}}, {"$type": "ResourceType", "body": {"$ref": "#/0"}}]`, "$ref #/9: types.json has 2 types"},
		{"ref into another file", index, `[{"$type": "ArrayType", "itemType": {"$ref": "other.json#/0"}}]`, "only refs into types.json"},
		{"unsupported type", index, `[{"$type": "DiscriminatedObjectType"}, {"$type": "ResourceType", "body": {"$ref": "#/0"}}]`, `unsupported $type "DiscriminatedObjectType"`},
		{"pattern not RE2", index, `[{"$type": "StringType", "pattern": "(?<=a)b"}, {"$type": "ResourceType", "body": {"$ref": "#/2"}}, {"$type": "ObjectType"}]`, "pattern is not RE2"},
		{"index names a non-resource", index, `[{"$type": "ObjectType"}, {"$type": "ObjectType"}]`, "is a ObjectType, not a ResourceType"},
		{"body not an object", index, `[{"$type": "StringType"}, {"$type": "ResourceType", "body": {"$ref": "#/0"}}]`, "body is a StringType"},
		{"not JSON", index, `[`, "types.json"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := bicepcheck.Parse([]byte(tt.index), []byte(tt.types))
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("err = %v, want %q", err, tt.want)
			}
		})
	}
	if _, err := bicepcheck.Load(t.TempDir()); err == nil {
		t.Error("Load of an empty folder: no error")
	}
}

func TestCheckValue(t *testing.T) {
	ts := widgets(t)
	body, _ := ts.Resource("Test.Widgets/widgets@v1")
	const good = `{"name": "w", "kind": "small", "size": 3, "enabled": true, "tags": ["a"], "mode": "anything",
		"key": "0b1c2d3e-4f5a-4b6c-8d7e-9f0a1b2c3d4e", "child": {"label": "l", "parts": [{"n": 1}]}, "extra": {"x": [1]}}`
	tests := []struct {
		name  string
		value string
		want  []string // one line per problem: path, kind and a piece of the message
	}{
		{"good", good, nil},
		{"null clears an optional property", `{"name": "w", "size": null}`, nil},
		{"unknown property, with a suggestion", `{"name": "w", "sizes": 3}`,
			[]string{`$.sizes: unknown property: Test.Widgets/widgets has no property "sizes" (did you mean "size"?)`}},
		{"unknown property below an array", `{"name": "w", "child": {"label": "l", "parts": [{"n": 1}, {"m": 1}]}}`,
			[]string{`$.child.parts[1].m: unknown property: WidgetPart has no property "m" (did you mean "n"?)`}},
		{"wrong type", `{"name": "w", "enabled": "yes"}`, []string{`$.enabled: wrong type: want bool, got string "yes"`}},
		{"object for a string", `{"name": {"x": 1}}`, []string{"$.name: wrong type: want string, got object"}},
		{"outside a closed union", `{"name": "w", "kind": "medium"}`, []string{`$.kind: value not allowed: "medium" is not one of 'small' | 'large'`}},
		{"number for an open union", `{"name": "w", "mode": 1}`, []string{"$.mode: wrong type: want 'a' | string, got number 1"}},
		{"pattern", `{"name": "w", "key": "0b1c2d3e-4f5a-4b6c-8d7e-9f0a1b2c3dXX"}`, []string{"$.key: constraint: " + `"0b1c2d3e-4f5a-4b6c-8d7e-9f0a1b2c3dXX" does not match`}},
		{"length", `{"name": "w", "key": "short"}`, []string{`$.key: constraint: "short": length 5 outside 36..36`, `$.key: constraint: "short" does not match`}},
		{"integer out of range", `{"name": "w", "size": 11}`, []string{"$.size: constraint: 11 is out of range"}},
		{"fraction for an integer", `{"name": "w", "size": 2.5}`, []string{"$.size: wrong type: want int, got number 2.5"}},
		{"too many items", `{"name": "w", "tags": ["a", "b", "c", "d"]}`, []string{"$.tags: constraint: 4 items"}},
		{"read-only", `{"name": "w", "id": "x", "type": "Test.Widgets/widgets"}`,
			[]string{"$.id: read-only property: id is read-only", "$.type: read-only property"}},
		{"read-only below an array", `{"name": "w", "child": {"label": "l", "parts": [{"secret": "s"}]}}`, []string{"$.child.parts[0].secret: read-only property"}},
		{"missing required", `{"child": {"parts": []}}`,
			[]string{"$.child: missing required: WidgetChild requires label", "$: missing required: Test.Widgets/widgets requires name"}},
		{"null for a required property", `{"name": null}`, []string{"$.name: wrong type: null for a required property"}},
		{"not an object", `[]`, []string{"$: wrong type: want Test.Widgets/widgets, got array"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := json.NewDecoder(strings.NewReader(tt.value))
			d.UseNumber()
			var v any
			if err := d.Decode(&v); err != nil {
				t.Fatal(err)
			}
			matchProblems(t, ts.CheckValue(body, v), tt.want)
		})
	}
}

// matchProblems checks that each want is part of one problem, in order,
// and that there are no others.
func matchProblems(t *testing.T, got []bicepcheck.Problem, want []string) {
	t.Helper()
	var lines []string
	for _, p := range got {
		lines = append(lines, p.String())
	}
	if len(lines) != len(want) {
		t.Fatalf("%d problems, want %d:\n%s", len(lines), len(want), strings.Join(lines, "\n"))
	}
	for i, w := range want {
		if !strings.Contains(lines[i], w) {
			t.Errorf("problem %d = %s\nwant it to contain %s", i, lines[i], w)
		}
	}
}

// TestLoadGraphTypes reads the vendored Microsoft Graph types, to hold the
// flag values the package comment states against the real files.
func TestLoadGraphTypes(t *testing.T) {
	ts, err := bicepcheck.Load(filepath.Join("..", "..", "infra", "testdata", "msgraph-bicep-types", "v1.0-1.0.0"))
	if err != nil {
		t.Fatal(err)
	}
	const app = "Microsoft.Graph/applications@v1.0"
	for _, tt := range []struct {
		res, path string
		flags     bicepcheck.Flags
	}{
		{app, "type", bicepcheck.ReadOnly | bicepcheck.DeployTimeConstant},
		{app, "uniqueName", bicepcheck.Required | bicepcheck.DeployTimeConstant | bicepcheck.Identifier},
		{app, "appId", bicepcheck.ReadOnly},
		{app, "displayName", bicepcheck.Required},
		{app, "passwordCredentials.secretText", bicepcheck.ReadOnly},
		{"Microsoft.Graph/servicePrincipals@v1.0", "appId", bicepcheck.Required | bicepcheck.Identifier},
	} {
		if _, flags, ok := ts.Property(tt.res, strings.Split(tt.path, ".")); !ok || flags != tt.flags {
			t.Errorf("%s %s: flags %s (found %v), want %s", tt.res, tt.path, flags, ok, tt.flags)
		}
	}
	if _, err := os.Stat(filepath.Join("..", "..", "infra", "testdata", "msgraph-bicep-types", "LICENSE")); err != nil {
		t.Errorf("the vendored types lost their licence: %v", err)
	}
}
