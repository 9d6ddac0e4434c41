// Package bicepcheck checks Bicep without the Bicep CLI: it reads an
// extension's type definitions (index.json and types.json, the format of
// Azure/bicep-types that the compiler loads for an extension such as
// Microsoft Graph's) and checks values against them, and it reads enough of
// a .bicep file to find each resource's body.
//
// The flow a test follows:
//
//   - Load reads a folder holding index.json and types.json.
//   - CheckValue checks a JSON value (a manifest entry) against a type:
//     unknown properties, wrong value types, values outside a closed union
//     of literals, string patterns and lengths, missing required and set
//     read-only properties, each reported with its JSON path.
//   - ParseBicep reads a .bicep file into its extensions, resources and
//     function calls; CheckResource checks each property a resource body
//     sets, at any depth where the value is an object or array literal.
//
// It is test tooling, and imports nothing of entrakit.
package bicepcheck
