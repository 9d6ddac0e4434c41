// Broken: the beta endpoint is not the extension bicepconfig.json names.
extension microsoftGraphV1

var manifest = loadJsonContent('app-registration.json')

resource apps 'Microsoft.Graph/applications@beta' = [for app in manifest.applications: {
  uniqueName: app.uniqueName
  displayName: app.displayName
}]
