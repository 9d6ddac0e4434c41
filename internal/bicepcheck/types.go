package bicepcheck

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
)

// Flags are an ObjectType property's flags, a bit set. The values are
// Azure/bicep-types' ObjectTypePropertyFlags (src/bicep-types/src/types.ts):
// Required = 1<<0, ReadOnly = 1<<1, WriteOnly = 1<<2,
// DeployTimeConstant = 1<<3, Identifier = 1<<4. In Microsoft Graph's
// types, `type` and `apiVersion` are 10 (ReadOnly|DeployTimeConstant) and an
// application's uniqueName is 25 (Required|DeployTimeConstant|Identifier).
type Flags int

const (
	Required           Flags = 1 << 0 // must be set
	ReadOnly           Flags = 1 << 1 // returned by the service, never sent
	WriteOnly          Flags = 1 << 2 // sent, never returned
	DeployTimeConstant Flags = 1 << 3 // known when the deployment starts
	Identifier         Flags = 1 << 4 // selects the object (an `existing` body sets only these)
)

func (f Flags) String() string {
	var s []string
	for _, b := range []struct {
		f    Flags
		name string
	}{{Required, "Required"}, {ReadOnly, "ReadOnly"}, {WriteOnly, "WriteOnly"}, {DeployTimeConstant, "DeployTimeConstant"}, {Identifier, "Identifier"}} {
		if f&b.f != 0 {
			s = append(s, b.name)
		}
	}
	if rest := f &^ (Required | ReadOnly | WriteOnly | DeployTimeConstant | Identifier); rest != 0 {
		s = append(s, strconv.Itoa(int(rest)))
	}
	if len(s) == 0 {
		return "None"
	}
	return strings.Join(s, "|")
}

// resourceReadOnly is bicep-types' ResourceFlags.ReadOnly: a type that can
// only be declared `existing` (Graph's users@v1.0).
const resourceReadOnly = 1 << 0

// Kind is a type's "$type".
type Kind string

const (
	ObjectKind        Kind = "ObjectType"
	ArrayKind         Kind = "ArrayType"
	StringKind        Kind = "StringType"
	StringLiteralKind Kind = "StringLiteralType"
	UnionKind         Kind = "UnionType"
	BooleanKind       Kind = "BooleanType"
	IntegerKind       Kind = "IntegerType"
	AnyKind           Kind = "AnyType"
	NullKind          Kind = "NullType"
	ResourceKind      Kind = "ResourceType"
)

// TypeRef is an index into types.json: "$ref": "#/N" there, and
// "types.json#/N" in index.json.
type TypeRef int

func (r *TypeRef) UnmarshalJSON(b []byte) error {
	var v struct {
		Ref string `json:"$ref"`
	}
	if err := json.Unmarshal(b, &v); err != nil {
		return err
	}
	file, frag, ok := strings.Cut(v.Ref, "#/")
	if !ok || (file != "" && file != "types.json") {
		return fmt.Errorf("bicepcheck: $ref %q: only refs into types.json are supported", v.Ref)
	}
	n, err := strconv.Atoi(frag)
	if err != nil || n < 0 {
		return fmt.Errorf("bicepcheck: $ref %q: not an index", v.Ref)
	}
	*r = TypeRef(n)
	return nil
}

// Property is one property of an ObjectType.
type Property struct {
	Type        TypeRef `json:"type"`
	Flags       Flags   `json:"flags"`
	Description string  `json:"description"`
}

// Type is one entry of types.json. Which fields mean something depends on
// Kind.
type Type struct {
	Kind Kind   `json:"$type"`
	Name string `json:"name"` // ObjectType, ResourceType

	Properties           map[string]Property `json:"properties"`           // ObjectType
	AdditionalProperties *TypeRef            `json:"additionalProperties"` // ObjectType
	ItemType             TypeRef             `json:"itemType"`             // ArrayType
	Elements             []TypeRef           `json:"elements"`             // UnionType
	Value                string              `json:"value"`                // StringLiteralType
	Pattern              string              `json:"pattern"`              // StringType
	MinLength            *int                `json:"minLength"`            // StringType, ArrayType
	MaxLength            *int                `json:"maxLength"`            // StringType, ArrayType
	MinValue             *int64              `json:"minValue"`             // IntegerType
	MaxValue             *int64              `json:"maxValue"`             // IntegerType
	Body                 TypeRef             `json:"body"`                 // ResourceType
	Flags                int                 `json:"flags"`                // ResourceType: 1 = read-only resource

	pattern *regexp.Regexp
}

