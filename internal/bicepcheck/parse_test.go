package bicepcheck_test

import (
	"fmt"
	"strings"
	"testing"

	"github.com/entrakit/entrakit/internal/bicepcheck"
)

// describe prints what the parser found: extensions, then each resource
// with its property paths, then the calls with a literal first argument.
func describe(f *bicepcheck.File) string {
	var b strings.Builder
	for _, e := range f.Extensions {
		fmt.Fprintf(&b, "extension %s", e.Name)
		if e.Alias != "" {
			fmt.Fprintf(&b, " as %s", e.Alias)
		}
		b.WriteString("\n")
	}
	for _, r := range f.Resources {
		fmt.Fprintf(&b, "resource %s %s", r.Symbol, r.Type)
		if r.Existing {
			b.WriteString(" existing")
		}
		if r.Parent != "" {
			fmt.Fprintf(&b, " parent=%s", r.Parent)
		}
		b.WriteString(":")
		for _, p := range bicepcheck.PropertyPaths(r.Body) {
			fmt.Fprintf(&b, " %s@%d", strings.Join(p.Path, "."), p.Pos.Line)
		}
		b.WriteString("\n")
	}
	for _, c := range f.Calls {
		if len(c.Args) > 0 {
			if s, ok := c.Args[0].(*bicepcheck.String); ok && !s.Interpolated {
				fmt.Fprintf(&b, "call %s(%q)\n", c.Func, s.Value)
			}
		}
	}
	return b.String()
}

func TestParseBicep(t *testing.T) {
	tests := []struct {
		name, src, want string
	}{
		{"extension forms", "extension microsoftGraphV1\nextension 'br:mcr.microsoft.com/x:1.0.0' as graph\nextension kubernetes with {\n  namespace: 'default'\n} as k8s\nimport 'az@1.0.0'\n",
			"extension microsoftGraphV1\nextension br:mcr.microsoft.com/x:1.0.0 as graph\nextension kubernetes as k8s\nextension az@1.0.0\n"},
		{"comments, decorators, multi-line strings", `// a line comment
/* a block
   comment */
@description('''
A description over
two lines, with a } and a ' inside.
''')
@minLength(3)
param name string = 'it\'s' /* trailing */ // more
resource a 'T/a@v1' = { // comment after the brace
  x: 1 /* inline */
  y: '''
  }
  '''
}
`, "resource a T/a@v1: x@11 y@12\ncall description(\"A description over\\ntwo lines, with a } and a ' inside.\\n\")\n"},
		{"resource body and nesting", `resource app 'Microsoft.Graph/applications@v1.0' = {
  uniqueName: 'a'
  web: {
    redirectUris: [
      'https://x/${name}/cb'
    ]
    implicitGrantSettings: { enableIdTokenIssuance: false, enableAccessTokenIssuance: false }
  }
  appRoles: [
    {
      id: guid('r')
      'value': 'Admin'
    }
  ]
}
`, "resource app Microsoft.Graph/applications@v1.0: uniqueName@2 web@3 web.redirectUris@4 web.implicitGrantSettings@7 web.implicitGrantSettings.enableIdTokenIssuance@7 web.implicitGrantSettings.enableAccessTokenIssuance@7 appRoles@9 appRoles.id@11 appRoles.value@12\ncall guid(\"r\")\n"},
		{"loops, conditions, ternaries, existing, parent", `var manifest = loadJsonContent('app-registration.json')
resource graph 'Microsoft.Graph/servicePrincipals@v1.0' existing = {
  appId: '00000003-0000-0000-c000-000000000000'
}
resource apps 'Microsoft.Graph/applications@v1.0' = [for (app, i) in manifest.applications: if (app.uniqueName != 'x') {
  uniqueName: app.uniqueName
  spa: contains(app, 'spa') ? { redirectUris: app.spa.redirectUris } : null
  tags: [for t in app.?tags ?? []: t]
  requiredResourceAccess: [for r in app.requiredResourceAccess: {
    resourceAppId: r.resourceAppId
  }]
}]
resource fic 'Microsoft.Graph/applications/federatedIdentityCredentials@v1.0' = {
  parent: apps[0]
  name: 'f'
}
resource cond 'Microsoft.Graph/oauth2PermissionGrants@v1.0' = if (deploy) {
  clientId: apps[0].id
}
`, `resource graph Microsoft.Graph/servicePrincipals@v1.0 existing: appId@3
resource apps Microsoft.Graph/applications@v1.0: uniqueName@6 spa@7 spa.redirectUris@7 tags@8 requiredResourceAccess@9 requiredResourceAccess.resourceAppId@10
resource fic Microsoft.Graph/applications/federatedIdentityCredentials@v1.0 parent=apps: parent@14 name@15
resource cond Microsoft.Graph/oauth2PermissionGrants@v1.0: clientId@18
call loadJsonContent("app-registration.json")
`},
		{"lambdas", `resource a 'T/a@v1' = {
  roles: map(xs, role => {
    id: role.id
  })
  scopes: concat(map(ys, (s, i) => { value: s }), [{ extra: true }])
  other: f(x => { hidden: 1 })
}
`, "resource a T/a@v1: roles@2 roles.id@3 scopes@5 scopes.value@5 scopes.extra@5 other@6\n"},
		{"nested resource", `resource app 'Microsoft.Graph/applications@v1.0' existing = {
  uniqueName: 'a'

  resource fic 'federatedIdentityCredentials' = {
    name: 'f'
  }
  resource other 'federatedIdentityCredentials@v2' = {
    name: 'g'
  }
}
`, "resource app Microsoft.Graph/applications@v1.0 existing: uniqueName@2\nresource fic Microsoft.Graph/applications/federatedIdentityCredentials@v1.0 parent=app: name@5\nresource other Microsoft.Graph/applications/federatedIdentityCredentials@v2 parent=app: name@8\n"},
		{"expressions", `targetScope = 'resourceGroup'
var a = sys.loadJsonContent('x.json').applications[?0]!.web
var b = filter(items, x => x.enabled && !empty(x.name))
var c = map(range(0, 3), (i, j) => {
  n: i * 2 % 3
})
var d = {
  ...base
  'k-${a}': 1
  e: x == 1
    ? 'one'
    : 'other'
  f: a
    ?? b
}
var e = [
  ...xs
  -1
  'a'
]
func twice(x int) int => x * 2
type pair = {
  a: string
  b: int?
}
output o string = a
output r resource 'T/a@v1' = x
metadata m = { a: 1 }
module m './m.bicep' = {
  name: 'm'
  params: { p: replace('a', 'b', 'c') }
}
`, "call sys.loadJsonContent(\"x.json\")\ncall replace(\"a\")\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f, err := bicepcheck.ParseBicep([]byte(tt.src))
			if err != nil {
				t.Fatal(err)
			}
			if got := describe(f); got != tt.want {
				t.Errorf("got:\n%s\nwant:\n%s", got, tt.want)
			}
		})
	}
}

