// Package infracheck holds the tests that tie infra/app-registration.json to
// the code: every Microsoft Graph permission the web app, its API, the
// daemon and entractl ask for is declared for them, and every redirect URI
// it registers is a path the web app serves. (The manifest's and
// main.bicep's shapes are checked against the Graph Bicep type definitions
// in internal/bicepcheck, and by msgraph-sdk-go's models in graphapi.)
package infracheck
