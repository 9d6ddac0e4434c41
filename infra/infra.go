// Package infra holds entrakit's infrastructure as code: the
// app-registration manifest (app-registration.json: Graph application
// bodies and each app's Graph permissions by name), which the dev tenant
// reads, and main.bicep, which provisions the same registrations — and what
// the apps run on — in a real tenant and subscription (docs/deploy.md). One
// source of truth: what is tested offline is what gets deployed. `make
// infra` checks both against the Graph Bicep extension's type definitions
// (and runs bicep build/lint where the CLI is installed).
//
// The Go package only embeds the manifest, so binaries carry it.
package infra

import _ "embed"

//go:embed app-registration.json
var appRegistration string

// AppRegistration returns the app-registration manifest (JSON).
func AppRegistration() []byte { return []byte(appRegistration) }
