package bicepcheck_test

import (
	"testing"

	"github.com/entrakit/entrakit/internal/bicepcheck"
)

func TestCheckResource(t *testing.T) {
	ts := widgets(t)
	tests := []struct {
		name string
		src  string
		want []string
	}{
		{"good", `resource w 'Test.Widgets/widgets@v1' = [for x in xs: if (x.on) {
  name: x.name
  dependsOn: [other]
  kind: 'large'
  size: 10
  enabled: x.size > 3
  tags: [
    'a'
    '${x.name}-b'
    ...x.tags
  ]
  child: {
    label: x.label
    parts: [for p in x.parts: {
      n: p.n
    }]
  }
  extra: { anything: { goes: [1] } }
  mode: x.mode
}]
resource g 'Test.Widgets/gadgets@v1' existing = {
  name: 'g'
}
`, nil},
		{"unknown property in a nested object", "resource w 'Test.Widgets/widgets@v1' = {\n  name: 'w'\n  child: {\n    label: 'l'\n    lable: 'l'\n  }\n}\n",
			[]string{`line 5: w.child.lable: unknown property: WidgetChild has no property "lable" (did you mean "label"?)`}},
		{"unknown property in a loop body", "resource w 'Test.Widgets/widgets@v1' = {\n  name: 'w'\n  child: {\n    label: 'l'\n    parts: [for p in ps: {\n      m: p\n    }]\n  }\n}\n",
			[]string{`line 6: w.child.parts.m: unknown property`}},
		{"unknown property in a ternary arm", "resource w 'Test.Widgets/widgets@v1' = {\n  name: 'w'\n  child: c ? { label: 'l' } : { label: 'l', colour: 'red' }\n}\n",
			[]string{`line 3: w.child.colour: unknown property`}},
		{"read-only property", "resource w 'Test.Widgets/widgets@v1' = {\n  name: 'w'\n  id: 'x'\n  child: {\n    label: 'l'\n    parts: [\n      { secret: s }\n    ]\n  }\n}\n",
			[]string{"line 3: w.id: read-only property", "line 7: w.child.parts.secret: read-only property"}},
		{"literal of the wrong type", "resource w 'Test.Widgets/widgets@v1' = {\n  name: 'w'\n  enabled: 'yes'\n  size: 'big'\n}\n",
			[]string{`line 3: w.enabled: wrong type: want bool, got string "yes"`, `line 4: w.size: wrong type: want int`}},
		{"literal outside the union", "resource w 'Test.Widgets/widgets@v1' = {\n  name: 'w'\n  kind: 'medium'\n}\n",
			[]string{`line 3: w.kind: value not allowed: "medium" is not one of 'small' | 'large'`}},
		{"interpolated string for a bool", "resource w 'Test.Widgets/widgets@v1' = {\n  name: 'w'\n  enabled: '${x}'\n}\n",
			[]string{"line 3: w.enabled: wrong type: a string where bool is expected"}},
		{"object for a string, array for an object", "resource w 'Test.Widgets/widgets@v1' = {\n  name: { a: 1 }\n  child: [ 1 ]\n}\n",
			[]string{"line 2: w.name: wrong type: an object literal where string is expected", "line 3: w.child: wrong type: an array literal where WidgetChild is expected"}},
		{"missing required", "resource w 'Test.Widgets/widgets@v1' = {\n  child: {\n    parts: []\n  }\n}\n",
			[]string{"line 2: w.child: missing required: WidgetChild requires label", "line 1: w: missing required: Test.Widgets/widgets requires name"}},
		{"through map, concat and union", "resource w 'Test.Widgets/widgets@v1' = {\n  name: 'w'\n  child: union({ label: 'l' }, { lable: 'x' })\n  tags: concat(['a'], map(xs, x => { n: 1 }))\n  extra: filter(map(xs, (x, i) => { any: x }), y => true)\n}\n",
			[]string{`line 3: w.child.lable: unknown property`, "line 4: w.tags: wrong type: an object literal where string is expected"}},
		{"map where an object is expected", "resource w 'Test.Widgets/widgets@v1' = {\n  name: 'w'\n  child: map(xs, x => { label: x })\n}\n",
			[]string{"line 3: w.child: wrong type: a loop (an array) where WidgetChild is expected"}},
		{"spread", "resource w 'Test.Widgets/widgets@v1' = {\n  ...x\n}\n", []string{"line 2: w: unchecked: a spread"}},
		{"computed name", "resource w 'Test.Widgets/widgets@v1' = {\n  name: 'w'\n  '${k}': 1\n}\n", []string{"line 3: w: unchecked: a computed property name"}},
		{"body from an expression", "resource w 'Test.Widgets/widgets@v1' = union(a, b)\n", []string{"line 1: w: unchecked: the body is an expression"}},
		{"existing sets more than identifiers", "resource g 'Test.Widgets/gadgets@v1' existing = {\n  name: 'g'\n  color: 'red'\n}\n",
			[]string{"line 3: g.color: not an identifier"}},
		{"existing without its identifier", "resource g 'Test.Widgets/gadgets@v1' existing = {\n}\n", []string{"line 1: g: missing required: Test.Widgets/gadgets requires name"}},
		{"read-only resource type declared", "resource g 'Test.Widgets/gadgets@v1' = {\n  name: 'g'\n}\n", []string{"line 1: g: read-only property: Test.Widgets/gadgets@v1 can only be declared existing"}},
		{"unknown resource type", "resource w 'Test.Widgets/widgets@v2' = {}\n", []string{"line 1: w: unknown resource type: Test.Widgets/widgets@v2 is not one of Test.Widgets/gadgets@v1, Test.Widgets/widgets@v1"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f, err := bicepcheck.ParseBicep([]byte(tt.src))
			if err != nil {
				t.Fatal(err)
			}
			var got []bicepcheck.Problem
			for _, r := range f.Resources {
				got = append(got, ts.CheckResource(r)...)
			}
			matchProblems(t, got, tt.want)
		})
	}
}