func TestParseBicepStrings(t *testing.T) {
	f, err := bicepcheck.ParseBicep([]byte(`resource a 'T/a@v1' = {
  esc: 'a\'b\\c\n\t\$\u{1F600}'
  multi: '''
first
  second'''
  interp: 'x-${f('}', {a: 'b'})}-y'
  key: 'plain'
}
`))
	if err != nil {
		t.Fatal(err)
	}
	props := f.Resources[0].Body.(*bicepcheck.Object).Props
	want := []struct {
		value  string
		interp bool
	}{{"a'b\\c\n\t$😀", false}, {"first\n  second", false}, {"'x-${f('}', {a: 'b'})}-y'", true}, {"plain", false}}
	for i, w := range want {
		s := props[i].Value.(*bicepcheck.String)
		if s.Value != w.value || s.Interpolated != w.interp {
			t.Errorf("%s = %q (interpolated %v), want %q (%v)", props[i].Key, s.Value, s.Interpolated, w.value, w.interp)
		}
	}
}

func TestParseBicepFails(t *testing.T) {
	tests := []struct{ name, src, want string }{
		{"unterminated string", "var a = 'abc\n", "1:9: unterminated string"},
		{"unterminated multi-line string", "var a = '''abc\n", "unterminated ''' string"},
		{"unterminated comment", "/* abc", "unterminated comment"},
		{"bad escape", `var a = '\q'`, `bad escape \q`},
		{"unterminated interpolation", "var a = 'x${a'\n", "unterminated"},
		{"missing value", "var a =\n", "1:8: want an expression (at newline)"},
		{"unclosed object", "resource a 'T@v' = {\n  x: 1\n", "want a property name"},
		{"two properties on a line", "resource a 'T@v' = {\n  x: 1 y: 2\n}\n", "2:8: want a newline, ',' or '}'"},
		{"property without a colon", "resource a 'T@v' = {\n  x 1\n}\n", "2:5: want ':'"},
		{"interpolated resource type", "resource a 'T${x}@v' = {}\n", "plain string"},
		{"unknown declaration", "resources a 'T@v' = {}\n", "unknown declaration"},
		{"two declarations on a line", "var a = 1 var b = 2\n", "want a newline after the declaration"},
		{"stray character", "var a = #\n", "unexpected character"},
		{"nested too deep", "var a = " + strings.Repeat("(", 500) + "1" + strings.Repeat(")", 500), "nested too deep"},
		{"nested resource outside a resource", "var a = {\n  resource b 'x' = {}\n}\n", "nested resource outside a resource"},
		{"unbalanced type", "param p string)\n", "unbalanced ')'"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := bicepcheck.ParseBicep([]byte(tt.src))
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("err = %v, want %q", err, tt.want)
			}
		})
	}
}

// FuzzParseBicep: no input panics the parser, or the check of what it
// parsed.
func FuzzParseBicep(f *testing.F) {
	for _, s := range []string{
		"extension microsoftGraphV1\nvar m = loadJsonContent('app-registration.json')\n",
		"resource a 'T/a@v1' = [for (x, i) in xs: if (x.on) {\n  a: x.a ? { b: [1, 'c${d}'] } : null\n  ...x\n}]\n",
		"resource p 'T/a@v1' existing = {\n  name: 'n'\n  resource c 'kids' = {\n    v: '''\nx'''\n  }\n}\n",
		"var f = map(xs, (a, b) => a[?0]!.c.?d ?? -1)\n/* c */ // d\n",
		"var s = 'a${'b${'c'}'}'\n",
	} {
		f.Add(s)
	}
	ts, err := bicepcheck.Load("testdata/types")
	if err != nil {
		f.Fatal(err)
	}
	f.Add("resource w 'Test.Widgets/widgets@v1' = {\n  name: 'w'\n  child: union({ label: 'l' }, { parts: map(xs, x => { n: 1 }) })\n  kind: c ? 'small' : 'huge'\n}\n")
	f.Fuzz(func(t *testing.T, src string) {
		file, err := bicepcheck.ParseBicep([]byte(src))
		if err != nil {
			return
		}
		for _, r := range file.Resources {
			bicepcheck.PropertyPaths(r.Body)
			r.Type = "Test.Widgets/widgets@v1" // check every body against a real type
			ts.CheckResource(r)
		}
	})
}