// Types is a loaded extension: its types and the resource types of its
// index.
type Types struct {
	types     []Type
	resources map[string]TypeRef // "Microsoft.Graph/applications@v1.0" -> its ResourceType
	// Version is the extension's version from index.json's settings
	// ("1.0.0"), to compare with the registry tag a bicepconfig.json names.
	Version string
	// Name is the extension's name from index.json's settings.
	Name string
}

// Load reads dir/index.json and dir/types.json. Every reference is checked,
// so that no later call can index out of range.
func Load(dir string) (*Types, error) {
	typesJSON, err := os.ReadFile(filepath.Join(dir, "types.json"))
	if err != nil {
		return nil, fmt.Errorf("bicepcheck: %w", err)
	}
	indexJSON, err := os.ReadFile(filepath.Join(dir, "index.json"))
	if err != nil {
		return nil, fmt.Errorf("bicepcheck: %w", err)
	}
	return Parse(indexJSON, typesJSON)
}

// Parse is Load over the two files' contents.
func Parse(indexJSON, typesJSON []byte) (*Types, error) {
	ts := &Types{resources: map[string]TypeRef{}}
	if err := json.Unmarshal(typesJSON, &ts.types); err != nil {
		return nil, fmt.Errorf("bicepcheck: types.json: %w", err)
	}
	var index struct {
		Resources map[string]TypeRef `json:"resources"`
		Settings  struct {
			Name    string `json:"name"`
			Version string `json:"version"`
		} `json:"settings"`
	}
	if err := json.Unmarshal(indexJSON, &index); err != nil {
		return nil, fmt.Errorf("bicepcheck: index.json: %w", err)
	}
	ts.Name, ts.Version = index.Settings.Name, index.Settings.Version
	var errs []error
	ref := func(at string, r TypeRef) {
		if int(r) >= len(ts.types) {
			errs = append(errs, fmt.Errorf("bicepcheck: %s: $ref #/%d: types.json has %d types", at, r, len(ts.types)))
		}
	}
	for i := range ts.types {
		t := &ts.types[i]
		at := fmt.Sprintf("types.json#/%d", i)
		switch t.Kind {
		case ObjectKind:
			for name, p := range t.Properties {
				ref(at+" property "+name, p.Type)
			}
			if t.AdditionalProperties != nil {
				ref(at+" additionalProperties", *t.AdditionalProperties)
			}
		case ArrayKind:
			ref(at+" itemType", t.ItemType)
		case UnionKind:
			for _, e := range t.Elements {
				ref(at+" elements", e)
			}
		case ResourceKind:
			ref(at+" body", t.Body)
		case StringKind:
			if t.Pattern != "" {
				re, err := regexp.Compile(t.Pattern)
				if err != nil {
					errs = append(errs, fmt.Errorf("bicepcheck: %s: pattern is not RE2: %w", at, err))
				}
				t.pattern = re
			}
		case StringLiteralKind, BooleanKind, IntegerKind, AnyKind, NullKind:
		default:
			// DiscriminatedObjectType, FunctionType, ...: not used by the
			// types this package was written for; fail rather than guess.
			errs = append(errs, fmt.Errorf("bicepcheck: %s: unsupported $type %q", at, t.Kind))
		}
	}
	for name, r := range index.Resources {
		ref("index.json resource "+name, r)
		if int(r) < len(ts.types) && ts.types[r].Kind != ResourceKind {
			errs = append(errs, fmt.Errorf("bicepcheck: index.json resource %s: #/%d is a %s, not a ResourceType", name, r, ts.types[r].Kind))
		}
		ts.resources[name] = r
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	// A body must be an object: CheckResource and Property rely on it.
	for name, r := range ts.resources {
		if b := ts.types[ts.types[r].Body]; b.Kind != ObjectKind {
			errs = append(errs, fmt.Errorf("bicepcheck: index.json resource %s: body is a %s", name, b.Kind))
		}
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return ts, nil
}

// Type returns the type r refers to. Refs come from this Types, so r is in
// range; an out-of-range r (a caller's own number) gets an AnyType.
func (ts *Types) Type(r TypeRef) *Type {
	if r < 0 || int(r) >= len(ts.types) {
		return &Type{Kind: AnyKind}
	}
	return &ts.types[r]
}

// ResourceTypes returns the index's resource type names, sorted.
func (ts *Types) ResourceTypes() []string {
	var names []string
	for n := range ts.resources {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// Resource returns the body (an ObjectType) of a resource type such as
// "Microsoft.Graph/applications@v1.0", and whether the index has it.
func (ts *Types) Resource(name string) (TypeRef, bool) {
	r, ok := ts.resources[name]
	if !ok {
		return 0, false
	}
	return ts.types[r].Body, true
}

// resourceIsReadOnly reports a type that can only be declared `existing`.
func (ts *Types) resourceIsReadOnly(name string) bool {
	r, ok := ts.resources[name]
	return ok && ts.types[r].Flags&resourceReadOnly != 0
}

// Property follows path from a resource type's body, one property name per
// element; arrays are crossed to their items (["appRoles", "id"] is the id
// of each app role). It returns the last property's type and flags. Under
// an AnyType every path exists.
func (ts *Types) Property(resourceType string, path []string) (TypeRef, Flags, bool) {
	r, ok := ts.Resource(resourceType)
	if !ok {
		return 0, 0, false
	}
	var flags Flags
	for _, name := range path {
		var p Property
		if p, ok = ts.lookup(r, name); !ok {
			return 0, 0, false
		}
		r, flags = p.Type, p.Flags
	}
	return r, flags, true
}

// lookup finds property name on the object r stands for, seen through
// arrays (to their items) and unions (the first member that has it).
func (ts *Types) lookup(r TypeRef, name string) (Property, bool) {
	return ts.lookupDepth(r, name, 0)
}

func (ts *Types) lookupDepth(r TypeRef, name string, depth int) (Property, bool) {
	if depth > 32 { // a cycle of arrays or unions: no property
		return Property{}, false
	}
	t := ts.Type(r)
	switch t.Kind {
	case ObjectKind:
		if p, ok := t.Properties[name]; ok {
			return p, true
		}
		if t.AdditionalProperties != nil {
			return Property{Type: *t.AdditionalProperties}, true
		}
	case ArrayKind:
		return ts.lookupDepth(t.ItemType, name, depth+1)
	case UnionKind:
		for _, e := range t.Elements {
			if p, ok := ts.lookupDepth(e, name, depth+1); ok {
				return p, true
			}
		}
	case ResourceKind:
		return ts.lookupDepth(t.Body, name, depth+1)
	case AnyKind:
		return Property{Type: r}, true
	}
	return Property{}, false
}

// propertyNames lists the properties of the object r stands for (seen as
// lookup sees it), for suggestions.
func (ts *Types) propertyNames(r TypeRef, depth int) []string {
	if depth > 32 {
		return nil
	}
	t := ts.Type(r)
	switch t.Kind {
	case ObjectKind:
		var names []string
		for n := range t.Properties {
			names = append(names, n)
		}
		return names
	case ArrayKind:
		return ts.propertyNames(t.ItemType, depth+1)
	case ResourceKind:
		return ts.propertyNames(t.Body, depth+1)
	case UnionKind:
		var names []string
		for _, e := range t.Elements {
			names = append(names, ts.propertyNames(e, depth+1)...)
		}
		return names
	}
	return nil
}

// Describe names a type as Bicep would print it: string, bool, int, any,
// 'literal', string[], an object's name, or a union of those.
func (ts *Types) Describe(r TypeRef) string { return ts.describe(r, 0) }

func (ts *Types) describe(r TypeRef, depth int) string {
	if depth > 8 {
		return "..."
	}
	t := ts.Type(r)
	switch t.Kind {
	case StringKind:
		return "string"
	case StringLiteralKind:
		return "'" + t.Value + "'"
	case BooleanKind:
		return "bool"
	case IntegerKind:
		return "int"
	case AnyKind:
		return "any"
	case NullKind:
		return "null"
	case ArrayKind:
		item := ts.describe(t.ItemType, depth+1)
		if ts.Type(t.ItemType).Kind == UnionKind {
			item = "(" + item + ")"
		}
		return item + "[]"
	case UnionKind:
		var parts []string
		for _, e := range t.Elements {
			parts = append(parts, ts.describe(e, depth+1))
		}
		return strings.Join(parts, " | ")
	case ObjectKind, ResourceKind:
		if t.Name != "" {
			return t.Name
		}
		return "object"
	}
	return string(t.Kind)
}

// suggest returns the property of names closest to name (a different case,
// or at most two edits away), or "".
func suggest(name string, names []string) string {
	best, bestD := "", 3
	for _, n := range names {
		d := editDistance(strings.ToLower(name), strings.ToLower(n))
		if d < bestD || (d == bestD && n < best) {
			best, bestD = n, d
		}
	}
	return best
}

// editDistance is Levenshtein's distance over bytes; property names are
// ASCII.
func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}
